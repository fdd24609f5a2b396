"""Free/busy over Graph: getSchedule for any number of mailboxes over any window.

getSchedule "can support looking up free/busy information for up to 20 entities at once", and
"the time period to look up must be less than 62 days" (learn.microsoft.com/graph/
outlook-get-free-busy-schedule, "Limits and error conditions"). A query becomes batches of <= 20
mailboxes x chunks of <= 61 days; one chunk is one getSchedule request, several go together in
one $batch (20 per batch, client.py), so 100 mailboxes over 90 days cost 10 getSchedule in one
HTTP request. Times are asked for and returned in UTC.

scheduleItems become BusyInterval (subject and location only where the permission gives them
and `detailed` asks), availabilityView the merged digits (chunks joined, as on EWS), workingHours
WorkingHours. A schedule's own `error` (an unknown address, no permission) is that mailbox's
error_code, never the whole job's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from pipeline.errors import ErrorCode, PermanentError, RetryableError
from pipeline.exchange import availability_chunks as chunks
from pipeline.exchange.availability_chunks import Chunk
from pipeline.exchange.graph.client import BatchRequest, raise_for_answer
from pipeline.exchange.graph.connection import GraphLive
from pipeline.exchange.graph.values import parse_time
from pipeline.exchange.types import BusyInterval, BusyType, MailboxAvailability, WorkingHours, WorkingPeriod

__all__ = ["MAX_DAYS_PER_REQUEST", "MAX_SCHEDULES_PER_REQUEST", "fetch_availability", "plan_requests"]

MAX_SCHEDULES_PER_REQUEST = 20
MAX_DAYS_PER_REQUEST = 61  # "less than 62 days"
OPERATION = "getSchedule"

_STATUS = {
    "free": BusyType.FREE,
    "tentative": BusyType.TENTATIVE,
    "busy": BusyType.BUSY,
    "oof": BusyType.OOF,
    "workingelsewhere": BusyType.WORKING_ELSEWHERE,
    "unknown": BusyType.NO_DATA,
}
# scheduleInformation.error.responseCode (EWS's response codes, as Exchange reports them).
_SCHEDULE_ERRORS = {
    "ErrorMailRecipientNotFound": ErrorCode.UNKNOWN_MAILBOX,
    "ErrorInvalidUser": ErrorCode.UNKNOWN_MAILBOX,
    "ErrorNonExistentMailbox": ErrorCode.UNKNOWN_MAILBOX,
    "ErrorAccessDenied": ErrorCode.ACCESS_DENIED,
    "ErrorNoFreeBusyAccess": ErrorCode.ACCESS_DENIED,
    "ErrorFreeBusyGenerationFailed": ErrorCode.EWS_ERROR,
}



def plan_requests(
    mailboxes: Sequence[str], start: dt.datetime, end: dt.datetime
) -> list[tuple[list[str], Chunk]]:
    """Every (mailbox batch, time chunk) pair the query needs, at this backend's limits."""
    return chunks.plan_requests(
        mailboxes, start, end, per_request=MAX_SCHEDULES_PER_REQUEST, days=MAX_DAYS_PER_REQUEST
    )


def fetch_availability(
    live: GraphLive,
    mailboxes: Sequence[str],
    start: dt.datetime,
    end: dt.datetime,
    *,
    detailed: bool,
    merged_interval_minutes: int | None,
) -> list[MailboxAvailability]:
    if start.tzinfo is None or end.tzinfo is None:
        raise PermanentError(ErrorCode.INVALID_KWARGS, "free/busy start and end need a time zone")
    if end <= start:
        raise PermanentError(ErrorCode.INVALID_KWARGS, "free/busy end must be after start")
    unique = list(dict.fromkeys(m.strip().lower() for m in mailboxes))
    if not unique:
        return []
    interval = merged_interval_minutes or 30
    plan = plan_requests(unique, start.astimezone(dt.UTC), end.astimezone(dt.UTC))
    path = f"{live.user_path}/calendar/getSchedule"
    bodies = [_body(batch, chunk, interval) for batch, chunk in plan]
    if len(plan) == 1:
        answers = [live.request("POST", path, OPERATION, body=bodies[0])]
    else:
        replies = live.batch([BatchRequest("POST", path, body) for body in bodies], OPERATION)
        answers = []
        for reply in replies:
            raise_for_answer(OPERATION, reply)
            answers.append(reply.body)
    parts: dict[str, list[MailboxAvailability]] = {m: [] for m in unique}
    for (batch, _chunk), answer in zip(plan, answers, strict=True):
        by_id = {str(info.get("scheduleId", "")).lower(): info for info in (answer or {}).get("value", ())}
        for mailbox in batch:
            info = by_id.get(mailbox)
            parts[mailbox].append(_read(mailbox, info, detailed, merged_interval_minutes is not None))
    combined = {mailbox: chunks.combine(mailbox, found) for mailbox, found in parts.items()}
    return [combined[m.strip().lower()] for m in mailboxes]


