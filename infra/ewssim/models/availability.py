"""Free/busy as Exchange's availability service computes it: busy events, detail by permission, merged slots.

No XML here: responses/availability.py parses the request, calls `free_busy` per mailbox and renders.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum

from infra.ewssim.errors import EwsError, RequestFault
from infra.ewssim.models.access import can_view_private, folder_access
from infra.ewssim.models.backend import EwsBackend
from infra.ewssim.models.directory import Principal, WorkingHours
from infra.ewssim.models.items import CalendarItem
from infra.ewssim.models.permissions import PermissionLevel

__all__ = [
    "BUSY_TYPES",
    "MAX_MAILBOXES",
    "MAX_WINDOW",
    "BusyEvent",
    "Detail",
    "EventDetails",
    "FreeBusy",
    "busy_events",
    "check_request",
    "detail_for",
    "free_busy",
    "merged_free_busy",
]

# The order fixes the digits of MergedFreeBusy:
# Free=0, Tentative=1, Busy=2, OOF=3, WorkingElsewhere=4, NoData=5.
BUSY_TYPES = ("Free", "Tentative", "Busy", "OOF", "WorkingElsewhere", "NoData")
_DIGIT = {name: str(index) for index, name in enumerate(BUSY_TYPES)}
# When events overlap in one merged slot the strongest status shows, as Outlook's scheduling grid draws it.
_STRENGTH = {"Free": 0, "WorkingElsewhere": 1, "Tentative": 2, "Busy": 3, "OOF": 4}
# bytes.translate table from a slot's strength to its MergedFreeBusy digit.
_DIGITS_BY_STRENGTH = bytes(
    ord(_DIGIT[{strength: name for name, strength in _STRENGTH.items()}.get(i, "Free")]) for i in range(256)
)

MAX_MAILBOXES = 100
MAX_WINDOW = timedelta(days=42)


class Detail(IntEnum):
    """How much of a calendar the requester may see in free/busy answers."""

    TIMES = 0  # FreeBusyTimeOnly, and Exchange's Default for internal users
    SUBJECT_LOCATION = 1  # FreeBusyTimeAndSubjectAndLocation
    FULL = 2  # Reviewer and above, the owner, or an app with full access: the item id as well


@dataclass(frozen=True, slots=True)
class EventDetails:
    item_id: str | None
    subject: str | None
    location: str | None
    is_meeting: bool
    is_private: bool


@dataclass(frozen=True, slots=True)
class BusyEvent:
    start: datetime
    end: datetime
    busy_type: str
    details: EventDetails | None = None


@dataclass(frozen=True, slots=True)
class FreeBusy:
    """What one mailbox's FreeBusyView carries, before rendering."""

    principal: Principal
    detail: Detail
    events: list[BusyEvent]
    working_hours: WorkingHours


def check_request(mailbox_count: int, start: datetime, end: datetime) -> None:
    """Exchange's request-wide limits, raised as SOAP faults before any mailbox is read."""
    if mailbox_count > MAX_MAILBOXES:
        raise RequestFault(
            "ErrorMailboxDataArrayTooBig",
            f"Too many mailboxes requested: {mailbox_count}. At most {MAX_MAILBOXES} are allowed.",
        )
    if end <= start:
        raise RequestFault("ErrorInvalidTimeInterval", "The end of the time window must be after its start.")
    if end - start > MAX_WINDOW:
        raise RequestFault(
            "ErrorTimeIntervalTooBig",
            f"The time window is longer than the maximum of {MAX_WINDOW.days} days.",
        )


def detail_for(level: PermissionLevel) -> Detail:
    """Map a calendar permission to free/busy detail; no grant still yields busy times.

    Exchange's Default permission on a calendar is FreeBusyTimeOnly for internal users.
    """
    return _DETAIL_BY_LEVEL[level]


