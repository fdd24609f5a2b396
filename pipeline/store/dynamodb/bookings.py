"""Booking records: where a booking's event is, and who has been invited to it."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from pipeline.contract.booking import (
    AttendeeClass,
    AttendeeResponseEntry,
    BookingCopy,
    BookingItem,
    BookingState,
)
from pipeline.errors import ErrorCode, PermanentError, RetryableError
from pipeline.events.models import PipelineEvent
from pipeline.store.dynamodb.events import event_items
from pipeline.store.dynamodb.items import booking_from_item, booking_item_as_json, iso
from pipeline.store.dynamodb.keys import (
    BOOKING_ITEM_ATTRIBUTE,
    BOOKING_ITEM_INDEX,
    booking_item,
)
from pipeline.store.dynamodb.keys import booking_key as _booking_key
from pipeline.store.dynamodb.table import ConditionFailed, Item, TableClient, TransactUpdate
from pipeline.store.records import BookingChanges, BookingRecord

__all__ = ["BookingTable"]

_TIMES = ("booked_start", "booked_end", "start", "end")  # stored as ISO strings


def _not_found(integration_id: str, booking_key: str) -> PermanentError:
    return PermanentError(ErrorCode.BOOKING_NOT_FOUND,
                          f"no booking {booking_key!r} in integration {integration_id!r}")


def _with_item_index(expression: str, values: dict[str, Any], integration_id: str,
                     item_id: str) -> str:
    """Extend a SET expression to keep the by-item-id index in step with item_id.

    The index attribute exists only while there is an item id (a pending claim has none, and an
    index key cannot be empty); a REMOVE clause follows the SET clause otherwise.
    """
    if item_id:
        values[":booking_item"] = booking_item(integration_id, item_id)
        return expression + f", {BOOKING_ITEM_ATTRIBUTE} = :booking_item"
    return expression + f" REMOVE {BOOKING_ITEM_ATTRIBUTE}"


class BookingTable:
    """The booking half of ResultsStore (see its docstrings for the contract)."""

    def __init__(self, table: TableClient) -> None:
        self.table = table

    def put_booking(self, booking: BookingRecord, events: Sequence[PipelineEvent] = (),
                    also: Sequence[TransactUpdate] = ()) -> None:
        """Store where the booking's item is; invites already recorded, a cancellation, the state
        and the times are kept (a redelivered create_event must not forget what came after it)."""
        expression = (
            "SET integration_id = :integration_id, booking_key = :booking_key, mailbox = :mailbox, "
            "calendar_mailbox = :calendar_mailbox, item_id = :item_id, change_key = :change_key, "
            "attendees = :attendees, updated_at = :now, cancelled = "
            + (":cancelled" if booking.cancelled else "if_not_exists(cancelled, :cancelled)")
            + ", #state = if_not_exists(#state, :state)"
            ", time_confirmed = if_not_exists(time_confirmed, :confirmed)"
            ", attendee_classes = if_not_exists(attendee_classes, :classes)"
            ", responses = if_not_exists(responses, :responses), copies = :copies"
        )
        values: dict[str, Any] = {
            ":integration_id": booking.integration_id, ":booking_key": booking.booking_key,
            ":mailbox": booking.mailbox, ":calendar_mailbox": booking.calendar_mailbox,
            ":item_id": booking.item_id, ":change_key": booking.change_key,
            ":now": iso(booking.updated_at), ":cancelled": booking.cancelled,
            ":attendees": [email.lower() for email in booking.attendees],
            ":state": booking.state.value, ":confirmed": booking.time_confirmed,
            ":classes": _classes(booking.attendee_classes), ":responses": _responses(booking.responses),
            ":copies": _copies(booking.copies),
        }
        if booking.calendar_folder_id:
            expression += ", calendar_folder_id = :calendar_folder_id"
            values[":calendar_folder_id"] = booking.calendar_folder_id
        for name in _TIMES:
            moment = getattr(booking, name)
            if moment is not None:
                expression += f", #{name} = if_not_exists(#{name}, :{name})"
                values[f":{name}"] = iso(moment)
        expression = _with_item_index(expression, values, booking.integration_id, booking.item_id)
        if booking.invites_sent_to:
            expression += " ADD invites_sent_to :invites"
            values[":invites"] = {email.lower() for email in booking.invites_sent_to}
        self.table.update_and_put(
            _booking_key(booking.integration_id, booking.booking_key), expression, event_items(events),
            names=_names(expression), values=values, also=also,
        )

    def claim_booking(self, booking: BookingRecord) -> BookingRecord | None:
        """Create the booking's record unless one exists: None when created, else the existing one."""
        item = {
            **_booking_key(booking.integration_id, booking.booking_key),
            "integration_id": booking.integration_id, "booking_key": booking.booking_key,
            "mailbox": booking.mailbox, "calendar_mailbox": booking.calendar_mailbox,
            "item_id": booking.item_id, "change_key": booking.change_key,
            "attendees": [email.lower() for email in booking.attendees],
            "claimed_by": booking.claimed_by or "", "updated_at": iso(booking.updated_at),
            "cancelled": booking.cancelled,
            "time_confirmed": booking.time_confirmed,
            "attendee_classes": _classes(booking.attendee_classes),
            "responses": _responses(booking.responses),
            "copies": _copies(booking.copies),
        }
        if booking.calendar_folder_id:
            item["calendar_folder_id"] = booking.calendar_folder_id
        item.update({name: iso(moment) for name in _TIMES if (moment := getattr(booking, name)) is not None})
        if booking.item_id:
            item[BOOKING_ITEM_ATTRIBUTE] = booking_item(booking.integration_id, booking.item_id)
            item["state"] = booking.state.value
        # else a pending claim: no state until put_booking records the item (booked, or invited
        # when its CreateItem sent the invitations), whichever job's put_booking comes first.
        try:
            # A whole-item conditional put: one atomic write, never a half-made record to read.
            self.table.put(item, condition="attribute_not_exists(pk)")
            return None
        except ConditionFailed:
            existing = self.get_booking(booking.integration_id, booking.booking_key)
            if existing is None:  # no booking record is ever deleted, but be safe
                raise RetryableError(
                    ErrorCode.CONFLICT, f"booking {booking.booking_key!r} vanished"
                ) from None
            return existing

    def get_booking(self, integration_id: str, booking_key: str) -> BookingRecord | None:
        item = self.table.get(_booking_key(integration_id, booking_key))
        return None if item is None else booking_from_item(item)

    def get_booking_item(self, integration_id: str, booking_key: str) -> BookingItem | None:
        item = self.table.get(_booking_key(integration_id, booking_key))
        return None if item is None else BookingItem.model_validate(booking_item_as_json(item))

    def find_booking_by_item_id(self, integration_id: str, item_id: str) -> BookingRecord | None:
        """The booking whose item id is item_id, or None.

        The index is eventually consistent: each hit is read again (strongly consistent) and
        kept only if the item id is still the booking's own.
        """
        if not item_id:
            return None
        for hit in self.table.query(BOOKING_ITEM_INDEX, BOOKING_ITEM_ATTRIBUTE,
                                    booking_item(integration_id, item_id)):
            item = self.table.get({"pk": hit["pk"], "sk": hit["sk"]})
            if item is not None and item.get("item_id") == item_id:
                return booking_from_item(item)
        return None

    def update_booking(self, integration_id: str, booking_key: str, changes: BookingChanges,
                       now: datetime, events: Sequence[PipelineEvent] = (),
                       also: Sequence[TransactUpdate] = ()) -> None:
        """Set the fields `changes` names (and write `events` in the same transaction)."""
        assignments = ["updated_at = :now"]
        values: dict[str, Any] = {":now": iso(now)}
        for name, value in _change_values(changes).items():
            assignments.append(f"#{name} = :{name}")
            values[f":{name}"] = value
        expression = "SET " + ", ".join(assignments)
        if changes.item_id is not None:
            expression = _with_item_index(expression, values, integration_id, changes.item_id)
        try:
            self.table.update_and_put(
                _booking_key(integration_id, booking_key), expression, event_items(events),
                condition="attribute_exists(pk)", names=_names(expression), values=values, also=also,
            )
        except ConditionFailed:
            raise _not_found(integration_id, booking_key) from None

    def record_invites_sent(
        self, integration_id: str, booking_key: str, recipients: Sequence[str], now: datetime, *,
        item: tuple[str, str] | None = None,
        events: Callable[[tuple[str, ...]], Sequence[PipelineEvent]] | None = None,
        seen: BookingRecord | None = None, also: Sequence[TransactUpdate] = (),
    ) -> tuple[str, ...]:
        """Add the recipients not yet recorded; return those this call added.

        Atomic: of two concurrent calls, each recipient is returned to exactly one, so a caller
        may use it to claim recipients before sending. Raises PermanentError(BOOKING_NOT_FOUND).
        `seen` (the record as the caller read it) stands in for the first read; `also` is written
        in the same transaction, or on its own when no recipient is new.
        """
        wanted = tuple(dict.fromkeys(email.lower() for email in recipients))
        key = _booking_key(integration_id, booking_key)
        # Optimistic concurrency on a version counter: one condition of fixed size, however many
        # recipients (a condition per recipient would pass DynamoDB's 4 KB expression limit).
        stored: Item | None = None if seen is None else _invites_of(seen)
        for _ in range(8):
            if stored is None:
                stored = self.table.get(key)
            if stored is None:
                raise _not_found(integration_id, booking_key)
            recorded = stored.get("invites_sent_to", set())
            new = tuple(email for email in wanted if email not in recorded)
            if not new:
                for other in also:
                    self.table.update_other(other)
                return ()
            seen_version = stored.get("invites_version", 0)
            expression = "ADD invites_sent_to :new SET updated_at = :now, invites_version = :next"
            values: dict[str, Any] = {":new": set(new), ":now": iso(now), ":next": seen_version + 1,
                                      **({":seen": seen_version} if seen_version else {})}
            if stored.get("state", BookingState.BOOKED.value) == BookingState.BOOKED.value:
                expression += ", #state = :invited"
                values[":invited"] = BookingState.INVITED.value
            if item is not None:
                expression += ", item_id = :item_id, change_key = :change_key"
                values.update({":item_id": item[0], ":change_key": item[1]})
                expression = _with_item_index(expression, values, integration_id, item[0])
            try:
                self.table.update_and_put(
                    key, expression, event_items(events(new) if events else ()),
                    condition="attribute_exists(pk) AND "
                    + ("invites_version = :seen" if seen_version
                       else "attribute_not_exists(invites_version)"),
                    names=_names(expression), values=values, also=also,
                )
                return new
            except ConditionFailed as changed:
                # Another sender recorded some first (or the record is gone): look again, at the
                # record as the failed write found it.
                stored = changed.old
                if stored is None:
                    raise _not_found(integration_id, booking_key) from None
        raise RetryableError(ErrorCode.CONFLICT, f"invites of booking {booking_key!r} kept changing")

    def mark_booking_cancelled(self, integration_id: str, booking_key: str, now: datetime, *,
                               state: BookingState = BookingState.CANCELLED,
                               events: Sequence[PipelineEvent] = ()) -> bool:
        try:
            self.table.update_and_put(
                _booking_key(integration_id, booking_key),
                "SET cancelled = :true, updated_at = :now, #state = :state",
                event_items(events),
                condition="attribute_exists(pk) AND cancelled <> :true",
                names={"#state": "state"},
                values={":true": True, ":now": iso(now), ":state": state.value},
            )
            return True
        except ConditionFailed:
            if self.get_booking(integration_id, booking_key) is None:
                raise _not_found(integration_id, booking_key) from None
            return False


