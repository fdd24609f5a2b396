"""GetUserAvailability answers read with lxml straight into the gateway's values.

exchangelib turns every CalendarEvent into an EWSElement through its generic field machinery,
and feeds its parser the body one byte at a time (requests' `iter_content()` default): half a
second to a second of CPU per 100-mailbox answer of 42 busy days. Here the body is parsed in one
call and each FreeBusyView is walked once into `MailboxAvailability` (about 45 ms for such an
answer), with exchangelib's meaning kept field by field; the two parses are compared on
hand-written answers (tests/unit/test_ews_availability_parser.py) and on the simulator's
(tests/integration/test_ews_availability_answers.py):

- event times are in the request's time zone (UTC: naive, or with Z or an offset), whole seconds;
- a missing or empty BusyType is Busy; Subject and Location are None when absent or empty;
- working hours need a non-empty WorkingPeriodArray; the TimeZone's Bias is UTC minus local.

Where exchangelib's parse would crash or mislead, this one differs on purpose: a DayOfWeek of
Day, Weekday or WeekendDay is kept (exchangelib fails on it); EndTimeInMinutes 1440 is midnight
(exchangelib wraps it to 0); IsPrivate "1" is true (xs:boolean; exchangelib reads only "true").

The parser is hardened: no entity expansion, no network, no DTD loading, libxml2's size limits
kept (huge_tree off), no recovery. A document that is not well-formed is a transient failure
(truncated or garbled in transit: retried); one with a document type declaration, which SOAP
forbids, is refused for good. A FreeBusyView that breaks the schema fails its own mailbox only.
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
from collections.abc import Iterable, Sequence

from exchangelib.util import MNS, SOAPNS, TNS
from lxml import etree

from pipeline.errors import ErrorCode, PermanentError, RetryableError
from pipeline.exchange.ews.errors import to_pipeline_error
from pipeline.exchange.types import BusyInterval, BusyType, MailboxAvailability, WorkingHours, WorkingPeriod

__all__ = ["OPERATION", "parse_document", "read_answers", "read_view", "soap_parts"]

OPERATION = "GetUserAvailability"

_ENVELOPE, _HEADER, _BODY = (f"{{{SOAPNS}}}{tag}" for tag in ("Envelope", "Header", "Body"))
(
    _MERGED, _EVENTS, _EVENT, _START, _END, _BUSY, _DETAILS, _SUBJECT, _LOCATION, _PRIVATE,
    _WORKING_HOURS, _TIME_ZONE, _BIAS, _PERIODS, _PERIOD, _DAYS, _FROM_MINUTE, _TO_MINUTE,
) = (
    f"{{{TNS}}}{tag}"
    for tag in (
        "MergedFreeBusy", "CalendarEventArray", "CalendarEvent", "StartTime", "EndTime", "BusyType",
        "CalendarEventDetails", "Subject", "Location", "IsPrivate", "WorkingHours", "TimeZone", "Bias",
        "WorkingPeriodArray", "WorkingPeriod", "DayOfWeek", "StartTimeInMinutes", "EndTimeInMinutes",
    )
)
RESPONSE_MESSAGE = f"{{{MNS}}}ResponseMessage"
FREE_BUSY_VIEW = f"{{{MNS}}}FreeBusyView"

_BUSY_TYPES = {busy_type.value: busy_type for busy_type in BusyType}
_TRUE = frozenset({"true", "on", "1"})  # exchangelib's true/on, and xs:boolean's 1
_MINUTES_PER_DAY = 24 * 60
_UTC = dt.UTC

# lxml parsers must not be shared between threads; one per thread also lets parsing run without
# the GIL, so concurrent answers are parsed in parallel.
_local = threading.local()


def _parser() -> etree.XMLParser:
    parser: etree.XMLParser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
            huge_tree=False, recover=False, remove_comments=True, remove_pis=True, collect_ids=False,
        )
        _local.parser = parser
    return parser


class _Malformed(ValueError):
    """A FreeBusyView that breaks the schema; its mailbox fails, the others stand."""


def parse_document(content: bytes) -> etree._Element:
    """The root element of an answer; RetryableError when it is not XML, PermanentError with a DTD."""
    if not content.strip():
        raise RetryableError(ErrorCode.EWS_UNAVAILABLE, f"{OPERATION}: the answer is empty")
    if _declares_doctype(content):  # refused before libxml2 reads any of it
        raise _doctype_refused()
    try:
        root = etree.fromstring(content, _parser())
    except etree.XMLSyntaxError as exc:
        raise RetryableError(
            ErrorCode.EWS_UNAVAILABLE,
            f"{OPERATION}: the answer is not well-formed XML ({exc.msg}; {len(content)} bytes): "
            "truncated or garbled on the way",
        ) from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise _doctype_refused()
    return root


def _declares_doctype(content: bytes) -> bool:
    """Whether the prolog (the XML declaration, comments and processing instructions before the
    root element) holds a <!DOCTYPE ...>."""
    position = 3 if content.startswith(b"\xef\xbb\xbf") else 0
    while (start := content.find(b"<", position)) >= 0:
        if content.startswith(b"<!DOCTYPE", start):
            return True
        if content.startswith(b"<?", start):
            end = content.find(b"?>", start)
        elif content.startswith(b"<!--", start):
            end = content.find(b"-->", start)
        else:
            return False  # the root element
        if end < 0:
            return False
        position = end + 2
    return False


def _doctype_refused() -> PermanentError:
    # SOAP 1.1, section 3: "A SOAP message MUST NOT contain a Document Type Declaration."
    return PermanentError(
        ErrorCode.EWS_ERROR,
        f"{OPERATION}: the answer carries a document type declaration, which SOAP forbids; "
        "it was not read (no entity expanded or fetched)",
    )


def soap_parts(content: bytes) -> tuple[etree._Element | None, etree._Element]:
    """The SOAP Header (None without one) and Body of an answer."""
    root = parse_document(content)
    if root.tag != _ENVELOPE:
        raise RetryableError(
            ErrorCode.EWS_UNAVAILABLE, f"{OPERATION}: the answer is XML but not a SOAP envelope ({root.tag})"
        )
    body = root.find(_BODY)
    if body is None:
        raise RetryableError(ErrorCode.EWS_UNAVAILABLE, f"{OPERATION}: the SOAP answer has no Body")
    return root.find(_HEADER), body


def read_answers(
    mailboxes: Sequence[str], answers: Iterable[etree._Element | Exception | None]
) -> list[MailboxAvailability]:
    """One value per mailbox from the answers in request order: a FreeBusyView, or the exception
    exchangelib made of its ResponseMessage (a throttled mailbox raises: the whole job retries)."""
    found = list(answers)
    if len(found) != len(mailboxes):
        raise PermanentError(
            ErrorCode.EWS_ERROR, f"{OPERATION}: {len(found)} FreeBusyResponses for {len(mailboxes)} mailboxes"
        )
    results: list[MailboxAvailability] = []
    for mailbox, answer in zip(mailboxes, found, strict=True):
        if isinstance(answer, Exception):
            error = to_pipeline_error(answer, OPERATION)
            if error is None:
                raise answer
            if isinstance(error, RetryableError):
                raise error from answer
            results.append(MailboxAvailability(mailbox, error_code=error.code, error_message=error.message))
        else:
            results.append(read_view(mailbox, answer))
    return results


def read_view(mailbox: str, view: etree._Element | None) -> MailboxAvailability:
    """A mailbox's free/busy from its FreeBusyView (times in UTC, as they were asked for)."""
    if view is None:
        return _broken(mailbox, "a FreeBusyResponse without a FreeBusyView")
    try:
        events = view.find(_EVENTS)
        intervals = () if events is None else _intervals(events)
        hours = view.find(_WORKING_HOURS)
        working_hours = None if hours is None else _working_hours(hours)
    except _Malformed as exc:
        return _broken(mailbox, str(exc))
    return MailboxAvailability(
        mailbox, intervals=intervals, working_hours=working_hours, merged=view.findtext(_MERGED) or None
    )