def _body(batch: list[str], chunk: Chunk, interval: int) -> dict[str, Any]:
    def utc(moment: dt.datetime) -> dict[str, str]:
        return {"dateTime": moment.replace(tzinfo=None).isoformat(timespec="seconds"), "timeZone": "UTC"}

    return {"schedules": batch, "startTime": utc(chunk[0]), "endTime": utc(chunk[1]),
            "availabilityViewInterval": interval}


def _read(mailbox: str, info: Mapping[str, Any] | None, detailed: bool, merged: bool) -> MailboxAvailability:
    if info is None:
        return MailboxAvailability(mailbox, error_code=ErrorCode.EWS_ERROR,
                                   error_message=f"{OPERATION}: no schedule was returned for this mailbox")
    error = info.get("error")
    if isinstance(error, Mapping) and (error.get("responseCode") or error.get("message")):
        code = str(error.get("responseCode") or "")
        if code in ("ErrorServerBusy", "ErrorTimeoutExpired"):
            raise RetryableError(ErrorCode.SERVER_BUSY, f"{OPERATION}: {code}")
        return MailboxAvailability(mailbox, error_code=_SCHEDULE_ERRORS.get(code, ErrorCode.EWS_ERROR),
                                   error_message=f"{OPERATION}: {code or 'error'}")
    intervals = []
    for item in info.get("scheduleItems") or ():
        begins, ends = parse_time(item.get("start")), parse_time(item.get("end"))
        if begins is None or ends is None:
            continue
        busy = _STATUS.get(str(item.get("status") or "busy").lower(), BusyType.BUSY)
        intervals.append(BusyInterval(
            start=begins, end=ends, busy_type=busy,
            subject=(item.get("subject") or None) if detailed else None,
            location=(item.get("location") or None) if detailed else None,
            is_private=bool(item.get("isPrivate")),
        ))
    view = info.get("availabilityView")
    return MailboxAvailability(
        mailbox,
        intervals=tuple(intervals),
        working_hours=_working_hours(info.get("workingHours")),
        merged=str(view) if merged and view is not None else None,
    )


def _working_hours(hours: Any) -> WorkingHours | None:
    if not isinstance(hours, Mapping) or not hours.get("daysOfWeek"):
        return None
    start, end = _minutes(hours.get("startTime")), _minutes(hours.get("endTime"))
    if start is None or end is None:
        return None
    if end == 0 and start > 0:
        end = 24 * 60  # "until midnight"
    days = tuple(str(day).capitalize() for day in hours["daysOfWeek"])
    return WorkingHours(utc_offset_minutes=_offset(hours.get("timeZone")),
                        periods=(WorkingPeriod(days, start, end),))


def _minutes(value: Any) -> int | None:
    try:
        hours, minutes = str(value).split(":")[:2]
        return int(hours) * 60 + int(minutes)
    except ValueError:
        return None


def _offset(zone: Any) -> int:
    """The zone's standard offset from UTC in minutes: a customTimeZone's bias (UTC = local + bias),
    a Windows or IANA name's standard offset; 0 for a name this process cannot resolve.

    getSchedule names the mailbox's zone as its mailbox settings do, normally a Windows name
    ("Eastern Standard Time"), which CLDR's windowsZones table (exchangelib's copy) turns into an
    IANA one."""
    if not isinstance(zone, Mapping):
        return 0
    if zone.get("bias") is not None:
        try:
            return -int(zone["bias"])
        except (TypeError, ValueError):
            return 0
    name = str(zone.get("name") or "")
    if name.upper() in ("", "UTC"):
        return 0
    tz = _zone(name)
    if tz is None:
        return 0
    winter = dt.datetime(2001, 1, 15, tzinfo=tz)
    offset = (winter.utcoffset() or dt.timedelta()) - (winter.dst() or dt.timedelta())
    return int(offset.total_seconds() // 60)


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        pass
    # Loaded here, not at import: only a Windows zone name needs the table.
    from exchangelib.winzone import MS_TIMEZONE_TO_IANA_MAP

    iana = MS_TIMEZONE_TO_IANA_MAP.get(name)
    try:
        return ZoneInfo(iana) if iana else None
    except (KeyError, ValueError):
        return None