def _invites_of(booking: BookingRecord) -> Item:
    """The attributes record_invites_sent decides on, from a record read before."""
    values: Item = {"state": booking.state.value}
    if booking.invites_sent_to:
        values["invites_sent_to"] = set(booking.invites_sent_to)
    if booking.invites_version:
        values["invites_version"] = booking.invites_version
    return values


def _classes(classes: Mapping[str, AttendeeClass]) -> dict[str, str]:
    return {email.lower(): value.value for email, value in classes.items()}


def _responses(responses: Mapping[str, AttendeeResponseEntry]) -> dict[str, Any]:
    return {email.lower(): entry.model_dump(mode="json") for email, entry in responses.items()}


def _copies(copies: Sequence[BookingCopy]) -> list[dict[str, Any]]:
    return [copy.model_dump(mode="json") for copy in copies]


def _change_values(changes: BookingChanges) -> dict[str, Any]:
    """The attribute values a BookingChanges sets (names as stored)."""
    values: dict[str, Any] = {}
    for name in ("item_id", "change_key", "time_confirmed"):
        if getattr(changes, name) is not None:
            values[name] = getattr(changes, name)
    for name in _TIMES:
        if getattr(changes, name) is not None:
            values[name] = iso(getattr(changes, name))
    if changes.state is not None:
        values["state"] = changes.state.value
        values["cancelled"] = changes.state.is_gone
    if changes.attendees is not None:
        values["attendees"] = [email.lower() for email in changes.attendees]
    if changes.attendee_classes is not None:
        values["attendee_classes"] = _classes(changes.attendee_classes)
    if changes.responses is not None:
        values["responses"] = _responses(changes.responses)
    if changes.copies is not None:
        values["copies"] = _copies(changes.copies)
    return values


# Attribute names that DynamoDB reserves (state, start, end) go through placeholders; every
# `#name` in an expression maps to itself.
def _names(expression: str) -> dict[str, str]:
    return {f"#{name}": name for name in re.findall(r"#(\w+)", expression)}