def _detail_of(level: PermissionLevel) -> Detail:
    if level.can_read_items():
        return Detail.FULL
    if level.free_busy_shows_details():
        return Detail.SUBJECT_LOCATION
    return Detail.TIMES


# Precomputed: PermissionLevel.rank walks the enum on every call, too slow for the hot path.
_DETAIL_BY_LEVEL = {level: _detail_of(level) for level in PermissionLevel}


def busy_events(
    items: Iterable[object], start: datetime, end: datetime, detail: Detail, view_private: bool
) -> list[BusyEvent]:
    """Calendar items overlapping [start, end) as events, sorted by start; Free and cancelled ones drop out.

    Items partly inside the window are returned whole, as Exchange does.
    """
    events: list[BusyEvent] = []
    for item in items:
        # The overlap test comes first: most items of a calendar lie outside the window, and this
        # loop is the hot path of the availability benchmark.
        try:
            if item.start >= end or item.end <= start:  # type: ignore[attr-defined]
                continue
        except (AttributeError, TypeError):  # not a calendar item, or one without times
            continue
        if not isinstance(item, CalendarItem) or item.is_cancelled or item.legacy_free_busy_status == "Free":
            continue
        item_start, item_end = item.start, item.end
        assert item_start is not None and item_end is not None  # compared above
        details = None
        if detail > Detail.TIMES:
            # A private item shows only that it is private, except to its owner and to
            # delegates allowed to view private items.
            hidden = item.sensitivity == "Private" and not view_private
            details = EventDetails(
                item_id=item.item_id if detail is Detail.FULL and not hidden else None,
                subject=None if hidden else item.subject,
                location=None if hidden else item.location,
                is_meeting=item.is_meeting,
                is_private=item.sensitivity == "Private",
            )
        events.append(BusyEvent(item_start, item_end, item.legacy_free_busy_status, details))
    events.sort(key=lambda event: event.start)
    return events


def merged_free_busy(events: Iterable[BusyEvent], start: datetime, end: datetime, interval: timedelta) -> str:
    """One digit per `interval` slot from `start`, the strongest status of the events touching the slot."""
    slots = -(-(end - start) // interval)  # ceiling: a partial last slot still gets a digit
    strengths = bytearray(slots)
    for event in events:
        strength = _STRENGTH.get(event.busy_type)
        # NoData items say nothing; a partial last slot ends with the window, not a whole interval later.
        if strength is None or event.start >= end or event.end <= start:
            continue
        first = max(0, (event.start - start) // interval)
        last = min(slots, -(-(event.end - start) // interval))
        for slot in range(first, last):
            if strengths[slot] < strength:
                strengths[slot] = strength
    return strengths.translate(_DIGITS_BY_STRENGTH).decode("ascii")


def free_busy(
    backend: EwsBackend,
    requester: Principal,
    smtp: str,
    start: datetime,
    end: datetime,
    want_details: bool,
    full_access: bool = False,
) -> FreeBusy:
    """Free/busy of one mailbox as `requester` may see it; unknown addresses give ErrorMailRecipientNotFound.

    full_access is for app-only callers holding full_access_as_app, who see what the owner sees.
    """
    principal = backend.directory.find(smtp)
    if principal is None:
        raise EwsError(
            "ErrorMailRecipientNotFound",
            f"Unable to resolve e-mail address {smtp} to an Active Directory object.",
        )
    mailbox = backend.mailbox(principal.smtp)
    detail = Detail.TIMES
    if want_details:
        level = (
            PermissionLevel.OWNER
            if full_access
            else folder_access(backend, requester, principal.smtp, "calendar")
        )
        detail = detail_for(level)
    view_private = full_access or can_view_private(mailbox, requester)
    folder = mailbox.folder("calendar")
    with mailbox.lock:
        # A snapshot, so that concurrent writers never change the dict under the loop below.
        items = list(folder.items.values())
    events = busy_events(items, start, end, detail, view_private)
    return FreeBusy(principal, detail, events, principal.working_hours)
