"""update_event: change a booking's event, optionally notifying its attendees.

One UpdateItem on the common path. It writes only the fields the job names, with AlwaysOverwrite:
attendee responses touch the organiser's item all the time, so the recorded change key is often
stale, and the job's own fields should win anyway. The same request stamps the item LastUpdate
with the job's message id, so that a redelivered job first reads the item (GetItem) and does not
apply (and announce) the same update twice. A job that moves only one end of the event, or only
changes its time zone, also reads the item first, to check the range and keep the other end.

Attendees hear about the update only when the job asks (notify) and the invitations have gone
out already: before send_invite there is nobody to update, and send_invite will invite them with
the event as it is then. When only attendees or rooms change, only the added and removed hear.

Copies of the booking in additional booking calendars (booking_copies.py) get the same change,
one UpdateItem each, telling nobody; a change of attendees or rooms alone leaves them alone.
"""

from __future__ import annotations

from dataclasses import replace

from pipeline.actions.booking_copies import update_copies
from pipeline.actions.bookings import (
    booking_ref,
    is_redelivery,
    render_event_text,
    require_booking,
    template_people,
    with_job_mailbox,
)
from pipeline.actions.calendar_access import calendar_gateway
from pipeline.actions.context import ActionContext
from pipeline.contract import UpdateEventKwargs, UpdateEventResult
from pipeline.contract.booking import BookingCopy
from pipeline.errors import ErrorCode, PermanentError
from pipeline.events.models import BookingUpdatedData
from pipeline.exchange.base import ExchangeGateway
from pipeline.exchange.types import BodyType, EventChanges, EventRef, NotifyAttendees
from pipeline.store.records import BookingChanges, BookingRecord, BookingState
from pipeline.templates import BookingFacts, booking_variable

__all__ = ["update_event"]


def update_event(context: ActionContext, kwargs: UpdateEventKwargs) -> UpdateEventResult:
    """Apply the job's changes to the booking's event once."""
    booking = require_booking(context, kwargs.booking_key, kwargs.mailbox)
    if booking.cancelled:
        raise PermanentError(ErrorCode.CONFLICT, f"booking {kwargs.booking_key!r} has been cancelled")
    gateway = context.gateway(kwargs.mailbox)
    # Rendered before any request: a template that fails changes nothing.
    changes = _changes(context, kwargs, gateway, booking)
    ref = booking_ref(booking)
    item_gateway = calendar_gateway(context, gateway, booking.calendar_mailbox)
    invited = bool(booking.invites_sent_to)
    notify = NotifyAttendees.NONE
    if kwargs.notify and invited:
        notify = NotifyAttendees.CHANGED if changes.changes_attendees_only else NotifyAttendees.ALL
    # What the attendees hear: what the job asked for, or, where the backend tells them of every
    # change itself, everything once they are invited.
    always_told = invited and item_gateway.tells_attendees_of_every_change
    notified = notify is not NotifyAttendees.NONE or always_told
    one_end_moves = (changes.start is None) != (changes.end is None)
    zone_only = changes.time_zone is not None and changes.start is None and changes.end is None
    if one_end_moves or zone_only or is_redelivery(context):
        state = item_gateway.read_event(ref)
        if state is None:
            raise PermanentError(ErrorCode.ITEM_NOT_FOUND, "the booking's event is no longer in Exchange")
        if state.last_update == context.message_id:
            # An earlier delivery of this job applied the update (and, first, the copies'); only
            # the table was left behind.
            copies = update_copies(context, gateway, booking, changes)
            return _recorded(context, booking, changes, state.ref, copies, notified=notified)
        start = changes.start or state.start
        end = changes.end or state.end
        if start is not None and end is not None and end <= start:
            raise PermanentError(ErrorCode.INVALID_KWARGS, "end must be after start (of the stored event)")
        if zone_only and start is not None and end is not None:
            changes = replace(changes, start=start, end=end)
        ref = state.ref
    # The copies first: a copy that cannot be written fails the job before anyone hears of it.
    copies = update_copies(context, gateway, booking, changes)
    new_ref = item_gateway.update_event(ref, changes, notify=notify, marker=context.message_id)
    return _recorded(context, booking, changes, new_ref, copies, notified=notified)


