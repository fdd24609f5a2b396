"""cancel_event: cancel a booking's event, deleting it the way the integration says.

One DeleteItem on the common path, none when the booking is already cancelled. The booking record
is marked cancelled (a conditional write) before the delete, so of two jobs cancelling the same
booking only one deletes and sends cancellations. A redelivery of the job that marked it, which
may have died before or after its DeleteItem, looks for the stamped event in the calendar
(FindItem) and deletes it only if it is still there: a moved or soft-deleted item would otherwise
be deleted, and announced, a second time.

Cancellations go to the attendees only when the job asks (notify) and they were invited: people
who never had an invitation are not told that it is off. The job's `reason` is the cancellation's
text on Graph (the comment of `POST .../cancel`); EWS DeleteItem carries no text, so on EWS it is
not sent (Exchange's own cancellation notice is).

Copies of the booking in additional booking calendars (booking_copies.py) are deleted too, one
DeleteItem each, without cancellations; a redelivery deletes only those still in their calendar.
"""

from __future__ import annotations

from pipeline.actions.booking_copies import delete_copies
from pipeline.actions.bookings import booking_ref, is_redelivery, require_booking
from pipeline.actions.calendar_access import calendar_gateway
from pipeline.actions.context import ActionContext
from pipeline.contract import CancelEventKwargs, CancelEventResult
from pipeline.events.models import BookingCancelledData
from pipeline.exchange.calendars import CalendarFolder
from pipeline.exchange.types import EventRef

__all__ = ["cancel_event"]


def cancel_event(context: ActionContext, kwargs: CancelEventKwargs) -> CancelEventResult:
    """Delete the booking's event once, telling its invited attendees when asked."""
    booking = require_booking(context, kwargs.booking_key, kwargs.mailbox)
    redelivery = is_redelivery(context)
    if booking.cancelled and not redelivery:
        return _result(kwargs, already_cancelled=True)
    invited = bool(booking.invites_sent_to)
    notify = kwargs.notify and invited
    job_gateway = context.gateway(kwargs.mailbox)
    # On a backend that always tells an invited meeting's attendees of its deletion, they hear of
    # it whatever the job asked; the event says so.
    notified = notify or (invited and job_gateway.tells_attendees_of_every_change)
    cancelled = context.event(BookingCancelledData(notified=notified), booking_key=kwargs.booking_key)
    marked = context.store.mark_booking_cancelled(
        context.integration.integration_id, kwargs.booking_key, context.now(), events=[cancelled]
    )
    if marked:
        context.written([cancelled])
    if not marked and not redelivery:
        return _result(kwargs, already_cancelled=True)  # another job cancelled it meanwhile
    gateway = calendar_gateway(context, job_gateway, booking.calendar_mailbox)
    ref: EventRef | None = booking_ref(booking)
    if not marked:
        # This job's earlier attempt marked it; did that attempt also delete the event?
        folder_id = booking.calendar_folder_id
        calendar = CalendarFolder(booking.calendar_mailbox, folder_id) if folder_id else None
        ref = gateway.find_event_by_booking_key(kwargs.booking_key, calendar)
    if ref is not None:
        gateway.cancel_event(
            ref,
            delete_type=context.integration.delete_type,
            send_cancellations=notify,
            comment=kwargs.reason,
        )
    delete_copies(context, job_gateway, booking, look_first=not marked)
    return _result(kwargs, already_cancelled=False)


def _result(kwargs: CancelEventKwargs, *, already_cancelled: bool) -> CancelEventResult:
    return CancelEventResult(
        booking_key=kwargs.booking_key, cancelled=True, already_cancelled=already_cancelled
    )
