"""process_change: bring booking records in line with the changes a push notification reported.

The items named by the events are read in one GetItem; those stamped with a booking key of a
booking in the subscription's calendar update that booking: a new item id or change key is
recorded, and an item that was cancelled, deleted or moved out of the calendar (Deleted Items,
a declined copy) marks the booking cancelled. Items without a stamp are someone else's events.
A move costs one more request (GetFolder) to tell "out of the calendar" from "within it".
"""

from __future__ import annotations

from pipeline.actions.context import ActionContext
from pipeline.contract.process_change import ProcessChangeKwargs, ProcessChangeResult
from pipeline.errors import ErrorCode, PermanentError
from pipeline.exchange.base import ExchangeGateway
from pipeline.exchange.push import ChangedItem
from pipeline.store.records import SubscriptionRecord

__all__ = ["process_change"]

_GONE = {"deleted"}
_RELOCATED = {"moved"}


def process_change(context: ActionContext, kwargs: ProcessChangeKwargs) -> ProcessChangeResult:
    """Apply one notification's events to the bookings they touch."""
    subscription = _subscription(context, kwargs.subscription_id)
    kinds_by_item: dict[str, set[str]] = {}
    for event in kwargs.events:
        if event.item_id:
            kinds_by_item.setdefault(event.item_id, set()).add(event.event_type)
    updated: list[str] = []
    cancelled: list[str] = []
    if kinds_by_item:
        gateway = context.gateway(subscription.mailbox)
        item_ids = list(kinds_by_item)
        items = gateway.read_changed_items(item_ids)
        calendar_id = _calendar_id_if_needed(gateway, kinds_by_item, items)
        for item_id, item in zip(item_ids, items, strict=True):
            if item is None or item.booking_key is None:
                # Gone for good (hard delete) or not ours: without a lookup by item id there is
                # no booking to find for a hard-deleted item.
                continue
            outcome = _apply(context, gateway, item, kinds_by_item[item_id], calendar_id)
            if outcome == "cancelled":
                cancelled.append(item.booking_key)
            elif outcome == "updated":
                updated.append(item.booking_key)
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


def _calendar_id_if_needed(
    gateway: ExchangeGateway, kinds_by_item: dict[str, set[str]], items: list[ChangedItem | None]
) -> str | None:
    moved_stamped = any(
        item is not None and item.booking_key and kinds & _RELOCATED
        for kinds, item in zip(kinds_by_item.values(), items, strict=True)
    )
    return gateway.calendar_folder_id() if moved_stamped else None


def _apply(
    context: ActionContext,
    gateway: ExchangeGateway,
    item: ChangedItem,
    kinds: set[str],
    calendar_id: str | None,
) -> str | None:
    """'cancelled', 'updated' or None (nothing to record) for one stamped item."""
    integration_id = context.integration.integration_id
    booking_key = item.booking_key or ""
    booking = context.store.get_booking(integration_id, booking_key)
    # An attendee's copy can carry the organiser's stamp: only the booking's own calendar counts.
    if booking is None or booking.calendar_mailbox != gateway.target.mailbox or booking.cancelled:
        return None
    moved_out = bool(kinds & _RELOCATED) and item.parent_folder_id != calendar_id
    if item.is_cancelled or kinds & _GONE or moved_out:
        changed = context.store.mark_booking_cancelled(integration_id, booking_key, context.now())
        return "cancelled" if changed else None
    if (item.item_id, item.change_key) == (booking.item_id, booking.change_key):
        return None  # our own write, or already recorded
    context.store.update_booking_item(
        integration_id, booking_key, item.item_id, item.change_key, context.now()
    )
    return "updated"
