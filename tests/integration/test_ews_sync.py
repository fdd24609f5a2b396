"""EwsGateway.sync_calendar over real HTTP: pages, changes made as Outlook would make them,
attendee answers, deletions, refused sync states, and one SyncFolderItems request per call."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from exchangelib import Account, CalendarItem
from exchangelib.items import MeetingRequest

from infra.ewssim import EwsSimulator
from infra.ewssim.models.items import CalendarItem as SimCalendarItem
from pipeline.errors import ErrorCode, PermanentError
from pipeline.exchange.base import ExchangeGateway
from pipeline.exchange.calendar_items import (
    AttendeeResponse,
    CalendarItemSnapshot,
    CalendarSyncPage,
    ResponseType,
    SyncChangeKind,
)
from pipeline.exchange.ews import EwsConnector
from pipeline.exchange.types import EventDraft
from tests.conftest import AccountFactory
from tests.integration import ews_support
from tests.integration.ews_support import integration, seed_secrets
from tests.seed import smtp

# Fixtures shared by the connection-layer tests (pytest finds them as module attributes).
secrets_client = ews_support.secrets_client
secret_source = ews_support.secret_source
connector = ews_support.connector

T = TypeVar("T")
ALICE, BOB, CAROL, ROOM_A = smtp("alice"), smtp("bob"), smtp("carol"), smtp("room-a")
DAY = datetime(2030, 1, 7, tzinfo=UTC)
SFI = "SyncFolderItems"


@pytest.fixture
def gateway_for(
    sim: EwsSimulator, connector: EwsConnector, secrets_client: Any
) -> Callable[[str], ExchangeGateway]:
    """The delegate integration's gateway (logon svc) for a job mailbox."""
    seed_secrets(secrets_client, "delegate-basic", "delegate", "basic")
    settings = integration(sim, "delegate")
    return lambda mailbox: connector.gateway(settings, mailbox)


@pytest.fixture
def gateway(gateway_for: Callable[[str], ExchangeGateway]) -> ExchangeGateway:
    """alice's calendar, where svc is a Delegate (no "view private items")."""
    return gateway_for(ALICE)


def requests_made(sim: EwsSimulator, call: Callable[[], T]) -> tuple[T, dict[str, int]]:
    """What `call` returned and the EWS requests it made, per operation."""
    before = Counter(sim.request_counts())
    result = call()
    return result, dict(Counter(sim.request_counts()) - before)


def sync(
    sim: EwsSimulator, gateway: ExchangeGateway, state: str | None, max_changes: int = 100
) -> CalendarSyncPage:
    """One sync_calendar call, which must be exactly one SyncFolderItems request."""
    page, made = requests_made(sim, lambda: gateway.sync_calendar(state, max_changes))
    assert made == {SFI: 1}
    return page


def sync_all(sim: EwsSimulator, gateway: ExchangeGateway, state: str | None = None) -> CalendarSyncPage:
    page = sync(sim, gateway, state)
    assert page.includes_last_item
    return page


def outlook_book(acc: Account, subject: str, hour: int, **fields: Any) -> CalendarItem:
    """An item the calendar's owner makes in Outlook (no booking stamp)."""
    start = DAY + timedelta(hours=hour)
    item = CalendarItem(
        account=acc,
        folder=acc.calendar,
        subject=subject,
        start=start,
        end=start + timedelta(hours=1),
        **fields,
    )
    item.save(send_meeting_invitations="SendToNone")
    return item


def interview(hour: int) -> EventDraft:
    start = DAY + timedelta(hours=hour)
    return EventDraft(
        subject=f"Interview {hour}",
        start=start,
        end=start + timedelta(minutes=30),
        booking_key=f"booking-{hour}",
    )


def snapshots(page: CalendarSyncPage) -> list[CalendarItemSnapshot]:
    items = [change.item for change in page.changes if change.kind is SyncChangeKind.CHANGED]
    assert all(item is not None for item in items)
    return [item for item in items if item is not None]


# First sync -----------------------------------------------------------------------------------------


