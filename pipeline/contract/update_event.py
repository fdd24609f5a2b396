"""update_event: change a booked event, optionally notifying its attendees."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field, JsonValue, model_validator
from pydantic_core import PydanticCustomError

from pipeline.contract.common import (
    Attendee,
    BookingKey,
    ContractModel,
    EmailAddress,
    MailboxJobKwargs,
    TimeZoneName,
    check_end_after_start,
)

__all__ = ["UPDATABLE_FIELDS", "UpdateEventKwargs", "UpdateEventResult"]

UPDATABLE_FIELDS = (
    "subject", "body", "start", "end", "time_zone", "location",
    "required_attendees", "optional_attendees", "rooms",
)


class UpdateEventKwargs(MailboxJobKwargs):
    """Change a booking's event; fields left out (or null) stay as they are."""

    booking_key: BookingKey
    subject: str | None = Field(default=None, min_length=1, max_length=255)
    body: str | None = Field(default=None, max_length=500_000)
    body_type: Literal["text", "html"] = Field(default="text", description="Format of body, when given.")
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    time_zone: TimeZoneName | None = None
    location: str | None = Field(default=None, max_length=255)
    required_attendees: list[Attendee] | None = Field(
        default=None, max_length=500, description="Replaces the required attendees when given."
    )
    optional_attendees: list[Attendee] | None = Field(
        default=None, max_length=500, description="Replaces the optional attendees when given."
    )
    rooms: list[EmailAddress] | None = Field(
        default=None, max_length=50, description="Replaces the rooms when given."
    )
    template_vars: dict[str, JsonValue] = Field(
        default_factory=dict, description="Variables for the Liquid subject and body templates."
    )
    notify: bool = Field(default=True, description="Send updates to the attendees.")

    @model_validator(mode="after")
    def _something_changes(self) -> UpdateEventKwargs:
        if all(getattr(self, name) is None for name in UPDATABLE_FIELDS):
            raise PydanticCustomError("nothing_to_update", "give at least one field to change")
        # When only one end of the range moves, the action checks it against the stored event.
        check_end_after_start(self.start, self.end)
        return self

    def changed_fields(self) -> tuple[str, ...]:
        """Names of the fields this job changes."""
        return tuple(name for name in UPDATABLE_FIELDS if getattr(self, name) is not None)


class UpdateEventResult(ContractModel):
    """The event's new version."""

    booking_key: BookingKey
    item_id: str
    change_key: str
    notified: bool = Field(description="Whether updates were sent to the attendees.")
