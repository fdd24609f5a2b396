"""process_change: bring booking records in line with the changes a push notification reported.

The items named by the events are read in one GetItem; those stamped with a booking key of a
booking in the subscription's calendar update that booking: a new item id or change key is
recorded, and an item that was cancelled or moved out of the calendar (Deleted Items, a declined
copy) marks the booking cancelled. Items without a stamp are someone else's events.

An item Exchange can no longer show is found by its item id in the results table instead:
- deleted (hard or soft): not read at all, its booking is marked cancelled without a request;
- moved where this logon cannot read it (a calendar delegate has no rights on Deleted Items):
  its booking is marked cancelled when the move left the calendar.
A move of one of our bookings costs one more request (GetFolder, at most one per job) to tell
"out of the calendar" from "within it".
"""

from __future__ import annotations

from pipeline.actions.context import ActionContext
from pipeline.contract.process_change import ProcessChangeKwargs, ProcessChangeResult
from pipeline.errors import ErrorCode, PermanentError
from pipeline.exchange.base import ExchangeGateway
from pipeline.exchange.push import ChangedItem
from pipeline.store.records import BookingRecord, SubscriptionRecord

__all__ = ["process_change"]

_GONE = {"deleted"}
_RELOCATED = {"moved"}


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
    if kinds_by_item:
        calendar = _Calendar(context.gateway(subscription.mailbox))
        # A deleted item is gone: there is nothing to read, its booking is found by item id.
        to_read = [item_id for item_id, kinds in kinds_by_item.items() if not kinds & _GONE]
        answers = calendar.gateway.read_changed_items(to_read) if to_read else []
        read = dict(zip(to_read, answers, strict=True))
        for item_id, kinds in kinds_by_item.items():
            item = read.get(item_id)
            if kinds & _GONE:
                key = _cancel_unreadable(context, calendar, item_id, None)
            elif item is None and kinds & _RELOCATED:
                key = _cancel_unreadable(context, calendar, item_id, moved_to.get(item_id))
            elif item is None or item.booking_key is None:
                continue  # gone since (its own event tells), or not ours
            else:
                outcome = _apply(context, calendar, item, kinds)
                if outcome == "updated":
                    updated.append(item.booking_key)
                key = item.booking_key if outcome == "cancelled" else None
            if key is not None:
                cancelled.append(key)
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
    # An attendee's copy can carry the organiser's stamp: only the booking's own calendar counts.
    return not booking.cancelled and booking.calendar_mailbox == calendar.gateway.target.mailbox


def _cancel_unreadable(
    context: ActionContext, calendar: _Calendar, item_id: str, moved_to: str | None
) -> str | None:
    """Cancel the booking whose item was deleted (moved_to None) or moved out of sight to moved_to.

    Returns its key if this call cancelled it. An item this logon cannot read that moved within
    the calendar (a private one, say) leaves its booking alone.
    """
    integration_id = context.integration.integration_id
    booking = context.store.find_booking_by_item_id(integration_id, item_id)
    if booking is None or not _live_booking_here(booking, calendar):
        return None
    if moved_to is not None and moved_to == calendar.folder_id():
        return None
    changed = context.store.mark_booking_cancelled(integration_id, booking.booking_key, context.now())
    return booking.booking_key if changed else None


def _apply(context: ActionContext, calendar: _Calendar, item: ChangedItem, kinds: set[str]) -> str | None:
    """'cancelled', 'updated' or None (nothing to record) for one stamped item."""
    integration_id = context.integration.integration_id
    booking_key = item.booking_key or ""
    booking = context.store.get_booking(integration_id, booking_key)
    if booking is None or not _live_booking_here(booking, calendar):
        return None
    moved_out = bool(kinds & _RELOCATED) and item.parent_folder_id != calendar.folder_id()
    if item.is_cancelled or moved_out:
        changed = context.store.mark_booking_cancelled(integration_id, booking_key, context.now())
        return "cancelled" if changed else None
    if (item.item_id, item.change_key) == (booking.item_id, booking.change_key):
        return None  # our own write, or already recorded
    context.store.update_booking_item(
        integration_id, booking_key, item.item_id, item.change_key, context.now()
    )
    return "updated"
