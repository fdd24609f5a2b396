"""process_change: apply the calendar changes a push notification reported."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from pipeline.contract.common import BookingKey, ContractModel, JobKwargs, SubscriptionRecordId

__all__ = ["ChangeEvent", "ChangeEventType", "ProcessChangeKwargs", "ProcessChangeResult"]

ChangeEventType = Literal["created", "modified", "deleted", "moved", "copied", "new_mail"]


class ChangeEvent(ContractModel):
    """One event from an EWS notification."""

    event_type: ChangeEventType
    item_id: str | None = Field(default=None, description="Exchange item id; absent for folder events.")
    folder_id: str | None = Field(default=None, description="Exchange folder id.")
    watermark: str | None = Field(default=None, description="Watermark of this event.")
    timestamp: AwareDatetime | None = None


class ProcessChangeKwargs(JobKwargs):
    """The events of one notification for one subscription."""

    subscription_id: SubscriptionRecordId
    events: list[ChangeEvent] = Field(min_length=1, max_length=1000)


class ProcessChangeResult(ContractModel):
    """What the events changed."""

    processed: int = Field(ge=0, description="Events handled.")
    updated_bookings: list[BookingKey] = Field(
        default_factory=list, description="Bookings whose stored item or change key was updated."
    )
    cancelled_bookings: list[BookingKey] = Field(
        default_factory=list, description="Bookings whose event was deleted in Exchange."
    )
