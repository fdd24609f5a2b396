"""process_change: bring bookings in line with what a push notification reported, and tell the app.

The items named by the events are read in one GetItem (the common path: one EWS request). For an
item stamped with the booking key of a booking in the subscription's calendar:
- cancelled, or moved out of the calendar (Deleted Items, a declined copy): the booking is
  deleted in Exchange (`booking.deleted_in_exchange`); a locked booking is reported, not recreated;
- its start or end moved:
  - locked (lock_appointments): moved back to the booked time with one UpdateItem, the attendees
    told (`booking.restored`). The notification for that UpdateItem finds the booked time again
    and changes nothing, so the pipeline never fights its own write;
  - auto_confirm: the new time becomes the booking's (`booking.moved_in_exchange`, auto-confirmed);
  - neither: the new time is recorded as unconfirmed and the app decides (`booking.moved_in_exchange`);
- an attendee's response changed: recorded, and `attendee.responded` once per change of response
  (the same response seen in later notifications is not news).
Items without a stamp are someone else's events: the mailbox's calendar is synced (coalesced,
see pipeline.actions.calendar_sync_requests), which reports them to the app.

An item Exchange can no longer show is found by its item id in the results table instead:
- deleted (hard or soft): not read at all, its booking is marked deleted without a request;
- moved where this logon cannot read it (a calendar delegate has no rights on Deleted Items):
  its booking is marked deleted when the move left the calendar.
A move of one of our bookings costs one more request (GetFolder, at most one per job) to tell
"out of the calendar" from "within it".

Event ids are caused by what Exchange holds (the item's change key, the response and its time),
not by this job, so two jobs that see the same change report it under one id.
"""

from __future__ import annotations

from datetime import datetime

from pipeline.actions.booking_copies import drop_copies
from pipeline.actions.bookings import CREATION_IN_PROGRESS_DELAY_MS
from pipeline.actions.calendar_sync_requests import request_calendar_sync
from pipeline.actions.context import ActionContext
from pipeline.contract.booking import AttendeeResponseEntry, BookingState, ResponseType
from pipeline.contract.process_change import ProcessChangeKwargs, ProcessChangeResult
from pipeline.errors import ErrorCode, PermanentError, RetryableError
from pipeline.events.models import (
    AttendeeRespondedData,
    BookingDeletedInExchangeData,
    BookingMovedInExchangeData,
    BookingRestoredData,
    PipelineEvent,
)
from pipeline.exchange.base import ExchangeGateway
from pipeline.exchange.push import ChangedItem
from pipeline.exchange.types import EventChanges, EventRef, NotifyAttendees
from pipeline.store.records import BookingChanges, BookingRecord, SubscriptionRecord

__all__ = ["process_change"]

_GONE = {"deleted"}
_RELOCATED = {"moved"}
# Responses that are not an answer: an attendee "answering" one of these has said nothing new.
_NOT_ANSWERS = {ResponseType.NONE, ResponseType.UNKNOWN, ResponseType.ORGANIZER}
# How long to wait for an update_event job that changed the item but has not recorded it yet.
_UPDATE_IN_FLIGHT_DELAY_MS = 5_000


class _Calendar:
    """The subscription's calendar, whose folder id is asked of Exchange at most once."""

    def __init__(self, gateway: ExchangeGateway) -> None:
        self.gateway = gateway
        self._folder_id: str | None = None

    def folder_id(self) -> str:
        if self._folder_id is None:
            self._folder_id = self.gateway.calendar_folder_id()
        return self._folder_id


def process_change(context: ActionContext, kwargs: ProcessChangeKwargs) -> ProcessChangeResult:
    """Apply one notification's events to the bookings they touch."""
    subscription = _subscription(context, kwargs.subscription_id)
    kinds_by_item: dict[str, set[str]] = {}
    moved_to: dict[str, str | None] = {}  # the folder a moved item went to, as the event says
    for event in kwargs.events:
        if event.item_id:
            kinds_by_item.setdefault(event.item_id, set()).add(event.event_type)
            if event.event_type in _RELOCATED:
                moved_to[event.item_id] = event.folder_id
    updated: list[str] = []
    cancelled: list[str] = []
    foreign = False  # an item that is not one of our bookings: the calendar sync reports it
    if kinds_by_item:
        calendar = _Calendar(context.gateway(subscription.mailbox))
        # A deleted item is gone: there is nothing to read, its booking is found by item id.
        to_read = [item_id for item_id, kinds in kinds_by_item.items() if not kinds & _GONE]
        answers = calendar.gateway.read_changed_items(to_read) if to_read else []
        read = dict(zip(to_read, answers, strict=True))
        for item_id, kinds in kinds_by_item.items():
            item = read.get(item_id)
            if kinds & _GONE:
                key, ours = _delete_unreadable(context, calendar, item_id, None)
                foreign |= not ours
            elif item is None and kinds & _RELOCATED:
                key, ours = _delete_unreadable(context, calendar, item_id, moved_to.get(item_id))
                foreign |= not ours
            elif item is None:
                continue  # gone since: its own event tells
            elif item.booking_key is None:
                foreign = True
                continue
            elif item.is_copy:
                continue  # a booking's copy (an additional booking calendar): its booking is elsewhere
            else:
                outcome = _apply(context, calendar, item, kinds)
                if outcome == "updated":
                    updated.append(item.booking_key)
                key = item.booking_key if outcome == "cancelled" else None
            if key is not None:
                cancelled.append(key)
    if foreign:
        request_calendar_sync(context, subscription.mailbox)
    return ProcessChangeResult(
        processed=len(kwargs.events), updated_bookings=updated, cancelled_bookings=cancelled
    )


