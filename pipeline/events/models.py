"""The events the pipeline tells upstream apps: one envelope, a typed `data` per event type.

Every fact an app must act on (a booking created, moved in Outlook, an attendee declining, a
job failed for good) becomes one event. The envelope is the same for all types; `type` and
`version` say how to read `data`. The published JSON Schemas (schemas/events/) are generated
from these models, and the stored outbox item is the envelope itself.

Event ids are derived from the event's cause (the job message and what it changed), so a
redelivered job that reports the same fact again produces the same id: apps deduplicate on it.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import AwareDatetime, Field, create_model

from pipeline.contract.booking import AttendeeClass, ResponseType
from pipeline.contract.common import ContractModel
from pipeline.errors import ErrorCode

__all__ = [
    "EVENT_DATA_MODELS",
    "TYPED_ENVELOPES",
    "AttendeeClass",
    "AttendeeRespondedData",
    "BookingCancelledData",
    "BookingCreatedData",
    "BookingDeletedInExchangeData",
    "BookingInvitationsSentData",
    "BookingMovedInExchangeData",
    "BookingRestoredData",
    "BookingUpdatedData",
    "CalendarAttendee",
    "CalendarEventChangedData",
    "CalendarEventDeletedData",
    "EventData",
    "EventType",
    "JobFailedData",
    "PipelineEvent",
    "SubscriptionLostData",
    "SubscriptionRenewedData",
    "event_id_for",
    "make_event",
    "typed_event",
]


class EventType(StrEnum):
    BOOKING_CREATED = "booking.created"
    BOOKING_INVITATIONS_SENT = "booking.invitations_sent"
    BOOKING_UPDATED = "booking.updated"
    BOOKING_CANCELLED = "booking.cancelled"
    BOOKING_MOVED_IN_EXCHANGE = "booking.moved_in_exchange"
    BOOKING_RESTORED = "booking.restored"
    BOOKING_DELETED_IN_EXCHANGE = "booking.deleted_in_exchange"
    ATTENDEE_RESPONDED = "attendee.responded"
    CALENDAR_EVENT_CHANGED = "calendar.event_changed"
    CALENDAR_EVENT_DELETED = "calendar.event_deleted"
    SUBSCRIPTION_LOST = "subscription.lost"
    SUBSCRIPTION_RENEWED = "subscription.renewed"
    JOB_FAILED = "job.failed"


class EventData(ContractModel):
    """Base of every event's `data`; each subclass names its type and version."""

    event_type: ClassVar[EventType]
    version: ClassVar[int] = 1


# Booking events ---------------------------------------------------------------------------


class BookingCreatedData(EventData):
    """create_event saved the booking's event in Exchange (invited only with send_invitations)."""

    event_type = EventType.BOOKING_CREATED
    mailbox: str = Field(description="The person the booking is for (its organiser).")
    calendar_mailbox: str = Field(description="Whose calendar holds the event.")
    item_id: str = Field(description="The event's Exchange item id.")
    start: AwareDatetime
    end: AwareDatetime


class BookingInvitationsSentData(EventData):
    """The meeting requests went out: send_invite's, or create_event's with send_invitations."""

    event_type = EventType.BOOKING_INVITATIONS_SENT
    recipients: list[str] = Field(description="Who got a meeting request, lower-cased.")


class BookingUpdatedData(EventData):
    """update_event changed the booking's event."""

    event_type = EventType.BOOKING_UPDATED
    start: AwareDatetime | None = Field(default=None, description="The booked start after the update.")
    end: AwareDatetime | None = Field(default=None, description="The booked end after the update.")
    notified: bool = Field(description="True when the attendees were sent the update.")


class BookingCancelledData(EventData):
    """cancel_event removed the booking's event."""

    event_type = EventType.BOOKING_CANCELLED
    notified: bool = Field(description="True when the attendees were sent a cancellation.")


class BookingMovedInExchangeData(EventData):
    """Someone moved a booking that is not locked, in Outlook or another Exchange client."""

    event_type = EventType.BOOKING_MOVED_IN_EXCHANGE
    old_start: AwareDatetime | None = Field(description="The booking's time before the move.")
    old_end: AwareDatetime | None
    new_start: AwareDatetime = Field(description="The time Exchange holds now.")
    new_end: AwareDatetime
    auto_confirmed: bool = Field(
        description="True when the integration's auto_confirm accepted the new time as the "
        "booking's; false when the app must decide."
    )


class BookingRestoredData(EventData):
    """A locked booking was moved in Exchange and the pipeline moved it back (one UpdateItem)."""

    event_type = EventType.BOOKING_RESTORED
    moved_start: AwareDatetime = Field(description="The time someone moved it to.")
    moved_end: AwareDatetime
    start: AwareDatetime = Field(description="The booked time it is back at.")
    end: AwareDatetime


class BookingDeletedInExchangeData(EventData):
    """The booking's event was deleted (or moved out of the calendar) in Exchange."""

    event_type = EventType.BOOKING_DELETED_IN_EXCHANGE
    item_id: str
    locked: bool = Field(description="The integration locks appointments: it was not recreated.")


class AttendeeRespondedData(EventData):
    """An attendee's response to a booking changed."""

    event_type = EventType.ATTENDEE_RESPONDED
    attendee: str = Field(description="The attendee's address, lower-cased.")
    attendee_class: AttendeeClass
    response: ResponseType
    previous_response: ResponseType | None = Field(
        default=None, description="The response recorded before, if any."
    )
    responded_at: AwareDatetime | None = Field(
        default=None, description="When the attendee responded, as Exchange records it."
    )


