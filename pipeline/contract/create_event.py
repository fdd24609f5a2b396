"""create_event: save a meeting in the right calendar, stamped with the booking key; sent with
send_invitations (a booking in one job), else held for send_invite."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, ConfigDict, Field, JsonValue, model_validator

from pipeline.contract.common import (
    Attendee,
    BookingKey,
    ContractModel,
    EmailAddress,
    MailboxJobKwargs,
    TimeZoneName,
    check_end_after_start,
)

__all__ = ["CreateEventKwargs", "CreateEventResult", "EventLink"]


class EventLink(ContractModel):
    """A link for the event's text (a video call, a booking page), shown by the default body."""

    url: str = Field(
        max_length=2048, pattern=r"^https?://\S+$", description="An http(s) URL.",
        examples=["https://meet.example.com/abc-defg"],
    )
    label: str | None = Field(default=None, max_length=256, description="Text to show for it.")


class CreateEventKwargs(MailboxJobKwargs):
    """Create a calendar event for a booking; with send_invitations, invite its attendees too."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "integration_id": "acme-onprem",
                    "mailbox": "alice@example.com",
                    "booking_key": "interview-8841:slot-2",
                    "subject": "Interview: {{ candidate }}",
                    "body": "<p>Panel interview</p>",
                    "body_type": "html",
                    "start": "2026-11-03T14:00:00Z",
                    "end": "2026-11-03T15:00:00Z",
                    "time_zone": "Europe/London",
                    "required_attendees": [
                        {"email": "bob@example.com", "name": "Bob Baker", "role": "interviewer"}
                    ],
                    "rooms": ["room-a@example.com"],
                    "links": [{"url": "https://meet.example.com/abc-defg", "label": "Video call"}],
                    "template_vars": {"candidate": "Dana Diaz"},
                    "send_invitations": True,
                }
            ]
        }
    )

    booking_key: BookingKey
    subject: str | None = Field(
        default=None, min_length=1, max_length=255,
        description="Subject; a Liquid template (docs/templates.md). Absent: the default subject.",
    )
    body: str | None = Field(
        default=None, max_length=500_000,
        description="Body; a Liquid template (docs/templates.md). Absent: the default body; "
        "\"\" for an empty one.",
    )
    body_type: Literal["text", "html"] = Field(default="text", description="Format of the body.")
    start: AwareDatetime = Field(description="Event start (with a UTC offset).")
    end: AwareDatetime = Field(description="Event end (with a UTC offset); after start.")
    time_zone: TimeZoneName = Field(default="UTC", description="Time zone the event is shown in.")
    location: str | None = Field(default=None, max_length=255, description="Free-text location.")
    required_attendees: list[Attendee] = Field(default_factory=list, max_length=500)
    optional_attendees: list[Attendee] = Field(default_factory=list, max_length=500)
    rooms: list[EmailAddress] = Field(
        default_factory=list, max_length=50, description="Room mailboxes, added as resources."
    )
    categories: list[str] = Field(default_factory=list, max_length=25)
    reminder_minutes: int | None = Field(
        default=None, ge=0, le=40320, description="Reminder before start; none when absent."
    )
    is_private: bool = Field(default=False, description="Mark the event private (sensitivity).")
    links: list[EventLink] = Field(
        default_factory=list, max_length=10, description="Links for the subject and body templates."
    )
    template_vars: dict[str, JsonValue] = Field(
        default_factory=dict, description="Variables for the Liquid subject and body templates."
    )
    send_invitations: bool = Field(
        default=False,
        description="Send the meeting requests to the attendees and rooms in the same request "
        "that creates the event: a whole booking in one job. False (the default) saves the event "
        "unsent, held until a send_invite job invites them.",
    )
    scheduler: EmailAddress | None = Field(
        default=None,
        description="Who booked it (the recruiter or staff member). With the integration's "
        "post_as_scheduler, the event is created in the scheduler's calendar with the scheduler "
        "as organiser, the invitations come from the scheduler, and `mailbox` is invited.",
    )

    @model_validator(mode="after")
    def _times(self) -> CreateEventKwargs:
        check_end_after_start(self.start, self.end)
        return self


class CreateEventResult(ContractModel):
    """Where the event is."""

    booking_key: BookingKey
    item_id: str = Field(description="Exchange item id of the event.")
    change_key: str = Field(description="Exchange change key of the saved version.")
    calendar_mailbox: EmailAddress = Field(
        description="Whose calendar holds the event (the service mailbox for dedicated-mailbox "
        "integrations, otherwise the person's)."
    )
    created: bool = Field(
        description="False when a redelivered job found the event it had already stamped."
    )
    invited: bool = Field(
        default=False,
        description="True when the attendees have been sent the meeting requests: by this job "
        "(send_invitations) or, for a booking already created, before it.",
    )
    sent_to: list[EmailAddress] = Field(
        default_factory=list,
        description="Attendees and rooms this run's request invited; empty when nobody was invited "
        "or a redelivered job found them invited already.",
    )
