"""cancel_event: cancel a booked event, optionally telling its attendees."""

from __future__ import annotations

from pydantic import Field

from pipeline.contract.common import BookingKey, ContractModel, MailboxJobKwargs

__all__ = ["CancelEventKwargs", "CancelEventResult"]


class CancelEventKwargs(MailboxJobKwargs):
    """Cancel a booking's event."""

    booking_key: BookingKey
    reason: str | None = Field(
        default=None, max_length=5000, description="Text of the cancellation sent to attendees."
    )
    notify: bool = Field(default=True, description="Send cancellations to the attendees.")


class CancelEventResult(ContractModel):
    """Whether the event is now cancelled."""

    booking_key: BookingKey
    cancelled: bool = Field(description="True once the event is cancelled (by this job or before).")
    already_cancelled: bool = Field(description="True when an earlier job had already cancelled it.")