def _broken(mailbox: str, why: str) -> MailboxAvailability:
    return MailboxAvailability(
        mailbox,
        error_code=ErrorCode.EWS_ERROR,
        error_message=f"{OPERATION}: the free/busy of {mailbox} does not follow EWS's schema: {why}",
    )


# The hot path (30,000 events for 1,000 mailboxes): one C-level walk of the CalendarEventArray
# that yields only these elements, in document order, instead of a proxy for every child.
_EVENT_FIELDS = {_START: 0, _END: 1, _BUSY: 2, _SUBJECT: 3, _LOCATION: 4, _PRIVATE: 5}
_EVENT_TAGS = (_EVENT, *_EVENT_FIELDS)


def _intervals(array: etree._Element) -> tuple[BusyInterval, ...]:
    intervals: list[BusyInterval] = []
    fields: list[str | None] | None = None
    for element in array.iter(*_EVENT_TAGS):
        tag = element.tag
        if tag == _EVENT:
            if fields is not None:
                intervals.append(_interval(*fields))
            fields = [None] * 6
        elif fields is None:
            raise _Malformed(f"{etree.QName(tag).localname} outside a CalendarEvent")
        else:
            fields[_EVENT_FIELDS[tag]] = element.text
    if fields is not None:
        intervals.append(_interval(*fields))
    return tuple(intervals)


