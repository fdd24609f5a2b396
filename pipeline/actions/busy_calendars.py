"""fetch_free_busy's other calendars: secondary and shared calendars counted as busy time.

GetUserAvailability reads only default calendars. Each mailbox's busy_calendars (its override's,
else the integration's) are read with FindItem CalendarView: one request per calendar per 42
days of the window, whatever the number of mailboxes that count it (a team calendar that 250
people share is read once), plus the folder look-ups a cold process makes (FindFolder per
folder name, GetFolder for an id or another mailbox's default calendar), cached after that.

A calendar that cannot be read (missing, or the logon lacks Reviewer) is that mailbox's error,
as an unknown mailbox is: its entry carries the error instead of a partial answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pipeline.actions.calendar_access import OpenCalendar, calendar_errors, open_calendar
from pipeline.actions.context import ActionContext
from pipeline.calendar_settings import CalendarRef, calendars_for
from pipeline.errors import PermanentError
from pipeline.exchange import types as gateway_types
from pipeline.exchange.base import ExchangeGateway

__all__ = ["BusyCalendarsRead", "merge_digits", "read_busy_calendars"]

# Merged free/busy digits (0 free, 1 tentative, 2 busy, 3 oof, 4 elsewhere, 5 no data), weakest
# first: where calendars disagree about a slot, the strongest status shows, as Outlook draws it.
_STRENGTH = {"0": 0, "5": 1, "4": 2, "1": 3, "2": 4, "3": 5}
_DIGITS = {
    gateway_types.BusyType.TENTATIVE: "1", gateway_types.BusyType.BUSY: "2", gateway_types.BusyType.OOF: "3",
    gateway_types.BusyType.WORKING_ELSEWHERE: "4", gateway_types.BusyType.NO_DATA: "5",
}  # fmt: skip


@dataclass
class BusyCalendarsRead:
    """Per mailbox (lower-cased): (calendar label, interval) pairs, or the error that stopped it."""

    intervals: dict[str, list[tuple[str, gateway_types.BusyInterval]]] = field(default_factory=dict)
    errors: dict[str, PermanentError] = field(default_factory=dict)
    view_requests: int = 0
    lookup_requests: int = 0


def read_busy_calendars(
    context: ActionContext,
    job_gateway: ExchangeGateway,
    mailboxes: Sequence[str],
    start: datetime,
    end: datetime,
    *,
    detailed: bool,
) -> BusyCalendarsRead:
    """Read every mailbox's other busy calendars, each distinct calendar once."""
    read = BusyCalendarsRead()
    wanted: dict[tuple[str, str, str], tuple[CalendarRef, str, list[str]]] = {}
    for mailbox in dict.fromkeys(m.lower() for m in mailboxes):
        for ref in calendars_for(context.integration, mailbox).busy_calendars:
            if ref.is_default_calendar and ref.owner(mailbox) == mailbox:
                continue  # GetUserAvailability reads it
            wanted.setdefault(ref.identity(mailbox), (ref, mailbox, []))[2].append(mailbox)
    # By folder id: two ways of naming one calendar (with and without its mailbox) read it once,
    # and count it once per mailbox. Retryable failures propagate: the whole job retries.
    opened: dict[str, tuple[OpenCalendar, dict[str, str]]] = {}
    for ref, first, readers in wanted.values():
        try:
            calendar = open_calendar(context, job_gateway, ref, first, for_writing=False)
        except PermanentError as refused:
            for mailbox in readers:
                read.errors.setdefault(mailbox, refused)
            continue
        read.lookup_requests += calendar.lookups
        assert calendar.folder is not None  # reading never skips the look-up
        labels = opened.setdefault(calendar.folder.folder_id, (calendar, {}))[1]
        for mailbox in readers:
            labels.setdefault(mailbox, ref.label())
    for calendar, labels in opened.values():
        assert calendar.folder is not None
        try:
            with calendar_errors(calendar.gateway, calendar.description, for_writing=False):
                reading = calendar.gateway.read_calendar(calendar.folder, start, end, detailed=detailed)
        except PermanentError as refused:
            for mailbox in labels:
                read.errors.setdefault(mailbox, refused)
            continue
        read.view_requests += reading.requests
        for mailbox, label in labels.items():
            read.intervals.setdefault(mailbox, []).extend((label, found) for found in reading.intervals)
    return read


def merge_digits(
    merged: str | None, found: Sequence[gateway_types.BusyInterval], start: datetime, minutes: int | None
) -> str | None:
    """The merged free/busy string with other calendars' intervals laid over it, slot by slot."""
    if merged is None or not minutes or not found:
        return merged
    slot = timedelta(minutes=minutes)
    digits = list(merged)
    for interval in found:
        digit = _DIGITS.get(interval.busy_type)
        if digit is None or interval.end <= start:
            continue
        first = max(0, (interval.start - start) // slot)
        last = min(len(digits), -(-(interval.end - start) // slot))
        for index in range(first, last):
            if _STRENGTH[digit] > _STRENGTH.get(digits[index], 0):
                digits[index] = digit
    return "".join(digits)
