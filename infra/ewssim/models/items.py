"""Items stored in mailbox folders: calendar items and messages (meeting requests and the like)."""

from __future__ import annotations

import base64
import os
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

AttendeeKind = Literal["required", "optional", "resource"]
_ID_BYTES = 32
# AppointmentState's bits (https://learn.microsoft.com/en-us/exchange/client-developer/
# web-service-reference/appointmentstate); Forward (8) is not modelled.
APPOINTMENT_NONE, APPOINTMENT_MEETING, APPOINTMENT_RECEIVED, APPOINTMENT_CANCELED = 0, 1, 2, 4


def new_item_id() -> str:
    """An opaque, base64 id like Exchange's (the schema only asks for a string)."""
    # os.urandom, not two uuid4() objects: ids are minted on every CreateItem, a hot path.
    return base64.b64encode(os.urandom(_ID_BYTES)).decode()


def new_change_key() -> str:
    return base64.b64encode(os.urandom(12)).decode()


def is_well_formed_id(item_id: str) -> bool:
    """Whether the text can be an id this server minted (base64 of 32 bytes, as new_item_id makes).

    Exchange tells an id it cannot decode (ErrorInvalidIdMalformed) from one that decodes but names
    no item (ErrorItemNotFound).
    """
    try:
        return len(base64.b64decode(item_id, validate=True)) == _ID_BYTES
    except ValueError:  # binascii.Error is a ValueError
        return False


@dataclass
class Attendee:
    email: str
    name: str = ""
    kind: AttendeeKind = "required"
    # Unknown, Organizer, Tentative, Accept, Decline, NoResponseReceived
    response: str = "Unknown"
    last_response_time: datetime | None = None


@dataclass
class Item:
    """Fields common to everything in a folder."""

    item_id: str = field(default_factory=new_item_id)
    change_key: str = field(default_factory=new_change_key)
    folder_id: str = ""
    mailbox: str = ""
    subject: str = ""
    body: str = ""
    body_type: str = "Text"  # Text or HTML
    sensitivity: str = "Normal"  # Normal, Personal, Private, Confidential
    categories: list[str] = field(default_factory=list)
    # Extended properties keyed by a stable textual key built from the property's identity
    # (set id or tag, name or id, type); see responses for how they are rendered.
    extended_properties: dict[str, str] = field(default_factory=dict)
    created: datetime | None = None
    modified: datetime | None = None
    # Who last changed the item (smtp); rendered as LastModifiedName.
    modified_by: str = ""

    def touch(self, when: datetime) -> None:
        """Record a modification: a fresh ChangeKey makes older ones stale."""
        self.change_key = new_change_key()
        self.modified = when


@dataclass
class CalendarItem(Item):
    start: datetime | None = None
    end: datetime | None = None
    is_all_day: bool = False
    location: str = ""
    legacy_free_busy_status: str = "Busy"  # Free, Tentative, Busy, OOF, WorkingElsewhere, NoData
    organizer: str = ""
    organizer_name: str = ""
    required_attendees: list[Attendee] = field(default_factory=list)
    optional_attendees: list[Attendee] = field(default_factory=list)
    resources: list[Attendee] = field(default_factory=list)
    is_meeting: bool = False
    is_cancelled: bool = False
    meeting_request_was_sent: bool = False
    my_response_type: str = "Organizer"
    uid: str = field(default_factory=lambda: uuid.uuid4().hex.upper())
    time_zone: str = "UTC"
    sequence: int = 0
    end_time_zone: str = ""
    is_response_requested: bool = True
    # When this attendee copy last answered (Accept/Decline/Tentative); None for organisers.
    appointment_reply_time: datetime | None = None

    def attendees(self) -> list[Attendee]:
        return [*self.required_attendees, *self.optional_attendees, *self.resources]

    def attendee(self, email: str) -> Attendee | None:
        """The attendee entry for this address, in any of the three lists."""
        wanted = email.lower()
        return next((a for a in self.attendees() if a.email.lower() == wanted), None)

    @property
    def is_organizer(self) -> bool:
        return bool(self.organizer) and self.organizer.lower() == self.mailbox

    @property
    def appointment_state(self) -> int:
        """AppointmentState's bits: Meeting (1), Received (2, an attendee's copy), Canceled (4)."""
        if not self.is_meeting:
            return APPOINTMENT_NONE
        received = APPOINTMENT_RECEIVED if not self.is_organizer else 0
        return APPOINTMENT_MEETING | received | (APPOINTMENT_CANCELED if self.is_cancelled else 0)


@dataclass
class MessageItem(Item):
    """A message in a mail folder; meeting messages carry the meeting they are about.

    item_class follows Exchange: IPM.Note, IPM.Schedule.Meeting.Request,
    IPM.Schedule.Meeting.Canceled, IPM.Schedule.Meeting.Resp.Pos/Neg/Tent.
    """

    item_class: str = "IPM.Note"
    sender: str = ""  # From: the mailbox the message is from
    sent_by: str = ""  # Sender, when a delegate sent it on From's behalf ("" when From sent it)
    to_recipients: list[str] = field(default_factory=list)
    # For meeting messages: the UID of the meeting and the attendee-side calendar item.
    meeting_uid: str = ""
    associated_calendar_item_id: str = ""
    start: datetime | None = None
    end: datetime | None = None
    location: str = ""
    sent: datetime | None = None
    is_read: bool = False
    cc_recipients: list[str] = field(default_factory=list)
    # Meeting messages: the response it carries (responses) or asks for (requests), the organiser,
    # and the attendee lists as the request showed them.
    response_type: str = ""
    organizer: str = ""
    required_attendees: list[Attendee] = field(default_factory=list)
    optional_attendees: list[Attendee] = field(default_factory=list)
    resources: list[Attendee] = field(default_factory=list)
    legacy_free_busy_status: str = "Busy"
    sequence: int = 0
    # Meeting requests: the meeting's zones (Windows ids), as on its calendar item.
    time_zone: str = ""
    end_time_zone: str = ""
    # Meeting messages: a later update or cancellation of the meeting has arrived (IsOutOfDate); the
    # Calendar Attendant has applied it to the calendar (HasBeenProcessed); a request's recipient's
    # answer so far (MyResponseType, "" for other messages).
    is_out_of_date: bool = False
    has_been_processed: bool = False
    my_response_type: str = ""

    @property
    def is_meeting_message(self) -> bool:
        return self.item_class.startswith("IPM.Schedule.Meeting.")

    @property
    def is_meeting_request(self) -> bool:
        return self.item_class.startswith("IPM.Schedule.Meeting.Request")

    @property
    def appointment_state(self) -> int:
        """AppointmentState of the meeting a message is about: Meeting (1), Received (2, in an
        attendee's mailbox), Canceled (4, a cancellation)."""
        received = APPOINTMENT_RECEIVED if self.organizer.lower() != self.mailbox else 0
        canceled = APPOINTMENT_CANCELED if self.item_class.startswith("IPM.Schedule.Meeting.Canceled") else 0
        return APPOINTMENT_MEETING | received | canceled
