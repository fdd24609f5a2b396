"""What the event actions share: finding a booking's record, spotting a redelivery, the event's
text, and how invitations that went out are reported.

Not an action itself; create_event, send_invite, update_event and cancel_event build on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pipeline.actions.context import ActionContext
from pipeline.contract.common import Attendee
from pipeline.errors import ErrorCode, PermanentError, RetryableError
from pipeline.events.models import BookingInvitationsSentData, PipelineEvent
from pipeline.exchange.types import EventRef, MailboxTarget
from pipeline.store.records import BookingRecord
from pipeline.templates import TemplatePerson, render_body, render_subject

__all__ = [
    "booking_ref",
    "invitations_sent",
    "is_redelivery",
    "render_event_text",
    "require_booking",
    "template_people",
    "with_job_mailbox",
]

# How long a job that found a booking still being created waits before looking again.
CREATION_IN_PROGRESS_DELAY_MS = 5_000


def require_booking(context: ActionContext, booking_key: str, mailbox: str) -> BookingRecord:
    """The booking's record, with its event created; the errors every follow-up action gives.

    BOOKING_NOT_FOUND (permanent) when the table has no such booking, CONFLICT (permanent) when it
    belongs to another mailbox, CONFLICT (retryable) while its create_event has not finished.
    """
    booking = context.store.get_booking(context.integration.integration_id, booking_key)
    if booking is None:
        raise PermanentError(
            ErrorCode.BOOKING_NOT_FOUND,
            f"no booking {booking_key!r} in integration {context.integration.integration_id!r}; "
            "run create_event first",
        )
    if booking.mailbox != mailbox:
        raise PermanentError(
            ErrorCode.CONFLICT, f"booking {booking_key!r} belongs to another mailbox than {mailbox}"
        )
    if booking.pending:
        raise RetryableError(
            ErrorCode.CONFLICT,
            f"the event of booking {booking_key!r} is still being created",
            delay_ms=CREATION_IN_PROGRESS_DELAY_MS,
        )
    return booking


def booking_ref(booking: BookingRecord) -> EventRef:
    """Where the booking's event is, as the gateway takes it."""
    return EventRef(item_id=booking.item_id, change_key=booking.change_key, mailbox=booking.calendar_mailbox)


def invitations_sent(
    context: ActionContext, booking_key: str, recipients: Iterable[str], *, cause: str | None = None
) -> PipelineEvent:
    """booking.invitations_sent: `recipients` were sent the meeting requests, by send_invite's
    UpdateItem or by create_event's CreateItem (send_invitations). `cause` as for context.event."""
    return context.event(
        BookingInvitationsSentData(recipients=list(recipients)), booking_key=booking_key, cause=cause
    )


def is_redelivery(context: ActionContext) -> bool:
    """True when an earlier delivery of this very message began running it (and may have written);
    begin_job counted the attempts, so this reads nothing."""
    return context.redelivered


def with_job_mailbox(
    target: MailboxTarget, required: Iterable[str], calendar_owner: str | None = None,
    person: str | None = None,
) -> tuple[str, ...]:
    """The required attendees; when the event is in someone else's calendar, the job's person is one.

    With the dedicated method the event sits in the service mailbox's calendar, and a booking
    calendar may be another mailbox's shared calendar (`calendar_owner`; default: the target's);
    that mailbox organises it, so the person the booking is for must be invited like everyone else.
    So too when the event is posted as its scheduler: `person` (default: the target's user) is
    the job's mailbox then, and the scheduler the target.
    """
    emails = [email.lower() for email in required]
    person = (person or target.user or "").lower() or None
    owner = (calendar_owner or target.mailbox).lower()
    if person and person != owner and person not in emails:
        emails.insert(0, person)
    return tuple(dict.fromkeys(emails))


def template_people(
    required: Iterable[Attendee] | None, optional: Iterable[Attendee] | None
) -> tuple[TemplatePerson, ...]:
    """The job's attendees as the templates see them: required first, then optional."""
    return tuple(
        TemplatePerson(
            email=attendee.email, name=attendee.name, role=attendee.role.value if attendee.role else None,
            time_zone=attendee.time_zone, required=is_required,
        )
        for group, is_required in ((required, True), (optional, False))
        for attendee in group or ()
    )


def render_event_text(
    context: ActionContext,
    subject: str | None,
    body: str | None,
    variables: Mapping[str, Any],
    *,
    html: bool,
    defaults: bool,
) -> tuple[str | None, str | None]:
    """The event's subject and body (docs/templates.md): the job's text rendered as Liquid over
    `variables`, or the default templates where the job gives none and `defaults` is set; then the
    integration's own templates, which see that text as `subject` and `body`. None stays None.

    Raises a permanent TEMPLATE_ERROR (no rendered text in it) for a template that fails, goes
    over a limit, or gives a subject over 255 characters: call it before writing anything.
    """
    settings = context.integration
    return (
        render_subject(subject, settings.subject_template, variables, defaults=defaults),
        render_body(body, settings.body_template, variables, html=html, defaults=defaults),
    )
