"""GetUserAvailability for any number of mailboxes over any window, in as few requests as EWS allows.

EWS takes at most 100 mailboxes and 42 days per request, so a query becomes batches x chunks,
sent concurrently (bounded by the protocol's session pool). exchangelib's
Protocol.get_free_busy_info() would add a GetServerTimeZones round trip before every request; we
ask in UTC instead, whose time-zone definition is a constant, so a job costs exactly one
GetUserAvailability per 100 mailboxes per 42-day chunk, warm or cold.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from exchangelib import UTC, EWSDateTime, Identity
from exchangelib.errors import ResponseMessageError
from exchangelib.fields import WEEKDAY_NAMES
from exchangelib.properties import (
    DaylightTime,
    FreeBusyViewOptions,
    MailboxData,
    StandardTime,
    TimeWindow,
    TimeZone,
)
from exchangelib.services import GetUserAvailability

from pipeline.errors import ErrorCode, PermanentError, RetryableError
from pipeline.exchange.ews.connection import LiveConnection
from pipeline.exchange.ews.errors import to_pipeline_error
from pipeline.exchange.types import BusyInterval, BusyType, MailboxAvailability, WorkingHours, WorkingPeriod
from pipeline.integrations import AuthType

__all__ = ["MAX_DAYS_PER_REQUEST", "MAX_MAILBOXES_PER_REQUEST", "fetch_availability", "plan_requests"]

MAX_MAILBOXES_PER_REQUEST = 100  # beyond this EWS answers ErrorMailboxDataArrayTooBig
MAX_DAYS_PER_REQUEST = 42  # beyond this EWS answers ErrorTimeIntervalTooBig (the default policy)

_NO_DST = dict(bias=0, time=dt.time(2, 0), occurrence=1, iso_month=1, weekday=7)
UTC_TIME_ZONE = TimeZone(bias=0, standard_time=StandardTime(**_NO_DST), daylight_time=DaylightTime(**_NO_DST))


class _AvailabilityAs(GetUserAvailability):
    """GetUserAvailability that may carry an ExchangeImpersonation header and reports per-mailbox errors.

    exchangelib's protocol-level service never impersonates (except OAuth's fixed identity), and
    raises on the first failed mailbox; one unknown address must not sink the other 99.
    """

    ERRORS_TO_CATCH_IN_RESPONSE = (ResponseMessageError,)

    def __init__(self, *args: Any, acting_as: Identity | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._acting_as = acting_as

    @property
    def _account_to_impersonate(self) -> Identity | None:
        return self._acting_as or super()._account_to_impersonate


Chunk = tuple[dt.datetime, dt.datetime]


def plan_requests(
    mailboxes: Sequence[str], start: dt.datetime, end: dt.datetime
) -> list[tuple[list[str], Chunk]]:
    """Every (mailbox batch, time chunk) pair the query needs: batches of <= 100, chunks of <= 42 days."""
    batches = [
        list(mailboxes[i : i + MAX_MAILBOXES_PER_REQUEST])
        for i in range(0, len(mailboxes), MAX_MAILBOXES_PER_REQUEST)
    ]
    chunks: list[Chunk] = []
    cursor = start
    while cursor < end:
        chunk_end = min(cursor + dt.timedelta(days=MAX_DAYS_PER_REQUEST), end)
        chunks.append((cursor, chunk_end))
        cursor = chunk_end
    return [(batch, chunk) for chunk in chunks for batch in batches]


def fetch_availability(
    live: LiveConnection,
    mailboxes: Sequence[str],
    start: dt.datetime,
    end: dt.datetime,
    *,
    detailed: bool,
    merged_interval_minutes: int | None,
    max_workers: int,
) -> list[MailboxAvailability]:
    if start.tzinfo is None or end.tzinfo is None:
        raise PermanentError(ErrorCode.INVALID_KWARGS, "free/busy start and end need a time zone")
    if end <= start:
        raise PermanentError(ErrorCode.INVALID_KWARGS, "free/busy end must be after start")
    unique = list(dict.fromkeys(m.strip().lower() for m in mailboxes))
    if not unique:
        return []
    view = ("Detailed" if detailed else "FreeBusy") + ("Merged" if merged_interval_minutes else "")
    interval, acting_as = merged_interval_minutes or 30, _impersonation(live)
    plan = plan_requests(unique, start.astimezone(dt.UTC), end.astimezone(dt.UTC))
    workers = max(1, min(len(plan), max_workers))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ews-availability") as pool:
        answers = list(
            pool.map(lambda job: list(_request(live, job[0], job[1], view, interval, acting_as)), plan)
        )
    merged: dict[str, list[MailboxAvailability]] = {m: [] for m in unique}
    for (batch, _chunk), views in zip(plan, answers, strict=True):
        for mailbox, answer in zip(batch, views, strict=True):
            merged[mailbox].append(answer)
    combined = {mailbox: _combine(mailbox, parts) for mailbox, parts in merged.items()}
    return [combined[m.strip().lower()] for m in mailboxes]


def _impersonation(live: LiveConnection) -> Identity | None:
    """Whose rights apply to free/busy: the impersonated user, when the method acts as someone."""
    if not live.impersonating:
        return None
    if live.settings.auth_type is not AuthType.OAUTH2 and live.target.user is None:
        return None  # a service logon reading free/busy in its own right
    return Identity(primary_smtp_address=live.target.mailbox)


def _request(
    live: LiveConnection,
    batch: list[str],
    chunk: Chunk,
    view: str,
    interval: int,
    acting_as: Identity | None,
) -> Iterator[MailboxAvailability]:
    service = _AvailabilityAs(protocol=live.protocol, acting_as=acting_as)
    answers = service.call(
        tzinfo=UTC,
        mailbox_data=[MailboxData(email=m, attendee_type="Required", exclude_conflicts=False) for m in batch],
        timezone=UTC_TIME_ZONE,
        free_busy_view_options=FreeBusyViewOptions(
            time_window=TimeWindow(
                start=EWSDateTime.from_datetime(chunk[0]), end=EWSDateTime.from_datetime(chunk[1])
            ),
            merged_free_busy_interval=interval,
            requested_view=view,
        ),
    )
    for mailbox, answer in zip(batch, answers, strict=True):
        if isinstance(answer, Exception):
            error = to_pipeline_error(answer, "GetUserAvailability")
            if error is None:
                raise answer
            if isinstance(error, RetryableError):
                raise error from answer  # throttled mid-answer: the whole job retries
            yield MailboxAvailability(mailbox, error_code=error.code, error_message=error.message)
        else:
            yield _convert(mailbox, answer)


def _convert(mailbox: str, view: Any) -> MailboxAvailability:
    intervals = tuple(
        BusyInterval(
            start=_plain(event.start),
            end=_plain(event.end),
            busy_type=BusyType(event.busy_type),
            subject=event.details.subject if event.details else None,
            location=event.details.location if event.details else None,
            is_private=bool(event.details and event.details.is_private),
        )
        for event in view.calendar_events or ()
    )
    hours = None
    if view.working_hours:
        periods = tuple(
            WorkingPeriod(
                days=tuple(_day_name(day) for day in period.weekdays),
                start_minute=period.start.hour * 60 + period.start.minute,
                end_minute=period.end.hour * 60 + period.end.minute,
            )
            for period in view.working_hours
        )
        bias = view.working_hours_timezone.bias if view.working_hours_timezone else 0
        hours = WorkingHours(utc_offset_minutes=-bias, periods=periods)
    return MailboxAvailability(mailbox, intervals=intervals, working_hours=hours, merged=view.merged)


def _combine(mailbox: str, parts: list[MailboxAvailability]) -> MailboxAvailability:
    """One answer per mailbox from its chunks: events spanning a chunk boundary appear once."""
    failed = next((p for p in parts if not p.ok), None)
    if failed is not None:
        return failed
    if len(parts) == 1:
        return parts[0]
    intervals = tuple(dict.fromkeys(i for p in parts for i in p.intervals))
    hours = next((p.working_hours for p in parts if p.working_hours), None)
    merged = "".join(p.merged for p in parts if p.merged) or None
    return MailboxAvailability(mailbox, intervals=intervals, working_hours=hours, merged=merged)


def _day_name(day: int | str) -> str:
    """exchangelib gives ISO weekday numbers (1 = Monday); EWS and our callers use names."""
    return WEEKDAY_NAMES[day - 1] if isinstance(day, int) else str(day)


def _plain(value: dt.datetime) -> dt.datetime:
    """A stdlib UTC datetime from exchangelib's EWSDateTime (times were asked for in UTC)."""
    utc = value.astimezone(UTC) if value.tzinfo else value
    return dt.datetime(utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, tzinfo=dt.UTC)