def _subscription(context: ActionContext, record_id: str) -> SubscriptionRecord:
    record = context.store.get_subscription(record_id)
    if record is None or record.integration_id != context.integration.integration_id:
        raise PermanentError(
            ErrorCode.SUBSCRIPTION_NOT_FOUND,
            f"no subscription {record_id} in integration {context.integration.integration_id}",
        )
    return record


def _live_booking_here(booking: BookingRecord, calendar: _Calendar) -> bool:
    # An attendee's copy can carry the organiser's stamp: only the booking's own calendar counts,
    # and subscriptions watch default calendars, not a secondary or shared booking calendar.
    mailbox = calendar.gateway.target.mailbox
    return not booking.cancelled and booking.calendar_mailbox == mailbox and not booking.calendar_folder_id


def _delete_unreadable(
    context: ActionContext, calendar: _Calendar, item_id: str, moved_to: str | None
) -> tuple[str | None, bool]:
    """Mark deleted the booking whose item was deleted (moved_to None) or moved out of sight.

    Returns (its key if this call marked it, whether the item is one of our bookings at all).
    An item this logon cannot read that moved within the calendar leaves its booking alone.
    """
    integration_id = context.integration.integration_id
    booking = context.store.find_booking_by_item_id(integration_id, item_id)
    if booking is None:
        return None, False
    if not _live_booking_here(booking, calendar):
        return None, True
    if moved_to is not None and moved_to == calendar.folder_id():
        return None, True
    return (booking.booking_key if _mark_deleted(context, booking, item_id) else None), True


def _mark_deleted(context: ActionContext, booking: BookingRecord, item_id: str) -> bool:
    deleted = context.event(
        BookingDeletedInExchangeData(item_id=item_id, locked=context.integration.lock_appointments),
        booking_key=booking.booking_key, cause=item_id,
    )
    marked = context.store.mark_booking_cancelled(
        context.integration.integration_id, booking.booking_key, context.now(),
        state=BookingState.DELETED_IN_EXCHANGE, events=[deleted],
    )
    if marked:
        context.written([deleted])
        drop_copies(context, booking)  # its copies go with it: one DeleteItem each
    return marked


def _apply(context: ActionContext, calendar: _Calendar, item: ChangedItem, kinds: set[str]) -> str | None:
    """'cancelled', 'updated' or None (nothing to record) for one stamped item."""
    integration_id = context.integration.integration_id
    booking = context.store.get_booking(integration_id, item.booking_key or "")
    if booking is None or not _live_booking_here(booking, calendar):
        return None
    if booking.pending:
        # Its create_event job (or the one taking over from a dead one) is recording the item now.
        # Writing the item id here would make that job take the booking for recorded, and skip its
        # copies, its events and its state; the change is applied once the record is there.
        raise RetryableError(
            ErrorCode.CONFLICT, f"booking {booking.booking_key!r} is still being created",
            delay_ms=CREATION_IN_PROGRESS_DELAY_MS,
        )
    moved_out = bool(kinds & _RELOCATED) and item.parent_folder_id != calendar.folder_id()
    if item.is_cancelled or moved_out:
        return "cancelled" if _mark_deleted(context, booking, item.item_id) else None
    if (item.item_id, item.change_key) == (booking.item_id, booking.change_key):
        return None  # our own write, or already recorded
    _wait_for_our_own_update(context, item)
    changes, events = _time_changes(context, calendar, booking, item)
    responses, responded = _response_changes(context, booking, item)
    events += responded
    context.store.update_booking(
        integration_id, booking.booking_key,
        BookingChanges(
            item_id=changes.item_id or item.item_id, change_key=changes.change_key or item.change_key,
            state=changes.state, booked_start=changes.booked_start, booked_end=changes.booked_end,
            start=changes.start, end=changes.end, time_confirmed=changes.time_confirmed,
            responses=responses,
        ),
        context.now(), events=events,
    )
    context.written(events)
    return "updated"


