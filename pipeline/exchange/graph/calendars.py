"""Calendars other than the default one: found by path or id, read with calendarView.

Graph lists a mailbox's calendars flat (`GET /users/{u}/calendars`, learn.microsoft.com/graph/api/
user-list-calendars), so a path finds its last folder name among them ($filter on name: one
request); "Calendar" alone is the default calendar (`GET /users/{u}/calendar`), an id is
`GET /users/{u}/calendars/{id}`. canEdit says whether this logon may write there. Found calendars
are cached per process as on EWS (ews/folder_cache.py).

read_calendar: `GET /users/{u}/calendars/{id}/calendarView` over the window, UTC, following
@odata.nextLink (one request per page of up to 1,000 events, `$top`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from pipeline.errors import ErrorCode, PermanentError
from pipeline.exchange.calendars import CalendarFolder, CalendarReading
from pipeline.exchange.graph.connection import GraphLive
from pipeline.exchange.graph.ids import rest_id
from pipeline.exchange.graph.paths import segment
from pipeline.exchange.graph.values import parse_time
from pipeline.exchange.types import BusyInterval, BusyType

__all__ = ["find_calendar", "lookup_operation", "read_calendar"]

_DEFAULT = "calendar"
_PAGE = 1000
_BUSY = {"tentative": BusyType.TENTATIVE, "busy": BusyType.BUSY, "oof": BusyType.OOF,
         "workingelsewhere": BusyType.WORKING_ELSEWHERE, "unknown": BusyType.NO_DATA}


def lookup_operation(names: Sequence[str], folder_id: str | None) -> str:
    return "getCalendar" if folder_id is not None or _is_default(names) else "listCalendars"


def find_calendar(
    live: GraphLive, owner: str, names: Sequence[str], folder_id: str | None, *, for_writing: bool
) -> CalendarFolder:
    owner = owner.lower()
    where = folder_id or "/".join(name.casefold() for name in names)
    key = (live.settings.integration_id, live.target.acting_as, owner, where)
    cached = live.calendars.get(key)
    if cached is not None and _allows(cached, for_writing):
        return cached
    found = _lookup(live, owner, names, folder_id)
    calendar = CalendarFolder(
        owner=owner, folder_id=str(found["id"]), name=str(found.get("name") or ""),
        can_read=True, can_write=bool(found.get("canEdit", True)),
    )
    if _allows(calendar, for_writing):
        live.calendars.put(key, calendar)
    return replace(calendar, lookups=1)


def read_calendar(
    live: GraphLive, calendar: CalendarFolder, start: dt.datetime, end: dt.datetime, *, detailed: bool
) -> CalendarReading:
    folder = _calendar_id(live, calendar)
    fields = "id,start,end,showAs,isCancelled,sensitivity" + (",subject,location" if detailed else "")
    params = {
        "startDateTime": _utc(start), "endDateTime": _utc(end), "$select": fields, "$top": str(_PAGE),
    }
    path = f"{live.user(calendar.owner)}/calendars/{segment(folder)}/calendarView"
    found: dict[str, BusyInterval] = {}
    requests = 0
    answer: Any = None
    following: str | None = path
    while following:
        try:
            answer = live.request("GET", following, "calendarView", mailbox=calendar.owner,
                                  params=params if requests == 0 else None)
        except PermanentError as refused:
            if refused.code is ErrorCode.ITEM_NOT_FOUND:
                raise PermanentError(ErrorCode.CALENDAR_NOT_FOUND, "the calendar was not found") from refused
            raise
        requests += 1
        for event in (answer or {}).get("value", ()):
            interval = _interval(event, detailed)
            if interval is not None:
                found.setdefault(str(event.get("id")), interval)
        following = (answer or {}).get("@odata.nextLink")
    intervals = sorted(found.values(), key=lambda i: (i.start, i.end))
    return CalendarReading(intervals=tuple(intervals), requests=requests)


def _lookup(live: GraphLive, owner: str, names: Sequence[str], folder_id: str | None) -> dict[str, Any]:
    try:
        if folder_id is not None:
            folder = segment(rest_id(live, folder_id, owner))
            return _one(live.request("GET", f"{live.user(owner)}/calendars/{folder}", "getCalendar",
                                     mailbox=owner, params={"$select": "id,name,canEdit"}))
        if _is_default(names):
            return _one(live.request("GET", f"{live.user(owner)}/calendar", "getCalendar", mailbox=owner,
                                     params={"$select": "id,name,canEdit"}))
        name = names[-1]
        answer = live.request("GET", f"{live.user(owner)}/calendars", "listCalendars", mailbox=owner, params={
            "$filter": "name eq '{}'".format(name.replace("'", "''")), "$select": "id,name,canEdit",
        })
    except PermanentError as refused:
        if refused.code is ErrorCode.ITEM_NOT_FOUND:
            raise PermanentError(ErrorCode.CALENDAR_NOT_FOUND,
                                 "the calendar folder was not found") from refused
        raise
    for found in (answer or {}).get("value", ()):
        if str(found.get("name", "")).casefold() == name.casefold():
            return _one(found)
    raise PermanentError(ErrorCode.CALENDAR_NOT_FOUND, f"no calendar named {name!r} where the path says")


def _one(found: Any) -> dict[str, Any]:
    if not isinstance(found, dict) or not found.get("id"):
        raise PermanentError(ErrorCode.CALENDAR_NOT_FOUND, "the calendar folder was not found")
    return found


def _calendar_id(live: GraphLive, calendar: CalendarFolder) -> str:
    return rest_id(live, calendar.folder_id, calendar.owner)


def _is_default(names: Sequence[str]) -> bool:
    return not names or (len(names) == 1 and names[0].casefold() == _DEFAULT)


def _allows(calendar: CalendarFolder, for_writing: bool) -> bool:
    return bool(calendar.can_write if for_writing else calendar.can_read)


def _utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def _interval(event: dict[str, Any], detailed: bool) -> BusyInterval | None:
    busy = _BUSY.get(str(event.get("showAs") or "busy").lower())
    start, end = parse_time(event.get("start")), parse_time(event.get("end"))
    if busy is None or event.get("isCancelled") or start is None or end is None:
        return None
    location = (event.get("location") or {}).get("displayName") if detailed else None
    return BusyInterval(start=start, end=end, busy_type=busy,
                        subject=event.get("subject") if detailed else None, location=location or None,
                        is_private=event.get("sensitivity") == "private")
