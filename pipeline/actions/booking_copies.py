"""Where a booking is written: its booking calendar, and copies in the additional booking calendars.

The booking calendar (docs/calendars.md) is the job person's override's, else the integration's,
else the default calendar of the mailbox the connection method writes to (addressed without a
look-up, as before calendars could be configured). Each additional booking calendar gets a copy:
the booking's subject, body, time, location, categories and privacy, with no attendees and no
reminder (so nobody is invited, and nobody can send the copy as a meeting), stamped with the
booking key and CopyOf (booking_stamp.py). Every calendar is found and checked (Editor or
Delegate) before the booking is claimed, so a shortfall leaves nothing behind.

Requests on the common path: one CreateItem per copy (create_event), one UpdateItem per copy
when the update touches what a copy shows (update_event), one DeleteItem per copy
(cancel_event, and process_change when the booking was deleted in Exchange). A redelivered job
that may have written before looks for the copy by its stamp first (FindItem), so no calendar
ever holds two.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

from pipeline.actions.calendar_access import OpenCalendar, calendar_errors, calendar_gateway, open_calendar
from pipeline.actions.context import ActionContext
from pipeline.calendar_settings import calendars_for
from pipeline.contract.booking import BookingCopy
from pipeline.errors import ErrorCode, PermanentError, PipelineError
from pipeline.exchange.base import ExchangeGateway
from pipeline.exchange.calendars import CalendarFolder
from pipeline.exchange.types import EventChanges, EventDraft, EventRef, NotifyAttendees
from pipeline.store.records import BookingRecord

__all__ = [
    "copy_changes",
    "create_copies",
    "delete_copies",
    "drop_copies",
    "open_booking_calendars",
    "update_copies",
]

log = logging.getLogger(__name__)


def open_booking_calendars(
    context: ActionContext, job_gateway: ExchangeGateway, person: str
) -> tuple[OpenCalendar, tuple[OpenCalendar, ...]]:
    """The booking calendar and the additional ones for `person`, each checked for writing."""
    choice = calendars_for(context.integration, person)
    target = job_gateway.target.mailbox
    main = open_calendar(context, job_gateway, choice.booking_calendar, target, for_writing=True)
    copies: list[OpenCalendar] = []
    for ref in choice.additional_booking_calendars:
        opened = open_calendar(context, job_gateway, ref, target, for_writing=True)
        if _same(opened, main):
            raise PermanentError(
                ErrorCode.INVALID_INTEGRATION,
                f"the additional booking calendar {opened.description} is the booking calendar itself",
            )
        if not any(_same(opened, earlier) for earlier in copies):
            copies.append(opened)
    return main, tuple(copies)


def create_copies(
    calendars: Sequence[OpenCalendar], draft: EventDraft, *, look_first: bool
) -> tuple[BookingCopy, ...]:
    """A copy of the booking in each calendar; with look_first, one an earlier attempt made is kept."""
    copy = replace(
        draft, required_attendees=(), optional_attendees=(), rooms=(), reminder_minutes=None, is_copy=True
    )
    made = []
    for calendar in calendars:
        with calendar_errors(calendar.gateway, calendar.description, for_writing=True):
            found = (
                calendar.gateway.find_event_by_booking_key(draft.booking_key, calendar.folder, copy=True)
                if look_first else None
            )
            ref = found or calendar.gateway.create_event(copy, calendar.folder)
        made.append(BookingCopy(
            calendar=calendar.label, mailbox=calendar.owner,
            folder_id=calendar.folder.folder_id if calendar.folder else None,
            item_id=ref.item_id, change_key=ref.change_key,
        ))
    return tuple(made)


def copy_changes(changes: EventChanges) -> EventChanges | None:
    """What of an update a copy shows (not attendees or rooms); None when that is nothing."""
    shown = EventChanges(
        subject=changes.subject, body=changes.body, body_type=changes.body_type, start=changes.start,
        end=changes.end, time_zone=changes.time_zone, location=changes.location,
    )
    return None if shown.changes_attendees_only else shown


def update_copies(
    context: ActionContext, job_gateway: ExchangeGateway, booking: BookingRecord, changes: EventChanges
) -> tuple[BookingCopy, ...] | None:
    """Apply the update to every copy, telling nobody; the copies' new versions (None: no change).

    update_event calls it before it changes the booking, so that a copy it cannot write fails the
    job before anyone is told. AlwaysOverwrite with the same values: a redelivery applies it
    again, harmlessly. A copy someone has deleted stays deleted.
    """
    shown = copy_changes(changes)
    if shown is None or not booking.copies:
        return None
    updated = []
    for copy in booking.copies:
        gateway = calendar_gateway(context, job_gateway, copy.mailbox)
        try:
            with calendar_errors(gateway, _description(copy), for_writing=True):
                ref = gateway.update_event(
                    EventRef(copy.item_id, copy.change_key, copy.mailbox), shown,
                    notify=NotifyAttendees.NONE, marker=context.message_id,
                )
        except PermanentError as refused:
            if refused.code is not ErrorCode.ITEM_NOT_FOUND:
                raise
            ref = EventRef(copy.item_id, copy.change_key, copy.mailbox)
        updated.append(copy.model_copy(update={"item_id": ref.item_id, "change_key": ref.change_key}))
    return tuple(updated)


def delete_copies(
    context: ActionContext, job_gateway: ExchangeGateway, booking: BookingRecord, *, look_first: bool
) -> None:
    """Delete every copy (the integration's delete type, no cancellations). With look_first (an
    earlier attempt may have deleted them), only a copy still in its calendar is deleted."""
    for copy in booking.copies:
        gateway = calendar_gateway(context, job_gateway, copy.mailbox)
        with calendar_errors(gateway, _description(copy), for_writing=True):
            ref: EventRef | None = EventRef(copy.item_id, copy.change_key, copy.mailbox)
            if look_first:
                folder = CalendarFolder(copy.mailbox, copy.folder_id) if copy.folder_id else None
                ref = gateway.find_event_by_booking_key(booking.booking_key, folder, copy=True)
            if ref is not None:
                gateway.cancel_event(
                    ref, delete_type=context.integration.delete_type, send_cancellations=False
                )


def drop_copies(context: ActionContext, booking: BookingRecord) -> None:
    """After the booking was deleted in Exchange (process_change): delete its copies, best effort.

    A copy that cannot be deleted must not stop the other changes of the notification from being
    applied: it is logged (by code, without addresses) and left for cancel_event's app to see.
    """
    if not booking.copies:
        return
    try:
        delete_copies(context, context.gateway(booking.mailbox), booking, look_first=False)
    except PipelineError as failed:
        log.warning("booking %s: its copies were not all deleted (%s)", booking.booking_key, failed.code)


def _same(one: OpenCalendar, other: OpenCalendar) -> bool:
    if one.folder is None or other.folder is None:
        return one.folder is None and other.folder is None and one.owner == other.owner
    return one.folder.folder_id == other.folder.folder_id


def _description(copy: BookingCopy) -> str:
    return f"additional booking calendar {copy.calendar!r} of {copy.mailbox}"