def _interval(
    start: str | None, end: str | None, busy: str | None, subject: str | None, location: str | None,
    private: str | None,
) -> BusyInterval:
    busy_type = _BUSY_TYPES.get(busy) if busy else BusyType.BUSY
    if busy_type is None:
        raise _Malformed(f"unknown BusyType {busy!r}")
    return BusyInterval(
        _utc(start, "StartTime"),
        _utc(end, "EndTime"),
        busy_type,
        subject or None,
        location or None,
        private is not None and private.lower() in _TRUE,
    )


def _utc(text: str | None, name: str) -> dt.datetime:
    if not text:
        raise _Malformed(f"a CalendarEvent without {name}")
    value = _parse_utc(text)
    if value is None:
        raise _Malformed(f"{name} {text!r} is not an xs:dateTime")
    return value


@functools.lru_cache(maxsize=8192)
def _parse_utc(text: str) -> dt.datetime | None:
    """An xs:dateTime in UTC, whole seconds; a naive one is in the request's time zone (UTC).

    Cached: the events of a hundred calendars share most of their start and end times.
    """
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=_UTC, microsecond=0)
    return value.astimezone(_UTC).replace(microsecond=0)


def _working_hours(hours: etree._Element) -> WorkingHours | None:
    array = hours.find(_PERIODS)
    periods = () if array is None else tuple(map(_period, array.iterchildren(_PERIOD)))
    if not periods:
        return None
    zone = hours.find(_TIME_ZONE)
    bias = 0 if zone is None else _integer(zone.findtext(_BIAS), "TimeZone Bias")
    return WorkingHours(utc_offset_minutes=-bias, periods=periods)


def _period(period: etree._Element) -> WorkingPeriod:
    days = tuple((period.findtext(_DAYS) or "").split())
    if not days:
        raise _Malformed("a WorkingPeriod without DayOfWeek")
    return WorkingPeriod(
        days=days,
        start_minute=_minute_of_day(period.findtext(_FROM_MINUTE), "StartTimeInMinutes"),
        end_minute=_minute_of_day(period.findtext(_TO_MINUTE), "EndTimeInMinutes"),
    )


def _minute_of_day(text: str | None, name: str) -> int:
    if text and ":" in text:  # exchangelib also takes HH:MM:SS here
        try:
            clock = dt.time.fromisoformat(text.strip())
        except ValueError:
            raise _Malformed(f"{name} {text!r} is not a time of day") from None
        return clock.hour * 60 + clock.minute
    minutes = _integer(text, name)
    if not 0 <= minutes <= _MINUTES_PER_DAY:
        raise _Malformed(f"{name} {minutes} is not a minute of the day")
    return minutes


def _integer(text: str | None, name: str) -> int:
    try:
        return int(text or "")
    except ValueError:
        raise _Malformed(f"{name} {text!r} is not an integer") from None