def test_the_first_sync_pages_through_the_calendar_one_request_a_page(
    sim: EwsSimulator, gateway: ExchangeGateway, account: AccountFactory
) -> None:
    alice = account("alice")
    stamped = [gateway.create_event(interview(hour)) for hour in (9, 10)]  # the pipeline's own bookings
    own = outlook_book(alice, "Lunch", 12, legacy_free_busy_status="OOF")
    private = outlook_book(alice, "Doctor", 14, sensitivity="Private")
    tentative = outlook_book(alice, "Maybe", 16, legacy_free_busy_status="Tentative")

    pages = [sync(sim, gateway, None, max_changes=2)]
    while not pages[-1].includes_last_item:
        pages.append(sync(sim, gateway, pages[-1].sync_state, max_changes=2))

    assert [len(page.changes) for page in pages] == [2, 2, 1]
    assert [page.includes_last_item for page in pages] == [False, False, True]
    seen = {item.item_id: item for page in pages for item in snapshots(page)}
    assert list(seen) == [*(ref.item_id for ref in stamped), own.id, private.id, tentative.id]
    first = seen[stamped[0].item_id]
    assert (first.booking_key, first.subject) == ("booking-9", "Interview 9")
    assert (first.start, first.end) == (DAY + timedelta(hours=9), DAY + timedelta(hours=9, minutes=30))
    assert first.start is not None and first.start.tzinfo is not None and type(first.start) is datetime
    assert first.change_key == stamped[0].change_key and first.organizer == ALICE
    assert seen[stamped[1].item_id].booking_key == "booking-10"
    lunch = seen[own.id]
    assert (lunch.booking_key, lunch.free_busy_status, lunch.is_private) == (None, "OOF", False)
    assert seen[tentative.id].free_busy_status == "Tentative"
    # The delegate may not read a private item's subject, but learns that it is private.
    assert seen[private.id].is_private is True and seen[private.id].subject is None
    assert seen[private.id].start == DAY + timedelta(hours=14)


def test_an_empty_calendar_gives_one_empty_last_page(sim: EwsSimulator, gateway: ExchangeGateway) -> None:
    page = sync(sim, gateway, None)

    assert page.changes == () and page.includes_last_item and page.sync_state
    assert sync(sim, gateway, page.sync_state).changes == ()


# Later syncs ----------------------------------------------------------------------------------------


def test_later_syncs_return_what_outlook_changed(
    sim: EwsSimulator, gateway: ExchangeGateway, account: AccountFactory
) -> None:
    alice = account("alice")
    kept, moved, deleted = (
        outlook_book(alice, "Kept", 9),
        outlook_book(alice, "Moved", 10),
        outlook_book(alice, "Gone", 11),
    )
    state = sync_all(sim, gateway).sync_state

    moved.start, moved.end = DAY + timedelta(hours=15), DAY + timedelta(hours=16)
    moved.save(update_fields=["start", "end"])
    deleted_id = deleted.id
    deleted.delete()
    added = outlook_book(alice, "Added", 17, sensitivity="Private")
    page = sync_all(sim, gateway, state)

    assert [(c.kind, c.item_id) for c in page.changes] == [
        (SyncChangeKind.CHANGED, moved.id),
        (SyncChangeKind.CHANGED, added.id),
        (SyncChangeKind.DELETED, deleted_id),
    ]
    assert page.changes[2].item is None
    moved_now, added_now = snapshots(page)
    assert (moved_now.start, moved_now.end) == (DAY + timedelta(hours=15), DAY + timedelta(hours=16))
    assert moved_now.change_key == moved.changekey
    assert added_now.is_private is True
    assert kept.id not in {c.item_id for c in page.changes}
    # Nothing since: an empty last page.
    assert sync_all(sim, gateway, page.sync_state).changes == ()


