"""Values passed across the ExchangeGateway: frozen dataclasses, no exchangelib types.

Datetimes are timezone-aware. A Microsoft Graph backend would produce and accept the same values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from pipeline.errors import ErrorCode
from pipeline.integrations import ConnectionMethod

__all__ = [
    "BodyType",
    "BusyInterval",
    "BusyType",
    "CallbackTarget",
    "EventChanges",
    "EventDraft",
    "EventRef",
    "EventState",
    "MailboxAvailability",
    "MailboxTarget",
    "NotifyAttendees",
    "PushSubscription",
    "Room",
    "RoomList",
    "StampedEvent",
    "WorkingHours",
    "WorkingPeriod",
]


@dataclass(frozen=True)
class MailboxTarget:
    """Whose calendar a gateway acts on, and for whom.

    `mailbox` is the calendar owner: the job's user, except for the dedicated method where it is
    the service mailbox. `user` is the job's mailbox (None when the job names none).
    `acting_as` is the logon whose rights apply (the user for personal and impersonation, the
    service account for dedicated and delegate).
    """

    mailbox: str
    user: str | None
    acting_as: str
    connection_method: ConnectionMethod


class BusyType(StrEnum):
    FREE = "Free"
    TENTATIVE = "Tentative"
    BUSY = "Busy"
    OOF = "OOF"
    WORKING_ELSEWHERE = "WorkingElsewhere"
    NO_DATA = "NoData"


@dataclass(frozen=True, slots=True)  # slots: a 1,000-mailbox answer holds 30,000 of them
class BusyInterval:
    """One calendar event as free/busy shows it; subject/location only where permission gives them."""

    start: datetime
    end: datetime
    busy_type: BusyType
    subject: str | None = None
    location: str | None = None
    is_private: bool = False


@dataclass(frozen=True)
class WorkingPeriod:
    """Working days and hours, in minutes after midnight in the mailbox's own time zone."""

    days: tuple[str, ...]
    start_minute: int
    end_minute: int


@dataclass(frozen=True)
class WorkingHours:
    # The mailbox's standard offset from UTC in minutes (EWS Bias has the opposite sign: UTC = local + bias).
    utc_offset_minutes: int
    periods: tuple[WorkingPeriod, ...]


@dataclass(frozen=True)
class MailboxAvailability:
    """Free/busy for one mailbox over the whole requested window, or the reason it is missing."""

    mailbox: str
    intervals: tuple[BusyInterval, ...] = ()
    working_hours: WorkingHours | None = None
    # Merged view digits (0 free, 1 tentative, 2 busy, 3 OOF, 4 elsewhere, 5 no data), chunks joined.
    merged: str | None = None
    error_code: ErrorCode | None = None
    error_message: str | None = None

    @property
    def ok(self) -> bool:
        return self.error_code is None


class BodyType(StrEnum):
    TEXT = "Text"
    HTML = "HTML"


@dataclass(frozen=True)
class EventDraft:
    """A calendar event to write; `booking_key` is stamped on it so that a retry can find it."""

    subject: str
    start: datetime
    end: datetime
    booking_key: str
    body: str = ""
    body_type: BodyType = BodyType.HTML
    time_zone: str = "UTC"  # IANA name for the event's start/end time zone
    location: str | None = None
    required_attendees: tuple[str, ...] = ()
    optional_attendees: tuple[str, ...] = ()
    rooms: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    reminder_minutes: int | None = None  # None: no reminder
    is_private: bool = False
    # A copy of the booking for an additional booking calendar: stamped CopyOf as well.
    is_copy: bool = False


@dataclass(frozen=True)
class EventRef:
    """Where an event lives: its EWS ids and the mailbox whose calendar holds it."""

    item_id: str
    change_key: str
    mailbox: str


@dataclass(frozen=True)
class StampedEvent:
    """An event found by its booking key: where it is, and whether our invitations went out.

    `invites_sent` is the InvitesSent stamp: the message id of the job whose request sent the
    meeting requests (a CreateItem that invited, or send_invite's UpdateItem); None if none did.
    """

    ref: EventRef
    invites_sent: str | None = None


@dataclass(frozen=True)
class EventChanges:
    """The fields of an event to change; None leaves a field as it is (lists replace the old ones)."""

    subject: str | None = None
    body: str | None = None
    body_type: BodyType = BodyType.HTML
    start: datetime | None = None
    end: datetime | None = None
    time_zone: str | None = None  # IANA name; applies to start/end, which must then be given too
    location: str | None = None
    required_attendees: tuple[str, ...] | None = None
    optional_attendees: tuple[str, ...] | None = None
    rooms: tuple[str, ...] | None = None

    @property
    def changes_attendees_only(self) -> bool:
        """True when only the attendee or room lists change (then only changed attendees hear)."""
        others = (self.subject, self.body, self.start, self.end, self.time_zone, self.location)
        return all(value is None for value in others)


class NotifyAttendees(StrEnum):
    """Whom an update or cancellation is sent to."""

    NONE = "none"
    ALL = "all"
    CHANGED = "changed"  # only attendees added or removed by the update


@dataclass(frozen=True)
class EventState:
    """An event as Exchange holds it now, with the stamps earlier jobs left on it."""

    ref: EventRef
    start: datetime | None
    end: datetime | None
    attendees: tuple[str, ...]  # required, optional and rooms, lower-cased
    booking_key: str | None = None
    invites_sent: str | None = None  # set by the UpdateItem that sent the invitations
    last_update: str | None = None  # message id of the update_event job that changed it last
    is_cancelled: bool = False


@dataclass(frozen=True)
class Room:
    email: str
    name: str


@dataclass(frozen=True)
class RoomList:
    email: str
    name: str
    rooms: tuple[Room, ...] = field(default=())


@dataclass(frozen=True)
class CallbackTarget:
    """Where a push subscription calls back: the deployment's callback base URL and the
    subscription's secret token (pipeline.subscriptions). Each backend builds its own URLs from
    them: EWS `{base}/notifications/{token}`; Graph `{base}/graph/notifications` and
    `{base}/graph/lifecycle`, with the token as clientState. Never log or quote `token`."""

    base_url: str
    token: str

    def __repr__(self) -> str:  # the token stays out of tracebacks and logs
        return f"CallbackTarget(base_url={self.base_url!r}, token='***')"


@dataclass(frozen=True)
class PushSubscription:
    """A subscription the backend created (or extended).

    watermark: where EWS resumes from ("" on Graph, which has none); expires_at: when the backend
    drops it unless renewed (None on EWS, whose subscriptions live while keep-alives are answered).
    """

    subscription_id: str
    watermark: str
    expires_at: datetime | None = None