# Calendar sync events ----------------------------------------------------------------------


class CalendarAttendee(ContractModel):
    email: str
    response: ResponseType


class CalendarEventChangedData(EventData):
    """An event that is not one of the pipeline's bookings was created or changed."""

    event_type = EventType.CALENDAR_EVENT_CHANGED
    mailbox: str = Field(description="The mailbox whose calendar holds the event.")
    item_id: str
    start: AwareDatetime | None
    end: AwareDatetime | None
    free_busy_status: str | None = Field(description="Free, Tentative, Busy, OOF, WorkingElsewhere.")
    is_private: bool
    subject: str | None = Field(
        default=None,
        description="Only when the integration shows event titles; never for a private event.",
    )
    organizer: str | None = Field(default=None, description="Where permissions allow.")
    attendees: list[CalendarAttendee] = Field(default_factory=list, description="Where permissions allow.")


class CalendarEventDeletedData(EventData):
    """An event that is not one of the pipeline's bookings was deleted."""

    event_type = EventType.CALENDAR_EVENT_DELETED
    mailbox: str
    item_id: str


# Subscriptions and jobs ---------------------------------------------------------------------


class SubscriptionLostData(EventData):
    """A push subscription stopped delivering (Exchange dropped it, or its events were lost)."""

    event_type = EventType.SUBSCRIPTION_LOST
    subscription_record_id: str
    mailbox: str
    reason: str = Field(description="What happened, e.g. ErrorReadEventsFailed or renewal_failed.")


class SubscriptionRenewedData(EventData):
    """A push subscription was re-created from its last watermark."""

    event_type = EventType.SUBSCRIPTION_RENEWED
    subscription_record_id: str = Field(description="The new subscription record.")
    previous_record_id: str
    mailbox: str


class JobFailedData(EventData):
    """A job failed for good: it will not be retried."""

    event_type = EventType.JOB_FAILED
    message_id: str
    actor_name: str
    mailbox: str | None = None
    error_code: ErrorCode
    error_message: str


EVENT_DATA_MODELS: dict[EventType, type[EventData]] = {
    model.event_type: model
    for model in (
        BookingCreatedData, BookingInvitationsSentData, BookingUpdatedData, BookingCancelledData,
        BookingMovedInExchangeData, BookingRestoredData, BookingDeletedInExchangeData,
        AttendeeRespondedData, CalendarEventChangedData, CalendarEventDeletedData,
        SubscriptionLostData, SubscriptionRenewedData, JobFailedData,
    )
}


# The envelope -------------------------------------------------------------------------------


class PipelineEvent(ContractModel):
    """One event as stored in the outbox and delivered to the app's sink."""

    event_id: str = Field(description="Stable: the same fact reported again has the same id.")
    type: EventType
    version: int = Field(ge=1, description="Version of this type's `data` shape.")
    integration_id: str
    booking_key: str | None = Field(default=None, description="The booking, where there is one.")
    occurred_at: AwareDatetime = Field(description="When the pipeline saw the fact happen.")
    data: dict[str, Any]

    def typed_data(self) -> EventData:
        """`data` as its type's model."""
        return EVENT_DATA_MODELS[self.type].model_validate(self.data)


def event_id_for(event_type: EventType, integration_id: str, booking_key: str | None, cause: str) -> str:
    """The event's stable id: the same fact, from the same cause, always gets the same id."""
    digest = hashlib.sha256(f"{event_type}|{integration_id}|{booking_key or ''}|{cause}".encode())
    return f"evt_{digest.hexdigest()[:40]}"


def make_event(
    data: EventData, *, integration_id: str, occurred_at: datetime, cause: str,
    booking_key: str | None = None,
) -> PipelineEvent:
    """The envelope for `data`. `cause` names what made it happen (a job message id, plus what the
    job changed where one job reports several facts of one type)."""
    return PipelineEvent(
        event_id=event_id_for(data.event_type, integration_id, booking_key, cause),
        type=data.event_type,
        version=data.version,
        integration_id=integration_id,
        booking_key=booking_key,
        occurred_at=occurred_at,
        data=data.model_dump(mode="json"),
    )


def _typed_envelope(data_model: type[EventData]) -> type[ContractModel]:
    """The envelope with `type` fixed and `data` typed: what each published schema describes."""
    name = data_model.__name__.removesuffix("Data") + "Event"
    envelope: type[ContractModel] = create_model(
        name,
        __base__=ContractModel,
        __doc__=data_model.__doc__,
        event_id=(str, PipelineEvent.model_fields["event_id"]),
        type=(Literal[data_model.event_type.value], ...),
        version=(Literal[data_model.version], ...),
        integration_id=(str, ...),
        booking_key=(str | None, PipelineEvent.model_fields["booking_key"]),
        occurred_at=(AwareDatetime, PipelineEvent.model_fields["occurred_at"]),
        data=(data_model, ...),
    )
    return envelope


TYPED_ENVELOPES: dict[EventType, type[ContractModel]] = {
    event_type: _typed_envelope(model) for event_type, model in EVENT_DATA_MODELS.items()
}

def typed_event(raw: dict[str, Any] | PipelineEvent) -> ContractModel:
    """An event (as received from a sink, or from the outbox) validated against its type's model."""
    values = raw.model_dump(mode="json") if isinstance(raw, PipelineEvent) else raw
    model = TYPED_ENVELOPES[EventType(values["type"])]
    return model.model_validate(values)
