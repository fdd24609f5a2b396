"""send_invite: send the meeting requests of an event that create_event held, at most once.

For apps that hold an event before inviting: create_event without send_invitations saves it
unsent, and this job invites later. (A booking in one job is create_event with send_invitations,
whose CreateItem invites; send_invite then finds the invitations recorded and sends nothing.)

Exactly once, in one EWS request on the common path:

- The booking record says whether invitations went out (invites_sent_to); if so, nothing is sent.
- Otherwise one UpdateItem sends them (SendToAllAndSaveCopy) and, in the same request, stamps the
  item InvitesSent. It carries the change key from the booking record with NeverOverwrite: a
  compare-and-swap on the item's version. Once any job has sent the invitations the item's
  change key has moved on, so a second UpdateItem with the recorded key fails with a conflict
  instead of inviting everyone again (a worker that died after sending, two jobs at once).
- On that conflict (the uncommon path) GetItem reads the stamp: set means an earlier attempt sent
  them (only the table was not updated); unset means someone else edited the item, and the send is
  tried once more with the fresh change key.
Then the recipients and the new change key are recorded in the booking record.
"""

from __future__ import annotations

from pipeline.actions.bookings import booking_ref, invitations_sent, require_booking
from pipeline.actions.calendar_access import calendar_gateway
from pipeline.actions.context import ActionContext
from pipeline.contract import SendInviteKwargs, SendInviteResult
from pipeline.errors import ErrorCode, PermanentError, RetryableError
from pipeline.events.models import PipelineEvent
from pipeline.exchange.base import ExchangeGateway
from pipeline.exchange.types import EventRef

__all__ = ["send_invite"]


def send_invite(context: ActionContext, kwargs: SendInviteKwargs) -> SendInviteResult:
    """Invite the booking's attendees, unless an earlier job or attempt already did."""
    booking = require_booking(context, kwargs.booking_key, kwargs.mailbox)
    if booking.cancelled:
        raise PermanentError(ErrorCode.CONFLICT, f"booking {kwargs.booking_key!r} has been cancelled")
    if booking.invites_sent_to:
        return SendInviteResult(booking_key=kwargs.booking_key, sent_to=[], already_sent=True)
    if not booking.attendees:
        # Nobody to invite: an event in someone's own calendar needs no meeting requests.
        return SendInviteResult(booking_key=kwargs.booking_key, sent_to=[], already_sent=False)
    # The logon that acts in the booking's calendar (another mailbox's, for a shared one).
    gateway = calendar_gateway(context, context.gateway(kwargs.mailbox), booking.calendar_mailbox)
    try:
        ref = gateway.send_invitations(booking_ref(booking), marker=context.message_id)
        recipients, already_sent = booking.attendees, False
    except PermanentError as refused:
        if refused.code is not ErrorCode.CONFLICT:
            raise
        ref, recipients, already_sent = _after_conflict(context, gateway, booking_ref(booking))
    written: list[PipelineEvent] = []

    def reported(added: tuple[str, ...]) -> list[PipelineEvent]:
        written[:] = [invitations_sent(context, kwargs.booking_key, added)]
        return written

    result = SendInviteResult(
        booking_key=kwargs.booking_key,
        sent_to=[] if already_sent else list(recipients),
        already_sent=already_sent,
    )
    # One write: the recipients, the item's new change key, the state, the event and the job's
    # success together, decided on the booking as read above (no second read unless it changed).
    context.finish(result, lambda done: context.store.record_invites_sent(
        context.integration.integration_id, kwargs.booking_key, recipients, context.now(),
        item=(ref.item_id, ref.change_key), events=reported, seen=booking, completes=done,
    ))
    context.written(written)
    return result


def _after_conflict(
    context: ActionContext, gateway: ExchangeGateway, recorded: EventRef
) -> tuple[EventRef, tuple[str, ...], bool]:
    """The item changed since the recorded version: did an earlier attempt send the invitations?"""
    state = gateway.read_event(recorded)
    if state is None:
        raise PermanentError(ErrorCode.ITEM_NOT_FOUND, "the booking's event is no longer in Exchange")
    if state.invites_sent:
        return state.ref, state.attendees, True
    try:
        return gateway.send_invitations(state.ref, marker=context.message_id), state.attendees, False
    except PermanentError as again:
        if again.code is not ErrorCode.CONFLICT:
            raise
        # Still changing under us (someone is editing it): look again later.
        raise RetryableError(ErrorCode.CONFLICT, again.message) from again
