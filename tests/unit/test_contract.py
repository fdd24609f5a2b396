"""The job contract: every action's kwargs validate as documented, and errors never echo values."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.contract import (
    ACTIONS,
    CreateEventKwargs,
    FetchFreeBusyKwargs,
    JobKwargs,
    JobMessage,
    JobOutcome,
    JobStatus,
    SendInviteKwargs,
    UpdateEventKwargs,
    parse_kwargs,
)
from pipeline.errors import ErrorCode, PermanentError

START = "2026-11-03T14:00:00+00:00"
END = "2026-11-03T15:00:00+00:00"
BASE = {"integration_id": "acme-onprem"}
ON_MAILBOX = {**BASE, "mailbox": "alice@example.com"}

VALID_KWARGS: dict[str, dict[str, Any]] = {
    "fetch_free_busy": {**BASE, "mailboxes": ["alice@example.com"], "start": START, "end": END},
    "create_event": {**ON_MAILBOX, "booking_key": "b-1", "subject": "Interview", "start": START, "end": END},
    "send_invite": {**ON_MAILBOX, "booking_key": "b-1"},
    "update_event": {**ON_MAILBOX, "booking_key": "b-1", "subject": "Moved"},
    "cancel_event": {**ON_MAILBOX, "booking_key": "b-1"},
    "list_rooms": {**BASE},
    "subscribe_mailbox": {**ON_MAILBOX},
    "renew_subscription": {**BASE, "subscription_id": "0f9f5c1e5d0b"},
    "process_change": {**BASE, "subscription_id": "0f9f5c1e5d0b",
                       "events": [{"event_type": "modified", "item_id": "AAMk1", "watermark": "W1",
                                   "timestamp": START}]},
    "check_connection": {**ON_MAILBOX},
    "sync_calendar": {**ON_MAILBOX, "page_size": 50},
}


def rejection(actor: str, **changes: Any) -> PermanentError:
    """The error parse_kwargs raises for the valid kwargs of `actor` with `changes` applied."""
    kwargs = {**VALID_KWARGS[actor], **changes}
    with pytest.raises(PermanentError) as caught:
        parse_kwargs(actor, kwargs)
    assert caught.value.code is ErrorCode.INVALID_KWARGS
    return caught.value


def test_every_action_is_registered_with_valid_sample_kwargs() -> None:
    assert set(ACTIONS) == set(VALID_KWARGS)


@pytest.mark.parametrize("actor", sorted(VALID_KWARGS))
def test_valid_kwargs_parse_into_the_actions_model(actor: str) -> None:
    parsed = parse_kwargs(actor, VALID_KWARGS[actor])

    assert type(parsed) is ACTIONS[actor].kwargs_model
    assert isinstance(parsed, JobKwargs)


@pytest.mark.parametrize("actor", sorted(VALID_KWARGS))
def test_every_action_rejects_unknown_fields_and_a_bad_integration_id(actor: str) -> None:
    error = rejection(actor, integration_id="acme/../../etc", colour="blue")

    assert "integration_id (string_pattern_mismatch)" in error.message
    assert "colour (extra_forbidden)" in error.message


def test_an_unknown_actor_is_a_permanent_error() -> None:
    with pytest.raises(PermanentError) as caught:
        parse_kwargs("delete_everything", {})
    assert caught.value.code is ErrorCode.UNKNOWN_ACTOR
    assert "create_event" in caught.value.message  # lists the known actions


def test_kwargs_that_are_not_an_object_are_invalid() -> None:
    with pytest.raises(PermanentError) as caught:
        parse_kwargs("send_invite", ["alice@example.com"])  # type: ignore[arg-type]
    assert caught.value.code is ErrorCode.INVALID_KWARGS


def test_rejected_values_never_appear_in_the_error() -> None:
    secret = "hunter2-Sup3rSecret-Token"
    error = rejection(
        "create_event",
        mailbox=secret,
        subject=secret * 20,  # too long
        password=secret,  # unknown field
        reminder_minutes=secret,
        required_attendees=[{"email": secret}],
        start=secret,
    )

    for text in (str(error), error.message, repr(error), repr(error.args)):
        assert secret not in text and "hunter2" not in text
    # Nothing chained either: a logged traceback must not show the validation error's inputs.
    assert error.__cause__ is None and error.__context__ is None
    fields = ("mailbox", "subject", "password", "reminder_minutes", "required_attendees.0.email", "start")
    for field in fields:
        assert field in error.message


def test_addresses_are_trimmed_lower_cased_and_deduplicated() -> None:
    parsed = parse_kwargs("fetch_free_busy", {
        **VALID_KWARGS["fetch_free_busy"],
        "mailboxes": [" Alice@Example.com", "bob@example.com", "ALICE@example.com"],
    })

    assert isinstance(parsed, FetchFreeBusyKwargs)
    assert parsed.mailboxes == ["alice@example.com", "bob@example.com"]
    invite = parse_kwargs("send_invite", {**VALID_KWARGS["send_invite"], "mailbox": "Bob@Example.COM"})
    assert isinstance(invite, SendInviteKwargs) and invite.mailbox == "bob@example.com"


@pytest.mark.parametrize(("changes", "expected"), [
    ({"start": "2026-11-03T14:00:00"}, "start (timezone_aware)"),
    ({"end": START}, "(kwargs) (end_not_after_start)"),
    ({"end": "2027-11-05T00:00:00+00:00"}, "(kwargs) (window_too_long: max_days=366)"),
    ({"mailboxes": []}, "mailboxes (too_short: min_length=1"),
    ({"mailboxes": [f"u{i}@example.com" for i in range(1001)]}, "mailboxes (too_long: max_length=1000"),
    ({"mailboxes": ["not-an-address"]}, "mailboxes.0 (string_pattern_mismatch)"),
    ({"view": "everything"}, "view (literal_error"),
    ({"merged_interval_minutes": 4}, "merged_interval_minutes (greater_than_equal: ge=5)"),
])
def test_free_busy_windows_and_mailbox_lists_are_bounded(changes: dict[str, Any], expected: str) -> None:
    assert expected in rejection("fetch_free_busy", **changes).message


def test_a_year_of_free_busy_for_a_thousand_people_is_one_valid_job() -> None:
    parsed = parse_kwargs("fetch_free_busy", {
        **BASE, "mailboxes": [f"u{i}@example.com" for i in range(1000)],
        "start": "2026-01-01T00:00:00+00:00", "end": "2027-01-01T00:00:00+00:00", "view": "detailed",
        "merged_interval_minutes": 30,
    })
    assert len(parsed.mailboxes) == 1000  # type: ignore[attr-defined]


@pytest.mark.parametrize(("changes", "expected"), [
    ({"time_zone": "Mars/Olympus_Mons"}, "time_zone (unknown_time_zone)"),
    ({"booking_key": "has space"}, "booking_key (string_pattern_mismatch)"),
    ({"booking_key": "k" * 129}, "booking_key (string_pattern_mismatch)"),
    ({"body_type": "markdown"}, "body_type (literal_error"),
    ({"subject": ""}, "subject (string_too_short: min_length=1)"),
    ({"reminder_minutes": -1}, "reminder_minutes (greater_than_equal: ge=0)"),
    ({"rooms": ["room-a"]}, "rooms.0 (string_pattern_mismatch)"),
    ({"required_attendees": [{"name": "Bob"}]}, "required_attendees.0.email (missing)"),
])
def test_create_event_rejects_bad_fields_by_name(changes: dict[str, Any], expected: str) -> None:
    assert expected in rejection("create_event", **changes).message


def test_create_event_accepts_a_full_booking() -> None:
    parsed = parse_kwargs("create_event", {
        **VALID_KWARGS["create_event"], "time_zone": "America/New_York", "body": "<p>Hi</p>",
        "body_type": "html", "location": "Room A", "required_attendees": [{"email": "Bob@example.com"}],
        "optional_attendees": [{"email": "carol@example.com", "name": "Carol Cook"}],
        "rooms": ["room-a@example.com"], "categories": ["Interview"], "reminder_minutes": 15,
        "is_private": True, "template_vars": {"candidate": "Dana", "round": 2, "panel": ["x", "y"]},
    })

    assert isinstance(parsed, CreateEventKwargs)
    assert parsed.required_attendees[0].email == "bob@example.com"
    assert parsed.template_vars["panel"] == ["x", "y"]


def test_update_event_needs_something_to_change() -> None:
    error = rejection("update_event", subject=None)
    assert "(kwargs) (nothing_to_update)" in error.message

    parsed = parse_kwargs("update_event", {**VALID_KWARGS["update_event"], "start": START, "end": END})
    assert isinstance(parsed, UpdateEventKwargs)
    assert parsed.changed_fields() == ("subject", "start", "end")


@pytest.mark.parametrize(("actor", "changes", "expected"), [
    ("subscribe_mailbox", {"status_frequency_minutes": 1441}, "status_frequency_minutes (less_than_equal"),
    ("subscribe_mailbox", {"status_frequency_minutes": 0}, "status_frequency_minutes (greater_than_equal"),
    ("process_change", {"events": []}, "events (too_short"),
    ("process_change", {"events": [{"event_type": "exploded"}]}, "events.0.event_type (literal_error"),
    ("renew_subscription", {"subscription_id": ""}, "subscription_id (string_pattern_mismatch)"),
    ("list_rooms", {"room_list": "building one"}, "room_list (string_pattern_mismatch)"),
    ("check_connection", {"mailbox": None}, "mailbox (string_type)"),
])
def test_other_actions_bound_their_fields(actor: str, changes: dict[str, Any], expected: str) -> None:
    assert expected in rejection(actor, **changes).message


def test_kwargs_models_are_frozen() -> None:
    parsed = parse_kwargs("send_invite", VALID_KWARGS["send_invite"])
    with pytest.raises(ValueError):
        parsed.integration_id = "other"


def test_a_job_outcome_round_trips_through_json() -> None:
    outcome = JobOutcome.model_validate({
        "message_id": "m-1", "actor_name": "create_event", "status": "failed", "attempts": 2,
        "error": {"code": "UNKNOWN_MAILBOX", "message": "no mailbox x@example.com", "retryable": False},
        "created_at": START, "updated_at": END, "finished_at": END,
    })

    assert JobOutcome.model_validate_json(outcome.model_dump_json()) == outcome
    assert outcome.status.is_final and not JobStatus.RETRYING.is_final


def test_the_message_example_is_a_valid_job() -> None:
    example = JobMessage.model_json_schema()["examples"][0]
    message = JobMessage.model_validate(example)

    assert parse_kwargs(message.actor_name, message.kwargs).integration_id == "acme-onprem"
