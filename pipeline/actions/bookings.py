"""What the event actions share: finding a booking's record, spotting a redelivery, the event's text.

Not an action itself; create_event, send_invite, update_event and cancel_event build on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pipeline.actions.context import ActionContext
from pipeline.errors import ErrorCode, PermanentError, RetryableError
from pipeline.exchange.types import EventRef, MailboxTarget
from pipeline.integrations import ConnectionMethod
from pipeline.store.records import BookingRecord
from pipeline.templates import render_template

__all__ = [
    "booking_ref",
    "is_redelivery",
    "render_event_text",
    "require_booking",
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


def is_redelivery(context: ActionContext) -> bool:
    """True when an earlier delivery of this very message began running it (and may have written)."""
    job = context.store.get_job(context.message_id)
    return job is not None and job.attempts > 1


def with_job_mailbox(target: MailboxTarget, required: Iterable[str]) -> tuple[str, ...]:
    """The required attendees; for a dedicated mailbox, the job's person is one of them.

    With the dedicated method the event sits in the service mailbox's calendar and the service
    mailbox organises it, so the person the booking is for must be invited like everyone else.
    """
    emails = [email.lower() for email in required]
    person = target.user
    if target.connection_method is ConnectionMethod.DEDICATED and person and person not in emails:
        emails.insert(0, person)
    return tuple(dict.fromkeys(emails))


def render_event_text(
    context: ActionContext,
    subject: str | None,
    body: str | None,
    variables: Mapping[str, Any],
) -> tuple[str | None, str | None]:
    """The job's subject and body rendered as Liquid over `variables`, then the integration's own
    templates (which see the job's rendered text as `subject` and `body`). None stays None."""
    settings = context.integration
    rendered_subject = None
    if subject is not None:
        own = render_template(subject, subject, variables)
        rendered_subject = render_template(settings.subject_template, own, {**variables, "subject": own})
    rendered_body = None
    if body is not None:
        own = render_template(body, body, variables)
        rendered_body = render_template(settings.body_template, own, {**variables, "body": own})
    return rendered_subject, rendered_body