def test_an_attendee_accepting_updates_the_organiser_s_item(
    sim: EwsSimulator, gateway: ExchangeGateway, account: AccountFactory
) -> None:
    alice = account("alice")
    start = DAY + timedelta(hours=9)
    meeting = CalendarItem(
        account=alice, folder=alice.calendar, subject="Planning", start=start, end=start + timedelta(hours=1),
        required_attendees=[BOB], optional_attendees=[CAROL], resources=[ROOM_A],
    )  # fmt: skip
    meeting.save(send_meeting_invitations="SendToAllAndSaveCopy")
    first = sync_all(sim, gateway)
    [before] = snapshots(first)
    assert {a.email: a.response for a in before.attendees} == {
        BOB: ResponseType.UNKNOWN,
        CAROL: ResponseType.UNKNOWN,
        ROOM_A: ResponseType.ACCEPTED,  # a room (AutomateProcessing AutoAccept) answers at once
    }

    [request] = [m for m in account("bob").inbox.all() if isinstance(m, MeetingRequest)]
    request.accept()
    page = sync_all(sim, gateway, first.sync_state)

    [after] = snapshots(page)
    assert after.item_id == meeting.id and after.change_key != before.change_key
    stored = sim.backend.mailbox(ALICE).find_item(meeting.id)
    assert isinstance(stored, SimCalendarItem)
    answered = stored.attendee(BOB)
    assert answered is not None and answered.last_response_time is not None
    responded_at = answered.last_response_time.replace(microsecond=0)  # EWS DateTime is to the second
    room = stored.attendee(ROOM_A)
    assert room is not None and room.last_response_time is not None
    assert after.attendees == (
        AttendeeResponse(BOB, ResponseType.ACCEPTED, responded_at),
        AttendeeResponse(CAROL, ResponseType.UNKNOWN, None),
        AttendeeResponse(ROOM_A, ResponseType.ACCEPTED, room.last_response_time.replace(microsecond=0)),
    )
    assert after.organizer == ALICE and after.subject == "Planning" and not after.is_cancelled


def test_a_cancelled_meeting_comes_back_cancelled_in_the_attendee_s_calendar(
    sim: EwsSimulator, gateway_for: Callable[[str], ExchangeGateway], account: AccountFactory
) -> None:
    carols = gateway_for(CAROL)  # svc is Reviewer on carol's calendar
    alice = account("alice")
    start = DAY + timedelta(hours=11)
    meeting = CalendarItem(
        account=alice, folder=alice.calendar, subject="Review", start=start, end=start + timedelta(hours=1),
        required_attendees=[CAROL],
    )  # fmt: skip
    meeting.save(send_meeting_invitations="SendToAllAndSaveCopy")
    first = sync_all(sim, carols)
    [copy] = snapshots(first)
    assert (copy.organizer, copy.is_cancelled, copy.free_busy_status) == (ALICE, False, "Tentative")

    meeting.delete(send_meeting_cancellations="SendToAllAndSaveCopy")
    [cancelled] = snapshots(sync_all(sim, carols, first.sync_state))

    assert cancelled.item_id == copy.item_id
    assert (cancelled.is_cancelled, cancelled.free_busy_status) == (True, "Free")


# Errors ---------------------------------------------------------------------------------------------


def test_a_refused_sync_state_raises_sync_state_invalid(
    sim: EwsSimulator, gateway_for: Callable[[str], ExchangeGateway]
) -> None:
    alices, carols = gateway_for(ALICE), gateway_for(CAROL)
    carols_state = sync_all(sim, carols).sync_state

    for refused in ("not-a-sync-state", carols_state):
        with pytest.raises(PermanentError) as raised:
            sync(sim, alices, refused)
        assert raised.value.code is ErrorCode.SYNC_STATE_INVALID
        assert isinstance(raised.value.__cause__, Exception)  # chained from exchangelib's error
    # Starting again from no state works.
    assert sync_all(sim, alices, None).changes == ()


def test_a_calendar_the_logon_may_not_read_is_access_denied(
    sim: EwsSimulator, gateway_for: Callable[[str], ExchangeGateway]
) -> None:
    bobs = gateway_for(BOB)  # svc sees only bob's free/busy

    with pytest.raises(PermanentError) as raised:
        sync(sim, bobs, None)

    assert raised.value.code is ErrorCode.ACCESS_DENIED


@pytest.mark.parametrize("max_changes", [0, 513])
def test_max_changes_outside_1_to_512_is_refused_before_any_request(
    sim: EwsSimulator, gateway: ExchangeGateway, max_changes: int
) -> None:
    with pytest.raises(PermanentError) as raised:
        gateway.sync_calendar(None, max_changes)

    assert raised.value.code is ErrorCode.INVALID_KWARGS
    assert sim.request_counts().get(SFI, 0) == 0
