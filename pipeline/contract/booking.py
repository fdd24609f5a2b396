"""A booking as the results table holds it: the item apps read back, and its published schema.

`BookingItem` describes the stored item attribute by attribute (schemas/booking-record.schema.json
is generated from it), so what is stored and what is published cannot drift apart: the store
decodes items through this model, and a test validates stored items against the schema.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import AwareDatetime, Field

from pipeline.contract.common import ContractModel

__all__ = [
    "AttendeeClass",
    "AttendeeResponseEntry",
    "BookingCopy",
    "BookingItem",
    "BookingState",
    "ResponseType",
]


class BookingState(StrEnum):
    """Where a booking stands."""

    BOOKED = "booked"  # the event is in Exchange; invitations not sent yet
    INVITED = "invited"  # invitations sent
    MOVED = "moved"  # moved in Exchange (confirmed or not: see time_confirmed)
    RESTORED = "restored"  # locked, moved in Exchange, and moved back to the booked time
    CANCELLED = "cancelled"  # cancelled by the app (cancel_event)
    DELETED_IN_EXCHANGE = "deleted_in_exchange"  # deleted, or moved out of the calendar, in Exchange

    @property
    def is_gone(self) -> bool:
        """True once the booking's event no longer stands in Exchange."""
        return self in (BookingState.CANCELLED, BookingState.DELETED_IN_EXCHANGE)


class ResponseType(StrEnum):
    """An attendee's answer to a meeting request, in the contract's names (EWS ResponseType)."""

    NONE = "none"  # NoResponseReceived: not answered yet
    ACCEPTED = "accepted"  # Accept
    TENTATIVE = "tentative"  # Tentative
    DECLINED = "declined"  # Decline
    ORGANIZER = "organizer"  # Organizer: the attendee organises the meeting
    UNKNOWN = "unknown"  # Unknown: Exchange does not know


class AttendeeClass(StrEnum):
    """Whether an attendee's domain is one of the integration's internal domains."""

    INTERNAL = "internal"
    EXTERNAL = "external"


class AttendeeResponseEntry(ContractModel):
    """One attendee's latest response as recorded on the booking."""

    response: ResponseType
    responded_at: AwareDatetime | None = Field(
        default=None, description="When the attendee responded, as Exchange records it."
    )


class BookingCopy(ContractModel):
    """A copy of the booking, without invitations, in one of the additional booking calendars."""

    calendar: str = Field(
        description="The calendar as configured: its path (\"Calendar/Team\") or id, after its "
        "mailbox where one was named (\"team@example.com:Calendar\")."
    )
    mailbox: str = Field(description="Whose mailbox holds the calendar.")
    folder_id: str | None = Field(
        default=None, description="The calendar's Exchange folder id; absent for the default calendar."
    )
    item_id: str = Field(description="The copy's Exchange item id.")
    change_key: str


class BookingItem(ContractModel):
    """The results-table item of one booking (key `BOOKING#{integration_id}#{booking_key}` / `BOOKING`).

    Sets (invites_sent_to) are DynamoDB string sets; in JSON they are lists.
    """

    pk: str = Field(description="BOOKING#{integration_id}#{booking_key}")
    sk: str = Field(description="Always BOOKING.")
    integration_id: str
    booking_key: str
    mailbox: str = Field(description="The person the booking is for (its organiser).")
    calendar_mailbox: str = Field(description="Whose calendar holds the event.")
    calendar_folder_id: str | None = Field(
        default=None,
        description="The folder id of the calendar holding the event, when it is not the default "
        "calendar of calendar_mailbox (a secondary or shared booking calendar).",
    )
    copies: list[BookingCopy] = Field(
        default_factory=list,
        description="Copies of the booking in the additional booking calendars, kept in step by "
        "update_event and cancel_event.",
    )
    item_id: str = Field(description="The event's Exchange item id; empty while being created.")
    change_key: str
    booking_item: str | None = Field(
        default=None, description="Index attribute (BOOKING_ITEM#{integration_id}#{item_id})."
    )
    claimed_by: str = Field(default="", description="The create_event job that claimed it.")
    attendees: list[str] = Field(
        default_factory=list, description="Everyone invited (required, optional, rooms), lower-cased."
    )
    invites_sent_to: list[str] = Field(
        default_factory=list, description="Who has been sent a meeting request (a string set)."
    )
    invites_version: int | None = Field(default=None, description="Concurrency counter of invites_sent_to.")
    cancelled: bool = Field(description="True once cancelled or deleted in Exchange.")
    state: BookingState = BookingState.BOOKED
    booked_start: AwareDatetime | None = Field(default=None, description="The time as booked (or confirmed).")
    booked_end: AwareDatetime | None = None
    start: AwareDatetime | None = Field(default=None, description="The time as now in Exchange.")
    end: AwareDatetime | None = None
    time_confirmed: bool = Field(
        default=True,
        description="False when the event was moved in Exchange and the app has not confirmed "
        "the new time (neither locked nor auto-confirmed).",
    )
    responses: dict[str, AttendeeResponseEntry] = Field(
        default_factory=dict, description="Latest response per attendee address."
    )
    attendee_classes: dict[str, AttendeeClass] = Field(
        default_factory=dict, description="Internal or external, per attendee address."
    )
    updated_at: AwareDatetime
