"""The simulator's calendar models and access rules, called directly (no HTTP, no XML)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from infra.ewssim.errors import EwsError
from infra.ewssim.models import access, calendar
from infra.ewssim.models.backend import Change, EwsBackend
from infra.ewssim.models.items import Attendee, CalendarItem, MessageItem
from infra.ewssim.models.permissions import PermissionLevel
from infra.ewssim.responses.item_values import parse_datetime
from tests.seed import smtp, standard_org


@pytest.fixture
def backend() -> EwsBackend:
    backend = EwsBackend()
    backend.seed(standard_org())
    return backend


def meeting(*attendees: str, subject: str = "Sync") -> CalendarItem:
    return CalendarItem(
        subject=subject,
        start=datetime(2030, 1, 1, 9, tzinfo=UTC),
        end=datetime(2030, 1, 1, 10, tzinfo=UTC),
        required_attendees=[Attendee(smtp(a)) for a in attendees],
    )


def inbox(backend: EwsBackend, who: str) -> list[MessageItem]:
    items = backend.mailbox(smtp(who)).folder("inbox").items.values()
    return [i for i in items if isinstance(i, MessageItem)]


def test_folder_access_follows_grants_and_ownership(backend: EwsBackend) -> None:
    svc, alice = backend.directory.get(smtp("svc")), backend.directory.get(smtp("alice"))

    assert access.folder_access(backend, alice, smtp("alice"), "calendar") is PermissionLevel.OWNER
    assert access.folder_access(backend, svc, smtp("alice"), "calendar") is PermissionLevel.DELEGATE
    assert access.folder_access(backend, svc, smtp("bob"), "calendar") is PermissionLevel.FREE_BUSY_TIME_ONLY
    assert access.folder_access(backend, svc, smtp("alice"), "inbox") is PermissionLevel.NONE
    assert access.require_write(backend, svc, smtp("alice"), "calendar") is PermissionLevel.DELEGATE
    assert access.require_read(backend, svc, smtp("carol"), "calendar") is PermissionLevel.REVIEWER


@pytest.mark.parametrize(
    ("check", "owner", "code"),
    [
        (access.require_write, "carol", "ErrorAccessDenied"),
        (access.require_read, "bob", "ErrorAccessDenied"),
        (access.require_read, "nobody", "ErrorNonExistentMailbox"),
    ],
)
def test_access_failures_carry_exchange_codes(
    backend: EwsBackend, check: object, owner: str, code: str
) -> None:
    svc = backend.directory.get(smtp("svc"))
    with pytest.raises(EwsError) as failure:
        check(backend, svc, smtp(owner), "calendar")  # type: ignore[operator]
    assert failure.value.code == code


def test_default_grant_applies_to_everyone_without_their_own(backend: EwsBackend) -> None:
    backend.grant_folder_permission(smtp("bob"), "default", PermissionLevel.REVIEWER)
    carol = backend.directory.get(smtp("carol"))

    assert access.folder_access(backend, carol, smtp("bob"), "calendar") is PermissionLevel.REVIEWER


def test_private_content_is_hidden_unless_granted(backend: EwsBackend) -> None:
    mailbox = backend.mailbox(smtp("alice"))
    svc = backend.directory.get(smtp("svc"))
    private = CalendarItem(sensitivity="Private")

    assert access.hides_private_content(mailbox, svc, private)
    assert not access.hides_private_content(mailbox, svc, CalendarItem())
    backend.grant_private_items(smtp("alice"), smtp("svc"))
    assert not access.hides_private_content(mailbox, svc, private)


def test_create_with_invitations_delivers_and_keeps_copies(backend: EwsBackend) -> None:
    changes: list[Change] = []
    backend.on_change(changes.append)

    item = calendar.create_calendar_item(
        backend, smtp("alice"), meeting("bob", "room-a"), "SendToAllAndSaveCopy"
    )

    assert item.is_organizer and item.is_meeting and item.meeting_request_was_sent
    assert [m.item_class for m in inbox(backend, "bob")] == ["IPM.Schedule.Meeting.Request"]
    copy = backend.mailbox(smtp("room-a")).find_by_uid(item.uid)
    # The room (AutoAccept) has answered already; a person's copy waits for an answer.
    assert isinstance(copy, CalendarItem) and copy.my_response_type == "Accept"
    bobs_copy = backend.mailbox(smtp("bob")).find_by_uid(item.uid)
    assert bobs_copy is not None
    assert inbox(backend, "bob")[0].associated_calendar_item_id == bobs_copy.item_id
    assert ("alice@example.com", "CreatedEvent") in [(c.mailbox, c.event_type) for c in changes]
    assert ("bob@example.com", "NewMailEvent") in [(c.mailbox, c.event_type) for c in changes]


def test_respond_updates_organiser_and_rejects_own_meeting(backend: EwsBackend) -> None:
    item = calendar.create_calendar_item(backend, smtp("alice"), meeting("bob"), "SendOnlyToAll")
    bob = backend.mailbox(smtp("bob"))

    calendar.respond(backend, bob, inbox(backend, "bob")[0], "Tentative")

    assert item.required_attendees[0].response == "Tentative"
    assert item.required_attendees[0].last_response_time is not None
    assert [m.item_class for m in inbox(backend, "alice")] == ["IPM.Schedule.Meeting.Resp.Tent"]
    with pytest.raises(EwsError) as failure:
        calendar.respond(backend, backend.mailbox(smtp("alice")), item, "Accept")
    assert failure.value.code == "ErrorCalendarIsOrganizerForAccept"


def test_respond_without_sending_leaves_the_organiser_alone(backend: EwsBackend) -> None:
    item = calendar.create_calendar_item(backend, smtp("alice"), meeting("bob"), "SendOnlyToAll")

    copy = calendar.respond(
        backend, backend.mailbox(smtp("bob")), inbox(backend, "bob")[0], "Accept", send=False
    )

    assert copy.my_response_type == "Accept"
    assert item.required_attendees[0].response == "Unknown"
    assert inbox(backend, "alice") == []


def test_end_before_start_is_refused(backend: EwsBackend) -> None:
    item = meeting()
    item.end = datetime(2030, 1, 1, 8, tzinfo=UTC)

    with pytest.raises(EwsError) as failure:
        calendar.create_calendar_item(backend, smtp("alice"), item)
    assert failure.value.code == "ErrorCalendarEndDateIsEarlierThanStartDate"


def test_unknown_send_mode_is_invalid(backend: EwsBackend) -> None:
    with pytest.raises(EwsError) as failure:
        calendar.create_calendar_item(backend, smtp("alice"), meeting(), "SendToEveryone")
    assert failure.value.code == "ErrorInvalidRequest"


def test_external_attendees_are_accepted_but_not_delivered(backend: EwsBackend) -> None:
    item = meeting()
    item.required_attendees = [Attendee("guest@elsewhere.test")]

    calendar.create_calendar_item(backend, smtp("alice"), item, "SendOnlyToAll")

    assert all(inbox(backend, who) == [] for who in ("bob", "carol", "alice"))


def test_datetimes_are_stored_in_utc() -> None:
    assert parse_datetime("2030-01-01T10:00:00+02:00") == datetime(2030, 1, 1, 8, tzinfo=UTC)
    assert parse_datetime("2030-01-01T10:00:00Z") == datetime(2030, 1, 1, 10, tzinfo=UTC)
    assert parse_datetime("2030-07-01T10:00:00", "Europe/London") == datetime(2030, 7, 1, 9, tzinfo=UTC)
    with pytest.raises(EwsError):
        parse_datetime("yesterday")
