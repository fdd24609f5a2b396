"""fetch_free_busy: busy intervals and working hours for many mailboxes over any window.

The gateway does the EWS-sized work (batches of <= 100 mailboxes, chunks of <= 42 days, sent
concurrently, no GetServerTimeZones round trip); this module decides what may be shown and maps
the gateway's values onto the public result model. Busy calendars other than the default ones
(docs/calendars.md) are read by busy_calendars.py and merged into each mailbox's intervals.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from pipeline.actions.busy_calendars import BusyCalendarsRead, merge_digits, read_busy_calendars
from pipeline.actions.context import ActionContext
from pipeline.contract.common import ErrorDetail
from pipeline.contract.fetch_free_busy import (
    BusyType,
    FetchFreeBusyKwargs,
    FetchFreeBusyResult,
    MailboxAvailability,
    Weekday,
    WorkingHours,
)
from pipeline.exchange import types as gateway_types
from pipeline.integrations import ConnectionMethod

__all__ = ["fetch_free_busy"]

# Free time is not an interval of the result (it holds stretches in which a mailbox is not free).
_BUSY_TYPES: dict[gateway_types.BusyType, BusyType] = {
    gateway_types.BusyType.TENTATIVE: "tentative",
    gateway_types.BusyType.BUSY: "busy",
    gateway_types.BusyType.OOF: "oof",
    gateway_types.BusyType.WORKING_ELSEWHERE: "working_elsewhere",
    gateway_types.BusyType.NO_DATA: "no_data",
}
_WEEK: tuple[Weekday, ...] = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# EWS DayOfWeekType names the seven days and three groups of them.
_DAYS_BY_NAME: dict[str, tuple[Weekday, ...]] = {
    **{day: (day,) for day in _WEEK},
    "day": _WEEK,
    "weekday": _WEEK[:5],
    "weekendday": _WEEK[5:],
}


def fetch_free_busy(context: ActionContext, kwargs: FetchFreeBusyKwargs) -> FetchFreeBusyResult:
    """Free/busy of every requested mailbox, in request order; a failed mailbox carries its error.

    Subject and location are asked for (the detailed view) only when the job wants them and the
    integration shows event titles; Exchange then gives them only where the permission allows,
    and a private item never shows them.
    """
    show_titles = kwargs.view == "detailed" and context.integration.show_event_titles
    # A personal integration has only its users' own credentials: it reads free/busy as the job's
    # mailbox, else the first mailbox asked for (the person whose booking page this is). Other
    # methods use the service logon.
    personal = context.integration.connection_method is ConnectionMethod.PERSONAL
    logon = (kwargs.mailbox or kwargs.mailboxes[0]) if personal else None
    gateway = context.gateway(logon)
    answers = gateway.get_availability(
        kwargs.mailboxes,
        kwargs.start,
        kwargs.end,
        detailed=show_titles,
        merged_interval_minutes=kwargs.merged_interval_minutes,
    )
    others = read_busy_calendars(context, gateway, kwargs.mailboxes, kwargs.start, kwargs.end,
                                 detailed=show_titles)
    return FetchFreeBusyResult(
        start=kwargs.start,
        end=kwargs.end,
        mailboxes=[
            _mailbox_result(email, answer, show_titles, others, kwargs)
            for email, answer in zip(kwargs.mailboxes, answers, strict=True)
        ],
        calendar_view_requests=others.view_requests,
        folder_lookup_requests=others.lookup_requests,
    )


def _mailbox_result(
    email: str, answer: gateway_types.MailboxAvailability, show_titles: bool, others: BusyCalendarsRead,
    kwargs: FetchFreeBusyKwargs,
) -> MailboxAvailability:
    if answer.error_code is not None:
        message = answer.error_message or f"free/busy of {email} could not be read"
        return MailboxAvailability(email=email, error=ErrorDetail(code=answer.error_code, message=message))
    refused = others.errors.get(email.lower())
    if refused is not None:
        return MailboxAvailability(email=email, error=ErrorDetail(code=refused.code, message=refused.message))
    extra = [(label, found) for label, found in others.intervals.get(email.lower(), ())
             if found.busy_type in _BUSY_TYPES]
    intervals = [_interval(found, show_titles) for found in answer.intervals
                 if found.busy_type in _BUSY_TYPES]
    intervals += [_interval(found, show_titles, label) for label, found in extra]
    intervals.sort(key=_interval_order)
    # The intervals go in as plain values, validated once in pydantic's core with the mailbox,
    # rather than as models built one call at a time (1,000 mailboxes of ~30 intervals: 0.16 s
    # -> 0.14 s, bench/README.md's free_busy.py section).
    return MailboxAvailability.model_validate({
        "email": email,
        "working_hours": _working_hours(answer.working_hours),
        "intervals": intervals,
        "merged_free_busy": merge_digits(
            answer.merged, [found for _, found in extra], kwargs.start, kwargs.merged_interval_minutes
        ),
    })


def _interval(
    found: gateway_types.BusyInterval, show_titles: bool, calendar: str | None = None
) -> dict[str, Any]:
    """A BusyInterval's fields."""
    # Exchange already withholds details without the right; this also guards a private item
    # whose details a permissive server (or a delegate's view) would still return.
    visible = show_titles and not found.is_private
    return {
        "start": found.start,
        "end": found.end,
        "busy_type": _BUSY_TYPES[found.busy_type],
        "subject": found.subject if visible else None,
        "location": found.location if visible else None,
        "calendar": calendar,
    }


def _interval_order(interval: dict[str, Any]) -> tuple[datetime, datetime]:
    return interval["start"], interval["end"]


def _working_hours(hours: gateway_types.WorkingHours | None) -> WorkingHours | None:
    """The contract has one shape of working day: every period's days, earliest start to latest end."""
    if hours is None or not hours.periods:
        return None
    days = {
        day for period in hours.periods for name in period.days for day in _DAYS_BY_NAME.get(name.lower(), ())
    }
    return WorkingHours(
        time_zone=_fixed_offset_zone(hours.utc_offset_minutes),
        days=[day for day in _WEEK if day in days],
        start_time=_clock_time(min(p.start_minute for p in hours.periods)),
        end_time=_clock_time(max(p.end_minute for p in hours.periods)),
    )


def _fixed_offset_zone(utc_offset_minutes: int) -> str:
    """A zone name for the mailbox's standard offset (EWS gives a bias, not a zone name).

    Whole hours become IANA's fixed-offset zones, whose sign is inverted (UTC-5 is Etc/GMT+5);
    the rare half-hour offsets have no IANA name and are written as UTC+05:30.
    """
    if utc_offset_minutes == 0:
        return "UTC"
    hours, minutes = divmod(abs(utc_offset_minutes), 60)
    sign = "-" if utc_offset_minutes < 0 else "+"
    if minutes == 0:
        return f"Etc/GMT{'+' if sign == '-' else '-'}{hours}"
    return f"UTC{sign}{hours:02d}:{minutes:02d}"


def _clock_time(minute_of_day: int) -> time:
    # An end of 1440 minutes ("until midnight") is the last representable time of the day.
    if minute_of_day >= 24 * 60:
        return time(23, 59)
    return time(minute_of_day // 60, minute_of_day % 60)
