"""Meetings: invitations per SendMeetingInvitations mode, attendee copies, attendee answers that
reach the organiser, updates and cancellations; driven by exchangelib, checked through exchangelib
and the simulator's models."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from exchangelib import Account, CalendarItem
from exchangelib.items import MeetingCancellation, MeetingRequest, MeetingResponse

from infra.ewssim.models.items import CalendarItem as SimCalendarItem
from infra.ewssim.models.items import MessageItem
from infra.ewssim.server import EwsSimulator
from tests.conftest import AccountFactory
from tests.integration.ewssim.calendar_support import at, folder_items
from tests.seed import smtp


@pytest.fixture(autouse=True)
def valid_responses(sim: EwsSimulator) -> Iterator[None]:
    sim.take_schema_violations()
    yield
    assert sim.take_schema_violations() == []


def invite(
    organizer: Account, mode: str, *, attendees: tuple[str, ...] = ("bob",), room: str | None = "room-a"
) -> CalendarItem:
    item = CalendarItem(
        account=organizer,
        folder=organizer.calendar,
        subject="Planning",
        start=at(1, 9),
        end=at(1, 10),
        required_attendees=[smtp(a) for a in attendees],
        resources=[smtp(room)] if room else [],
    )
    item.save(send_meeting_invitations=mode)
    return item


def messages(sim: EwsSimulator, who: str, folder: str = "inbox") -> list[tuple[str, str]]:
    return [(m.item_class, m.subject) for m in folder_items(sim, who, folder) if isinstance(m, MessageItem)]


def attendee_copy(sim: EwsSimulator, who: str, organizers_item: CalendarItem) -> SimCalendarItem:
    """The attendee's copy of a meeting, found by the UID of the organiser's item."""
    meeting = sim.backend.locate_item(organizers_item.id)
    assert meeting is not None and isinstance(meeting[1], SimCalendarItem)
    mailbox = sim.backend.mailbox(smtp(who))
    found = mailbox.find_by_uid(meeting[1].uid) or mailbox.find_by_uid(meeting[1].uid, "deleteditems")
    assert isinstance(found, SimCalendarItem)
    return found


def test_send_to_none_invites_nobody(sim: EwsSimulator, account: AccountFactory) -> None:
    item = invite(account("alice"), "SendToNone")

    assert messages(sim, "bob") == [] and messages(sim, "room-a") == []
    assert folder_items(sim, "bob", "calendar") == []
    fetched = account("alice").calendar.get(id=item.id)
    assert fetched.is_meeting and not fetched.meeting_request_was_sent


@pytest.mark.parametrize("mode", ["SendOnlyToAll", "SendToAllAndSaveCopy"])
def test_invitations_reach_attendees_and_rooms(sim: EwsSimulator, account: AccountFactory, mode: str) -> None:
    alice = account("alice")
    item = invite(alice, mode)

    requests = list(account("bob").inbox.all())
    assert [type(r) for r in requests] == [MeetingRequest]
    assert requests[0].subject == "Planning" and requests[0].start == at(1, 9)
    assert requests[0].organizer.email_address == smtp("alice")
    # The room (AutomateProcessing AutoAccept) processed its request at once: accepted, the request
    # gone to Deleted Items; bob's copy waits for his answer.
    assert messages(sim, "room-a") == []
    assert messages(sim, "room-a", "deleteditems") == [("IPM.Schedule.Meeting.Request", "Planning")]
    for who, state in (("bob", ("Tentative", "NoResponseReceived")), ("room-a", ("Busy", "Accept"))):
        copy = attendee_copy(sim, who, item)
        assert (copy.legacy_free_busy_status, copy.my_response_type) == state
        assert copy.organizer == smtp("alice") and copy.start == at(1, 9)
    bobs_copy = account("bob").calendar.get(id=attendee_copy(sim, "bob", item).item_id)
    assert (
        bobs_copy.my_response_type == "NoResponseReceived"
        and bobs_copy.legacy_free_busy_status == "Tentative"
    )
    sent = messages(sim, "alice", "sentitems")
    assert sent == ([("IPM.Schedule.Meeting.Request", "Planning")] if mode == "SendToAllAndSaveCopy" else [])
    organizer_view = alice.calendar.get(id=item.id)
    assert organizer_view.meeting_request_was_sent
    assert [a.response_type for a in organizer_view.required_attendees] == ["Unknown"]
    assert [a.response_type for a in organizer_view.resources] == ["Accept"]


@pytest.mark.parametrize(
    ("answer", "response", "item_class", "prefix"),
    [
        ("accept", "Accept", "IPM.Schedule.Meeting.Resp.Pos", "Accepted"),
        ("tentatively_accept", "Tentative", "IPM.Schedule.Meeting.Resp.Tent", "Tentative"),
        ("decline", "Decline", "IPM.Schedule.Meeting.Resp.Neg", "Declined"),
    ],
)
def test_answer_from_the_request_reaches_the_organiser(
    sim: EwsSimulator, account: AccountFactory, answer: str, response: str, item_class: str, prefix: str
) -> None:
    alice, bob = account("alice"), account("bob")
    item = invite(alice, "SendToAllAndSaveCopy", room=None)  # a room would answer too
    request = next(iter(bob.inbox.all()))

    getattr(request, answer)()

    organizer_view = alice.calendar.get(id=item.id)
    bobs_entry = organizer_view.required_attendees[0]
    assert (bobs_entry.mailbox.email_address, bobs_entry.response_type) == (smtp("bob"), response)
    assert bobs_entry.last_response_time is not None
    answers = list(alice.inbox.all())
    assert [type(a) for a in answers] == [MeetingResponse]
    assert (answers[0].item_class, answers[0].subject) == (item_class, f"{prefix}: Planning")
    assert answers[0].sender.email_address == smtp("bob")
    # Outlook's habit, which Exchange's clients share: the answered request leaves the inbox.
    assert list(bob.inbox.all()) == []
    copy = attendee_copy(sim, "bob", item)
    assert copy.my_response_type == response
    in_calendar = [i.subject for i in folder_items(sim, "bob", "calendar")]
    assert in_calendar == ([] if response == "Decline" else ["Planning"])


def test_answer_from_the_calendar_item(sim: EwsSimulator, account: AccountFactory) -> None:
    alice, bob = account("alice"), account("bob")
    item = invite(alice, "SendOnlyToAll")

    copy_id = attendee_copy(sim, "bob", item).item_id
    bob.calendar.get(id=copy_id).accept()

    assert alice.calendar.get(id=item.id).required_attendees[0].response_type == "Accept"
    mine = bob.calendar.get(id=copy_id)
    assert (mine.my_response_type, mine.legacy_free_busy_status) == ("Accept", "Busy")


@pytest.mark.parametrize("mode", ["SendOnlyToAll", "SendToAllAndSaveCopy"])
def test_update_to_all_moves_every_copy(sim: EwsSimulator, account: AccountFactory, mode: str) -> None:
    alice = account("alice")
    item = invite(alice, "SendToAllAndSaveCopy")
    next(iter(account("bob").inbox.all())).accept()

    item = alice.calendar.get(id=item.id)
    item.start, item.end = at(1, 14), at(1, 15)
    item.save(update_fields=["start", "end"], send_meeting_invitations=mode)

    assert [type(m) for m in account("bob").inbox.all()] == [MeetingRequest]
    copy = attendee_copy(sim, "bob", item)
    assert (copy.start, copy.end, copy.my_response_type) == (at(1, 14), at(1, 15), "NoResponseReceived")
    moved = alice.calendar.get(id=item.id)
    assert moved.required_attendees[0].response_type == "Unknown"
    # The room processed the update as it did the request: free at the new time, it accepts again.
    assert len(messages(sim, "room-a", "deleteditems")) == 2 and messages(sim, "room-a") == []
    assert moved.resources[0].response_type == "Accept"
    assert len(messages(sim, "alice", "sentitems")) == (2 if mode == "SendToAllAndSaveCopy" else 1)


@pytest.mark.parametrize("mode", ["SendOnlyToChanged", "SendToChangedAndSaveCopy"])
def test_update_to_changed_invites_only_added_and_cancels_removed(
    sim: EwsSimulator, account: AccountFactory, mode: str
) -> None:
    alice = account("alice")
    item = invite(alice, "SendOnlyToAll", attendees=("bob", "carol"), room=None)

    item = alice.calendar.get(id=item.id)
    item.required_attendees = [smtp("carol"), smtp("svc")]
    item.save(update_fields=["required_attendees"], send_meeting_invitations=mode)

    assert messages(sim, "carol") == [("IPM.Schedule.Meeting.Request", "Planning")]
    assert messages(sim, "svc") == [("IPM.Schedule.Meeting.Request", "Planning")]
    bob_inbox = list(account("bob").inbox.all().order_by("datetime_received"))
    assert [type(m) for m in bob_inbox] == [MeetingRequest, MeetingCancellation]
    assert attendee_copy(sim, "bob", item).is_cancelled
    kept = [c for c, _ in messages(sim, "alice", "sentitems")]
    expected = ["IPM.Schedule.Meeting.Request", "IPM.Schedule.Meeting.Canceled"]
    assert kept == (expected if mode == "SendToChangedAndSaveCopy" else [])


def test_update_with_send_to_none_tells_nobody(sim: EwsSimulator, account: AccountFactory) -> None:
    alice = account("alice")
    item = invite(alice, "SendOnlyToAll")
    item = alice.calendar.get(id=item.id)
    item.subject = "Quiet change"
    item.save(update_fields=["subject"], send_meeting_invitations="SendToNone")

    assert len(messages(sim, "bob")) == 1
    assert attendee_copy(sim, "bob", item).subject == "Planning"


@pytest.mark.parametrize(
    ("mode", "cancelled", "kept"),
    [("SendToNone", False, False), ("SendOnlyToAll", True, False), ("SendToAllAndSaveCopy", True, True)],
)
def test_delete_sends_cancellations_per_mode(
    sim: EwsSimulator, account: AccountFactory, mode: str, cancelled: bool, kept: bool
) -> None:
    alice = account("alice")
    item = invite(alice, "SendOnlyToAll")
    copy = attendee_copy(sim, "bob", item)

    alice.calendar.get(id=item.id).delete(send_meeting_cancellations=mode)

    bob_inbox = [type(m) for m in account("bob").inbox.all().order_by("datetime_received")]
    assert bob_inbox == ([MeetingRequest, MeetingCancellation] if cancelled else [MeetingRequest])
    assert copy.is_cancelled is cancelled
    assert copy.legacy_free_busy_status == ("Free" if cancelled else "Tentative")
    cancellations = [
        m for m in messages(sim, "alice", "sentitems") if m[0] == "IPM.Schedule.Meeting.Canceled"
    ]
    assert cancellations == ([("IPM.Schedule.Meeting.Canceled", "Canceled: Planning")] if kept else [])
    assert folder_items(sim, "alice", "calendar") == []


def test_delegate_books_on_behalf_of_the_owner(sim: EwsSimulator, account: AccountFactory) -> None:
    delegate = account("svc", mailbox="alice")

    item = invite(delegate, "SendToAllAndSaveCopy")

    request = next(iter(account("bob").inbox.all()))
    assert request.organizer.email_address == smtp("alice")
    stored = sim.backend.mailbox(smtp("alice")).find_item(item.id)
    assert isinstance(stored, SimCalendarItem) and stored.is_organizer and stored.modified_by == smtp("svc")
    request.accept()
    assert account("alice").calendar.get(id=item.id).required_attendees[0].response_type == "Accept"
