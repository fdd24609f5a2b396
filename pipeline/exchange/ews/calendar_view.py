"""Busy time from any calendar folder: FindItem with a CalendarView, one per 42 days of the window.

GetUserAvailability reads only default calendars; a secondary or shared calendar is read item by
item. A CalendarView has no paging and Exchange caps what one returns (1,000 items by default,
EWSFindCountLimit), so a window is asked for in chunks of at most 42 days (the same chunks as
availability.py), and a chunk that comes back full is split in two and asked for again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from exchangelib import CalendarItem, EWSDateTime
from exchangelib.fields import FieldPath
from exchangelib.items import ID_ONLY
from exchangelib.properties import CalendarView
from exchangelib.services import FindItem

from pipeline.exchange.calendars import CalendarFolder, CalendarReading
from pipeline.exchange.ews.availability import MAX_DAYS_PER_REQUEST
from pipeline.exchange.ews.connection import LiveConnection
from pipeline.exchange.ews.folders import calendar_folder, folder_errors
from pipeline.exchange.ews.item_values import plain_utc
from pipeline.exchange.types import BusyInterval, BusyType

__all__ = ["MAX_ITEMS_PER_VIEW", "read_calendar"]

MAX_ITEMS_PER_VIEW = 1000  # Exchange's default EWSFindCountLimit
_SMALLEST_CHUNK = dt.timedelta(minutes=1)
_TIMES = ("start", "end", "legacy_free_busy_status", "is_cancelled", "sensitivity")
_DETAILS = ("subject", "location")
_BUSY = {kind.value: kind for kind in BusyType if kind is not BusyType.FREE}


def read_calendar(
    live: LiveConnection, calendar: CalendarFolder, start: dt.datetime, end: dt.datetime, *, detailed: bool
) -> CalendarReading:
    """Busy intervals of the calendar's items overlapping [start, end), by start; Free and cancelled
    items drop out. Subject and location only when `detailed` (Exchange withholds a private item's)."""
    folder = calendar_folder(live, calendar)
    fields = _field_paths((*_TIMES, *(_DETAILS if detailed else ())))
    pending = list(_chunks(start.astimezone(dt.UTC), end.astimezone(dt.UTC)))
    found: dict[str, BusyInterval] = {}
    requests = 0
    while pending:
        chunk_start, chunk_end = pending.pop(0)
        requests += 1
        with folder_errors():
            items = list(FindItem(account=live.account).call(
                folders=[folder], additional_fields=fields, restriction=None, order_fields=None,
                shape=ID_ONLY, query_string=None, depth="Shallow",
                calendar_view=CalendarView(start=EWSDateTime.from_datetime(chunk_start),
                                           end=EWSDateTime.from_datetime(chunk_end),
                                           max_items=MAX_ITEMS_PER_VIEW),
                max_items=MAX_ITEMS_PER_VIEW, offset=0,
            ))
        for item in items:
            if isinstance(item, Exception):
                raise item
        if len(items) >= MAX_ITEMS_PER_VIEW and chunk_end - chunk_start > _SMALLEST_CHUNK:
            middle = chunk_start + (chunk_end - chunk_start) / 2
            pending[:0] = [(chunk_start, middle), (middle, chunk_end)]
            continue
        for item in items:
            interval = _interval(item, detailed)
            if interval is not None:
                found.setdefault(str(item.id), interval)  # an item across chunks counts once
    intervals = sorted(found.values(), key=lambda i: (i.start, i.end))
    return CalendarReading(intervals=tuple(intervals), requests=requests)


def _chunks(start: dt.datetime, end: dt.datetime) -> Iterable[tuple[dt.datetime, dt.datetime]]:
    cursor = start
    while cursor < end:
        chunk_end = min(cursor + dt.timedelta(days=MAX_DAYS_PER_REQUEST), end)
        yield cursor, chunk_end
        cursor = chunk_end


def _interval(item: CalendarItem, detailed: bool) -> BusyInterval | None:
    busy_type = _BUSY.get(str(item.legacy_free_busy_status or "Busy"))
    start, end = plain_utc(item.start), plain_utc(item.end)
    if busy_type is None or item.is_cancelled or start is None or end is None:
        return None
    return BusyInterval(
        start=start,
        end=end,
        busy_type=busy_type,
        subject=item.subject if detailed else None,
        location=item.location if detailed else None,
        is_private=item.sensitivity == "Private",
    )


def _field_paths(names: Iterable[str]) -> set[FieldPath]:
    return {FieldPath(field=CalendarItem.get_field_by_fieldname(name)) for name in names}