def _wait_for_our_own_update(context: ActionContext, item: ChangedItem) -> None:
    """Retry later while an update_event job that changed this item has not recorded its new time.

    Its UpdateItem reaches Exchange (and this notification) before its booking record is written;
    reading the item in between would take the app's own move for a move made in Outlook, and a
    locked booking would be moved back to the time the app just changed.
    """
    if not item.last_update or item.last_update == context.message_id:
        return
    job = context.store.get_job(item.last_update)
    if job is not None and job.actor_name == "update_event" and not job.status.is_final:
        raise RetryableError(
            ErrorCode.CONFLICT, "an update_event job of this booking is still recording its change",
            delay_ms=_UPDATE_IN_FLIGHT_DELAY_MS,
        )


def _time_changes(
    context: ActionContext, calendar: _Calendar, booking: BookingRecord, item: ChangedItem
) -> tuple[BookingChanges, list[PipelineEvent]]:
    """What a move of the item in Exchange changes on the booking, and the event it makes."""
    if item.start is None or item.end is None:
        return BookingChanges(), []
    settings = context.integration
    booked = (booking.booked_start, booking.booked_end)
    if settings.lock_appointments and booking.booked_start and booking.booked_end:
        if (item.start, item.end) == booked:
            return BookingChanges(start=item.start, end=item.end), []
        return _move_back(context, calendar, booking, item, booking.booked_start, booking.booked_end)
    if (item.start, item.end) == (booking.start, booking.end):
        return BookingChanges(), []
    confirmed = settings.auto_confirm
    moved = context.event(
        BookingMovedInExchangeData(
            old_start=booking.start, old_end=booking.end, new_start=item.start, new_end=item.end,
            auto_confirmed=confirmed,
        ),
        booking_key=booking.booking_key, cause=item.change_key,
    )
    changes = BookingChanges(
        state=BookingState.MOVED, start=item.start, end=item.end, time_confirmed=confirmed,
        booked_start=item.start if confirmed else None, booked_end=item.end if confirmed else None,
    )
    return changes, [moved]


def _move_back(
    context: ActionContext, calendar: _Calendar, booking: BookingRecord, item: ChangedItem,
    start: datetime, end: datetime,
) -> tuple[BookingChanges, list[PipelineEvent]]:
    """One UpdateItem back to the booked time; the invited attendees get the update."""
    notify = NotifyAttendees.ALL if booking.invites_sent_to else NotifyAttendees.NONE
    ref = calendar.gateway.update_event(
        EventRef(item.item_id, item.change_key, booking.calendar_mailbox),
        EventChanges(start=start, end=end), notify=notify, marker=context.message_id,
    )
    restored = context.event(
        BookingRestoredData(moved_start=item.start or start, moved_end=item.end or end, start=start, end=end),
        booking_key=booking.booking_key, cause=item.change_key,
    )
    changes = BookingChanges(
        item_id=ref.item_id, change_key=ref.change_key, state=BookingState.RESTORED,
        start=start, end=end, time_confirmed=True,
    )
    return changes, [restored]


def _response_changes(
    context: ActionContext, booking: BookingRecord, item: ChangedItem
) -> tuple[dict[str, AttendeeResponseEntry] | None, list[PipelineEvent]]:
    """The booking's responses with what changed, and an event per changed response (None, [] if
    nothing did)."""
    responses = dict(booking.responses)
    events = []
    for attendee in item.attendees:
        previous = responses.get(attendee.email)
        if attendee.response in _NOT_ANSWERS and previous is None:
            continue
        if previous is not None and previous.response is attendee.response:
            continue
        responses[attendee.email] = AttendeeResponseEntry(
            response=attendee.response, responded_at=attendee.responded_at
        )
        answered_at = attendee.responded_at.isoformat() if attendee.responded_at else ""
        events.append(context.event(
            AttendeeRespondedData(
                attendee=attendee.email,
                attendee_class=booking.attendee_classes.get(attendee.email)
                or context.integration.attendee_class(attendee.email),
                response=attendee.response,
                previous_response=previous.response if previous else None,
                responded_at=attendee.responded_at,
            ),
            booking_key=booking.booking_key, cause=f"{attendee.email}|{attendee.response}|{answered_at}",
        ))
    return (responses if events else None), events


