"""Calendar settings: the shape of a calendar, the checks on the three roles, per-mailbox overrides."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.calendar_settings import CalendarChoice, CalendarRef, calendars_for
from pipeline.errors import ErrorCode, PermanentError
from pipeline.integrations import IntegrationSettings, load_integration


def settings(**calendars: Any) -> IntegrationSettings:
    return load_integration({
        "integration_id": "acme-1", "connection_method": "delegate", "auth_type": "basic",
        "ews_url": "https://mail.example.com/EWS/Exchange.asmx", "secret_name": "ews/acme-1/service",
        "service_mailbox": "svc@example.com", **calendars,
    })


def problem(**calendars: Any) -> str:
    with pytest.raises(PermanentError) as caught:
        settings(**calendars)
    assert caught.value.code is ErrorCode.INVALID_INTEGRATION
    return caught.value.message


def test_no_calendars_means_the_default_calendar_only() -> None:
    assert calendars_for(settings(), "alice@example.com") == CalendarChoice()


def test_a_string_is_a_path_and_paths_are_tidied() -> None:
    ref = CalendarRef.model_validate(" /Calendar / Interviews/ ")
    assert (ref.path, ref.names, ref.mailbox, ref.folder_id) == (
        "Calendar/Interviews", ("Calendar", "Interviews"), None, None
    )
    assert CalendarRef.model_validate({"mailbox": " Team@Example.COM ", "path": "calendar"}).mailbox == (
        "team@example.com"
    )
    assert CalendarRef(path="CALENDAR").is_default_calendar
    assert not CalendarRef(path="Calendar/Interviews").is_default_calendar


def test_a_calendar_names_its_mailbox_and_path_or_id() -> None:
    relative = CalendarRef(path="Calendar/Interviews")
    shared = CalendarRef(mailbox="team@example.com", folder_id="AAMkAD=")
    assert relative.owner("Bob@Example.com") == "bob@example.com"
    assert relative.describe("bob@example.com") == "calendar 'Calendar/Interviews' of bob@example.com"
    assert shared.describe("bob@example.com") == "calendar with folder id AAMkAD= of team@example.com"
    assert (relative.label(), shared.label()) == ("Calendar/Interviews", "team@example.com:id:AAMkAD=")
    # The same calendar whatever the case of its path; a relative one differs per mailbox.
    assert CalendarRef(path="calendar/INTERVIEWS").identity("a@x.com") == relative.identity("a@x.com")
    assert relative.identity("a@x.com") != relative.identity("b@x.com")


@pytest.mark.parametrize(
    ("calendar", "wanted"),
    [
        ({"path": "Calendar", "folder_id": "x"}, "either a path or a folder_id"),
        ({}, "either a path or a folder_id"),
        ("Calendar//Interviews", "none of them empty"),
        ("/".join(["x"] * 11), "at most 10 folders"),
        ({"path": "x", "mailbox": "not-an-address"}, "busy_calendars.0.mailbox"),
        ({"path": "x", "colour": "red"}, "Extra inputs are not permitted"),
    ],
)
def test_bad_calendars(calendar: Any, wanted: str) -> None:
    assert wanted in problem(busy_calendars=[calendar])


def test_the_default_calendar_is_always_read_for_busy_time() -> None:
    assert "busy_calendars[1] is the default calendar" in problem(busy_calendars=["Calendar/X", "calendar"])
    # Another mailbox's default calendar is a calendar like any other.
    assert settings(busy_calendars=[{"mailbox": "team@example.com", "path": "Calendar"}]).busy_calendars


def test_duplicates_and_a_copy_in_the_booking_calendar_are_refused() -> None:
    assert "busy_calendars[1] names the same calendar" in problem(busy_calendars=["Calendar/X", "calendar/x"])
    assert "additional_booking_calendars[0] is the booking calendar itself" in problem(
        additional_booking_calendars=["Calendar"]
    )
    assert "additional_booking_calendars[0] is the booking calendar itself" in problem(
        booking_calendar="Calendar/Bookings", additional_booking_calendars=["calendar/bookings"]
    )
    # The default calendar may hold the copy when the booking goes elsewhere.
    assert settings(booking_calendar="Calendar/Bookings", additional_booking_calendars=["Calendar"])


def test_limits_keep_the_requests_bounded() -> None:
    assert "busy_calendars" in problem(busy_calendars=[f"Calendar/{n}" for n in range(21)])
    assert "additional_booking_calendars" in problem(
        additional_booking_calendars=[f"Calendar/{n}" for n in range(11)]
    )


def test_an_override_replaces_only_the_fields_it_sets() -> None:
    configured = settings(
        busy_calendars=["Calendar/Interviews"],
        additional_booking_calendars=[{"mailbox": "team@example.com", "path": "Calendar"}],
        calendar_overrides={
            "Bob@Example.com": {"booking_calendar": "Calendar/Bookings", "busy_calendars": []}
        },
    )
    bob = calendars_for(configured, "BOB@example.com")
    assert bob.busy_calendars == ()
    assert bob.booking_calendar == CalendarRef(path="Calendar/Bookings")
    assert bob.additional_booking_calendars == configured.additional_booking_calendars
    alice = calendars_for(configured, "alice@example.com")
    assert alice.busy_calendars == (CalendarRef(path="Calendar/Interviews"),)
    assert alice.booking_calendar is None
    # Stored and read back unchanged
    raw = configured.model_dump(mode="json", exclude_none=True)
    assert raw["calendar_overrides"] == {
        "bob@example.com": {"busy_calendars": [], "booking_calendar": {"path": "Calendar/Bookings"}}
    }
    assert IntegrationSettings.model_validate(raw) == configured


def test_override_errors_give_positions_never_addresses() -> None:
    message = problem(calendar_overrides={"ok@example.com": {"busy_calendars": []},
                                          "secret-person@example.com": {}})
    assert "entry 1" in message and "secret-person" not in message
    message = problem(calendar_overrides={"secret-person@example.com": {"busy_calendars": ["Calendar"]}})
    assert "calendar_overrides[0].busy_calendars[0] is the default calendar" in message
    assert "secret-person" not in message
    message = problem(calendar_overrides={"not an address": {"busy_calendars": []}})
    assert "entry 0 (mailbox)" in message and "not an address" not in message
    # An override's booking calendar is checked against the copies it inherits.
    assert "calendar_overrides[0].additional_booking_calendars[0] is the booking calendar itself" in problem(
        additional_booking_calendars=["Calendar/Team"],
        calendar_overrides={"bob@example.com": {"booking_calendar": "Calendar/Team"}},
    )
