"""create_event: save a booking's event in the right calendar, stamped with its key; with
send_invitations, invite its attendees in the same request (a whole booking in one job).

Exactly once, in one EWS request on the common path:

1. Claim the booking in the results table with a conditional write (no record yet -> a pending
   record naming this job's message id). Only one job can win the claim for a booking key.
2. CreateItem, stamped with the booking key (an extended property): one request, in the booking
   calendar (docs/calendars.md; SavedItemFolderId when it is not the default), and one more per
   additional booking calendar, for the copies (booking_copies.py; never invited). SendToNone, or
   with send_invitations SendToAllAndSaveCopy and the InvitesSent stamp: Exchange saves the item
   and sends its meeting requests together, so the item exists exactly when they went out.
3. Record the item id and change key (and the copies'; with send_invitations the recipients and
   the state invited, as send_invite records them) in the booking record, with booking.created
   (and booking.invitations_sent) and the job's success, in one write.

The table alone cannot prove that Exchange has no item (a worker may die between 2 and 3), so a
pending record is the signal to ask Exchange: a redelivery of the claiming job (or any job, once
the claiming job has failed for good or its claim is older than the job lease) runs FindItem on
the stamp, and creates only if nothing is found; so for each copy. A found item is never sent
again: its InvitesSent stamp says whether its CreateItem invited, and the record says so. A
completed record answers a repeated create_event without any EWS request (a booking created
unsent is not invited by it: that is send_invite's job). A fresh claim of another job that may
still run is retried later, never raced.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from pipeline.actions.booking_copies import create_copies, open_booking_calendars
from pipeline.actions.bookings import (
    CREATION_IN_PROGRESS_DELAY_MS,
    invitations_sent,
    render_event_text,
    template_people,
    with_job_mailbox,
)
from pipeline.actions.calendar_access import OpenCalendar, calendar_errors
from pipeline.actions.context import ActionContext
from pipeline.contract import CreateEventKwargs, CreateEventResult, JobStatus
from pipeline.contract.booking import BookingCopy, BookingState
from pipeline.errors import ErrorCode, PermanentError, RetryableError
from pipeline.events.models import BookingCreatedData
from pipeline.exchange.base import ExchangeGateway
from pipeline.exchange.types import BodyType, EventDraft, EventRef
from pipeline.store.records import BookingRecord
from pipeline.templates import BookingFacts, TemplateLink, booking_variable

__all__ = ["create_event"]


def create_event(context: ActionContext, kwargs: CreateEventKwargs) -> CreateEventResult:
    """Create the booking's event once (sending its invitations with send_invitations), however
    often the job is delivered."""
    # Posting as the scheduler (SmartRecruiters' "use scheduler's name"): the pipeline acts as the
    # scheduler, whose calendar holds the event and who organises it; the job's person is invited.
    # Follow-up jobs reach it through the booking's calendar mailbox (calendar_gateway).
    scheduler = kwargs.scheduler if context.integration.post_as_scheduler else None
    gateway = context.gateway(scheduler or kwargs.mailbox)
    # Found and rendered before the claim: a calendar that cannot be written to, or a template
    # that fails, leaves no claim and nothing in Exchange.
    main, copies = open_booking_calendars(context, gateway, kwargs.mailbox)
    draft = _draft(context, kwargs, gateway, main.owner)
    everyone = (*draft.required_attendees, *draft.optional_attendees, *draft.rooms)
    claim = BookingRecord(
        integration_id=context.integration.integration_id,
        booking_key=kwargs.booking_key,
        mailbox=kwargs.mailbox,
        calendar_mailbox=main.owner,
        calendar_folder_id=main.folder.folder_id if main.folder else None,
        item_id="",
        change_key="",
        updated_at=context.now(),
        attendees=tuple(dict.fromkeys(everyone)),
        claimed_by=context.message_id,
        booked_start=kwargs.start,
        booked_end=kwargs.end,
        start=kwargs.start,
        end=kwargs.end,
        attendee_classes={email: context.integration.attendee_class(email) for email in everyone},
    )
    # The job's message id stamps the invitations; nobody to invite, nothing to send.
    invite = context.message_id if kwargs.send_invitations and claim.attendees else None
    existing = context.store.claim_booking(claim)
    if existing is None:
        ref = _create(main, draft, invite)
        return _record(context, claim, ref, create_copies(copies, draft, look_first=False), created=True,
                       invited=invite is not None)
    if existing.mailbox != kwargs.mailbox:
        raise PermanentError(
            ErrorCode.CONFLICT, f"booking {kwargs.booking_key!r} belongs to another mailbox"
        )
    if not existing.pending:
        ref = EventRef(existing.item_id, existing.change_key, existing.calendar_mailbox)
        return _result(existing, ref, created=False)
    _check_claim_is_ours_or_abandoned(context, existing)
    # The uncommon path: an earlier attempt claimed the booking and may have created the item
    # and its copies.
    with calendar_errors(main.gateway, main.description, for_writing=True):
        found = main.gateway.find_booking_event(kwargs.booking_key, main.folder)
    if found is None:
        ref, invited = _create(main, draft, invite), invite is not None
    else:
        # Made by an earlier attempt, which invited exactly when its stamp says so: send nothing.
        ref, invited = found.ref, found.invites_sent is not None
    return _record(context, claim, ref, create_copies(copies, draft, look_first=True), created=found is None,
                   invited=invited)


def _create(main: OpenCalendar, draft: EventDraft, invite: str | None) -> EventRef:
    with calendar_errors(main.gateway, main.description, for_writing=True):
        return main.gateway.create_event(draft, main.folder, invite_marker=invite)


def _check_claim_is_ours_or_abandoned(context: ActionContext, claim: BookingRecord) -> None:
    """Return when this job may look for the item and create it; raise while another job may still."""
    if claim.claimed_by == context.message_id:
        return
    claimant = context.store.get_job(claim.claimed_by) if claim.claimed_by else None
    if claimant is not None and claimant.status is JobStatus.FAILED:
        return  # it failed for good (say, access denied) and will never finish its claim
    age = context.now() - claim.updated_at
    lease = timedelta(seconds=context.config.job_lease_seconds)
    if age < lease:
        # Another job is creating this booking right now; looking in Exchange could miss an item
        # it is about to create. Its record will answer this job's retry.
        raise RetryableError(
            ErrorCode.CONFLICT,
            f"another job is creating booking {claim.booking_key!r}",
            delay_ms=CREATION_IN_PROGRESS_DELAY_MS,
        )


def _draft(
    context: ActionContext, kwargs: CreateEventKwargs, gateway: ExchangeGateway, calendar_owner: str
) -> EventDraft:
    variables = {
        **kwargs.template_vars,
        "booking_key": kwargs.booking_key,
        "mailbox": kwargs.mailbox,
        "start": kwargs.start.isoformat(),
        "end": kwargs.end.isoformat(),
        "time_zone": kwargs.time_zone,
        "location": kwargs.location or "",
        "booking": booking_variable(_facts(kwargs), context.integration.attendee_class, kwargs.template_vars),
    }
    html = kwargs.body_type == "html"
    subject, body = render_event_text(
        context, kwargs.subject, kwargs.body, variables, html=html, defaults=True
    )
    return EventDraft(
        subject=subject or "",
        start=kwargs.start,
        end=kwargs.end,
        booking_key=kwargs.booking_key,
        body=body or "",
        body_type=BodyType.HTML if html else BodyType.TEXT,
        time_zone=kwargs.time_zone,
        location=kwargs.location,
        required_attendees=with_job_mailbox(
            gateway.target, (a.email for a in kwargs.required_attendees), calendar_owner,
            person=kwargs.mailbox,
        ),
        optional_attendees=tuple(a.email for a in kwargs.optional_attendees),
        rooms=tuple(kwargs.rooms),
        categories=tuple(kwargs.categories),
        reminder_minutes=kwargs.reminder_minutes,
        is_private=kwargs.is_private,
    )


def _facts(kwargs: CreateEventKwargs) -> BookingFacts:
    return BookingFacts(
        booking_key=kwargs.booking_key,
        mailbox=kwargs.mailbox,
        time_zone=kwargs.time_zone,
        start=kwargs.start,
        end=kwargs.end,
        location=kwargs.location,
        attendees=template_people(kwargs.required_attendees, kwargs.optional_attendees),
        rooms=tuple(kwargs.rooms),
        links=tuple(TemplateLink(link.url, link.label) for link in kwargs.links),
    )


def _record(
    context: ActionContext, claim: BookingRecord, ref: EventRef, copies: tuple[BookingCopy, ...], *,
    created: bool, invited: bool,
) -> CreateEventResult:
    # Invited by the item's CreateItem: recorded as send_invite records it (recipients, state).
    recipients = claim.attendees if invited else ()
    booking = replace(
        claim, calendar_mailbox=ref.mailbox, item_id=ref.item_id, change_key=ref.change_key,
        updated_at=context.now(), claimed_by=None, copies=copies, invites_sent_to=recipients,
        state=BookingState.INVITED if recipients else claim.state,
    )
    # Caused by the item, not the job: a takeover job that finds the same item reports the same event.
    created_event = context.event(
        BookingCreatedData(
            mailbox=booking.mailbox, calendar_mailbox=booking.calendar_mailbox, item_id=ref.item_id,
            start=claim.booked_start or context.now(), end=claim.booked_end or context.now(),
        ),
        booking_key=booking.booking_key, cause=ref.item_id,
    )
    events = [created_event]
    if recipients:
        events.append(invitations_sent(context, booking.booking_key, recipients, cause=ref.item_id))
    # The job's last write: the booking, its events and the job's success in one transaction.
    result = context.finish(_result(booking, ref, created=created, sent=created and invited),
                            lambda done: context.store.put_booking(booking, events=events, completes=done))
    context.written(events)
    return result


def _result(booking: BookingRecord, ref: EventRef, *, created: bool, sent: bool = False) -> CreateEventResult:
    return CreateEventResult(
        booking_key=booking.booking_key,
        item_id=ref.item_id,
        change_key=ref.change_key,
        calendar_mailbox=ref.mailbox,
        created=created,
        invited=bool(booking.invites_sent_to),
        sent_to=list(booking.invites_sent_to) if sent else [],
    )
