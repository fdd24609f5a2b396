"""Calendar items as Exchange shows them now: what change processing and calendar sync read.

Backend-neutral values (no exchangelib types), shared by process_change (the items a push
notification named) and sync_calendar (the items SyncFolderItems reported). Datetimes are
timezone-aware.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pipeline.contract.booking import ResponseType

__all__ = [
    "AttendeeResponse",
    "CalendarItemSnapshot",
    "CalendarSyncChange",
    "CalendarSyncPage",
    "ResponseType",
    "SyncChangeKind",
]


@dataclass(frozen=True)
class AttendeeResponse:
    """One attendee's response as the organiser's item records it."""

    email: str  # lower-cased
    response: ResponseType
    responded_at: datetime | None = None  # LastResponseTime, when Exchange gives it


@dataclass(frozen=True)
class CalendarItemSnapshot:
    """One calendar item, with only what the pipeline and its apps act on.

    `subject` is whatever Exchange returned (None when the logon may not read it); the caller
    decides whether to pass it on (show_event_titles, and never for a private item).
    """

    item_id: str
    change_key: str
    booking_key: str | None  # the pipeline's stamp; None for items the pipeline did not write
    start: datetime | None
    end: datetime | None
    free_busy_status: str | None  # EWS LegacyFreeBusyStatus: Free, Tentative, Busy, OOF, ...
    is_private: bool
    subject: str | None = None
    organizer: str | None = None  # lower-cased address, where the logon may read it
    attendees: tuple[AttendeeResponse, ...] = ()
    is_cancelled: bool = False


class SyncChangeKind(StrEnum):
    CHANGED = "changed"  # created, updated, or read-flag changed: the item as it is now
    DELETED = "deleted"  # gone from the calendar (deleted or moved out)


@dataclass(frozen=True)
class CalendarSyncChange:
    """One change a sync reported; `item` is None for a deletion (only its id is left)."""

    kind: SyncChangeKind
    item_id: str
    item: CalendarItemSnapshot | None = None


@dataclass(frozen=True)
class CalendarSyncPage:
    """One SyncFolderItems answer: its changes, the state to resume from, and whether it is the end."""

    changes: tuple[CalendarSyncChange, ...]
    sync_state: str
    includes_last_item: bool