def _changes(
    context: ActionContext, kwargs: UpdateEventKwargs, gateway: ExchangeGateway, booking: BookingRecord
) -> EventChanges:
    variables = {
        **kwargs.template_vars,
        "booking_key": kwargs.booking_key,
        "mailbox": kwargs.mailbox,
        "start": kwargs.start.isoformat() if kwargs.start else "",
        "end": kwargs.end.isoformat() if kwargs.end else "",
        "time_zone": kwargs.time_zone or "",
        "location": kwargs.location or "",
        "booking": booking_variable(
            _facts(kwargs, booking), context.integration.attendee_class, kwargs.template_vars
        ),
    }
    html = kwargs.body_type == "html"
    # No defaults: a field the job leaves out stays as it is in Exchange.
    subject, body = render_event_text(
        context, kwargs.subject, kwargs.body, variables, html=html, defaults=False
    )
    required = kwargs.required_attendees
    return EventChanges(
        subject=subject,
        body=body,
        body_type=BodyType.HTML if html else BodyType.TEXT,
        start=kwargs.start,
        end=kwargs.end,
        time_zone=kwargs.time_zone,
        location=kwargs.location,
        required_attendees=None if required is None else with_job_mailbox(
            gateway.target, (a.email for a in required), booking.calendar_mailbox
        ),
        optional_attendees=None if kwargs.optional_attendees is None else tuple(
            a.email for a in kwargs.optional_attendees
        ),
        rooms=None if kwargs.rooms is None else tuple(kwargs.rooms),
    )


def _facts(kwargs: UpdateEventKwargs, booking: BookingRecord) -> BookingFacts:
    """The job's fields; the time falls back to the booked time (the record keeps no time zone)."""
    return BookingFacts(
        booking_key=kwargs.booking_key,
        mailbox=kwargs.mailbox,
        time_zone=kwargs.time_zone or "UTC",
        start=kwargs.start or booking.booked_start,
        end=kwargs.end or booking.booked_end,
        location=kwargs.location,
        attendees=template_people(kwargs.required_attendees, kwargs.optional_attendees),
        rooms=tuple(kwargs.rooms or ()),
    )


def _recorded(
    context: ActionContext, booking: BookingRecord, changes: EventChanges, ref: EventRef,
    copies: tuple[BookingCopy, ...] | None, *, notified: bool,
) -> UpdateEventResult:
    store = context.store
    integration_id = context.integration.integration_id
    attendees = _attendees_after(booking, changes)
    if attendees != booking.attendees and notified:
        added = [email for email in attendees if email not in booking.attendees]
        store.record_invites_sent(integration_id, booking.booking_key, added, context.now(), seen=booking)
    start = changes.start or booking.booked_start
    end = changes.end or booking.booked_end
    moves = changes.start is not None or changes.end is not None
    state = None
    if moves and booking.state in (BookingState.MOVED, BookingState.RESTORED):
        # The app has set the time itself: whatever happened in Exchange before is settled.
        state = BookingState.INVITED if booking.invites_sent_to else BookingState.BOOKED
    record = BookingChanges(
        item_id=ref.item_id,
        change_key=ref.change_key,
        attendees=attendees if attendees != booking.attendees else None,
        attendee_classes={email: context.integration.attendee_class(email) for email in attendees}
        if attendees != booking.attendees else None,
        booked_start=start if moves else None,
        booked_end=end if moves else None,
        start=start if moves else None,
        end=end if moves else None,
        time_confirmed=True if moves else None,
        state=state,
        copies=copies,
    )
    updated = context.event(
        BookingUpdatedData(start=start, end=end, notified=notified), booking_key=booking.booking_key
    )
    result = UpdateEventResult(
        booking_key=booking.booking_key, item_id=ref.item_id, change_key=ref.change_key, notified=notified
    )
    # The job's last write: the change, its event and the job's success in one transaction.
    context.finish(result, lambda done: store.update_booking(
        integration_id, booking.booking_key, record, context.now(), events=[updated], completes=done))
    context.written([updated])
    return result


def _attendees_after(booking: BookingRecord, changes: EventChanges) -> tuple[str, ...]:
    """Everyone the event invites after the update (the record keeps one flat list, so a list the
    job leaves out keeps all its old members; exact when the job replaces all three lists)."""
    lists = (changes.required_attendees, changes.optional_attendees, changes.rooms)
    if all(group is None for group in lists):
        return booking.attendees
    if all(group is not None for group in lists):
        return tuple(dict.fromkeys(email for group in lists for email in group or ()))
    given = [email for group in lists for email in group or ()]
    return tuple(dict.fromkeys([*booking.attendees, *given]))
