"""send_invite: send the meeting requests for an event that create_event held (saved unsent)."""

from __future__ import annotations

from pydantic import Field

from pipeline.contract.common import BookingKey, ContractModel, EmailAddress, MailboxJobKwargs

__all__ = ["SendInviteKwargs", "SendInviteResult"]


class SendInviteKwargs(MailboxJobKwargs):
    """Send the invitations of a booking whose event create_event saved without sending them."""

    booking_key: BookingKey


class SendInviteResult(ContractModel):
    """Who was invited by this job."""

    booking_key: BookingKey
    sent_to: list[EmailAddress] = Field(
        description="Attendees and rooms the invitation went to in this run."
    )
    already_sent: bool = Field(
        description="True when every attendee had already been invited (a redelivered job, or "
        "a booking created with send_invitations)."
    )
