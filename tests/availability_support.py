"""GetUserAvailability answers two ways: exchangelib's parse (the pipeline's before lxml) and ours.

`exchangelib_read` is what pipeline/exchange/ews/availability.py did until the lxml parser:
exchangelib's GetUserAvailability service turns the answer into FreeBusyView objects (its
`parse`, meant for tests, runs the same code as a call), and `_convert` (kept verbatim) turns
those into the gateway's values. `lxml_read` is the pipeline's AvailabilityService on the same
bytes. Plus builders for hand-written answers and a check against Microsoft's messages.xsd.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from exchangelib import BASIC, UTC, Build, Configuration, Credentials, Version
from exchangelib.errors import ResponseMessageError
from exchangelib.fields import WEEKDAY_NAMES
from exchangelib.protocol import Protocol
from exchangelib.services import GetUserAvailability
from exchangelib.util import MNS, SOAPNS, TNS
from lxml import etree

from infra.ewssim.schema import SchemaValidator
from pipeline.errors import RetryableError
from pipeline.exchange.ews.availability import AvailabilityService
from pipeline.exchange.ews.errors import to_pipeline_error
from pipeline.exchange.types import BusyInterval, BusyType, MailboxAvailability, WorkingHours, WorkingPeriod

SCHEMA_DIR = Path(os.environ.get("EWS_SCHEMA_DIR")
                  or Path(__file__).resolve().parents[2] / "shared/ews-schema")
_VALIDATOR = SchemaValidator(SCHEMA_DIR) if (SCHEMA_DIR / "messages.xsd").is_file() else None


def protocol(endpoint: str = "https://ews.invalid/EWS/Exchange.asmx") -> Protocol:
    """A Protocol that is never connected: both parses need one, neither sends anything."""
    config = Configuration(service_endpoint=endpoint, credentials=Credentials("reader", "unused"),
                           auth_type=BASIC, version=Version(build=Build(15, 2, 1118, 7)))
    return Protocol(config=config)


class _ExchangelibAvailability(GetUserAvailability):
    ERRORS_TO_CATCH_IN_RESPONSE = (ResponseMessageError,)


def exchangelib_read(mailboxes: list[str], content: bytes) -> list[MailboxAvailability]:
    """The pipeline's parse before lxml: exchangelib's FreeBusyView objects, then `_convert`."""
    service = _ExchangelibAvailability(protocol=protocol())
    service.tzinfo = UTC
    results: list[MailboxAvailability] = []
    for mailbox, answer in zip(mailboxes, list(service.parse(content)), strict=True):
        if isinstance(answer, Exception):
            error = to_pipeline_error(answer, "GetUserAvailability")
            if error is None:
                raise answer
            if isinstance(error, RetryableError):
                raise error from answer
            results.append(MailboxAvailability(mailbox, error_code=error.code, error_message=error.message))
        else:
            results.append(_convert(mailbox, answer))
    return results


def lxml_read(mailboxes: list[str], content: bytes) -> list[MailboxAvailability]:
    """The pipeline's parse: AvailabilityService.read, what its ask() makes of an answer."""
    return AvailabilityService(protocol=protocol()).read(mailboxes, content)


# Verbatim from pipeline/exchange/ews/availability.py before the lxml parser ---------------------


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


def _day_name(day: int | str) -> str:
    return WEEKDAY_NAMES[day - 1] if isinstance(day, int) else str(day)


def _plain(value: Any) -> Any:
    import datetime as dt

    utc = value.astimezone(UTC) if value.tzinfo else value
    return dt.datetime(utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, tzinfo=dt.UTC)


# Hand-written answers -------------------------------------------------------------------------

_NAMESPACES = f'xmlns:s="{SOAPNS}" xmlns:m="{MNS}" xmlns:t="{TNS}"'


def envelope(*responses: str, array: bool = True) -> bytes:
    """A GetUserAvailability answer as Exchange 2019 sends it, around FreeBusyResponse elements."""
    inner = "".join(responses)
    if array:
        inner = f"<m:FreeBusyResponseArray>{inner}</m:FreeBusyResponseArray>"
    return (
        f'<?xml version="1.0" encoding="utf-8"?><s:Envelope {_NAMESPACES}><s:Header>'
        '<t:ServerVersionInfo MajorVersion="15" MinorVersion="2" MajorBuildNumber="1118" '
        'MinorBuildNumber="7" Version="V2017_07_11"/></s:Header><s:Body>'
        f"<m:GetUserAvailabilityResponse>{inner}</m:GetUserAvailabilityResponse></s:Body></s:Envelope>"
    ).encode()


def ok(view_xml: str) -> str:
    return ('<m:FreeBusyResponse><m:ResponseMessage ResponseClass="Success"><m:ResponseCode>NoError'
            f"</m:ResponseCode></m:ResponseMessage>{view_xml}</m:FreeBusyResponse>")


def failed(code: str, text: str, message_xml: str = "") -> str:
    xml = f"<m:MessageXml>{message_xml}</m:MessageXml>" if message_xml else ""
    return (f'<m:FreeBusyResponse><m:ResponseMessage ResponseClass="Error"><m:MessageText>{text}'
            f"</m:MessageText><m:ResponseCode>{code}</m:ResponseCode><m:DescriptiveLinkKey>0"
            f"</m:DescriptiveLinkKey>{xml}</m:ResponseMessage><m:FreeBusyView><t:FreeBusyViewType>None"
            "</t:FreeBusyViewType></m:FreeBusyView></m:FreeBusyResponse>")


def view(kind: str = "FreeBusy", *, merged: str | None = None, events: list[str] | None = None,
         hours: str | None = None) -> str:
    parts = [f"<t:FreeBusyViewType>{kind}</t:FreeBusyViewType>"]
    if merged is not None:
        parts.append(f"<t:MergedFreeBusy>{merged}</t:MergedFreeBusy>")
    if events is not None:
        parts.append(f"<t:CalendarEventArray>{''.join(events)}</t:CalendarEventArray>")
    if hours is not None:
        parts.append(hours)
    return f"<m:FreeBusyView>{''.join(parts)}</m:FreeBusyView>"


def event(start: str, end: str, busy: str = "Busy", details: str = "") -> str:
    return (f"<t:CalendarEvent><t:StartTime>{start}</t:StartTime><t:EndTime>{end}</t:EndTime>"
            f"<t:BusyType>{busy}</t:BusyType>{details}</t:CalendarEvent>")


def details(*, item_id: str | None = None, subject: str | None = None, location: str | None = None,
            private: str = "false", meeting: str = "true") -> str:
    parts = [f"<t:{tag}>{value}</t:{tag}>" for tag, value in
             (("ID", item_id), ("Subject", subject), ("Location", location)) if value is not None]
    return (f"<t:CalendarEventDetails>{''.join(parts)}<t:IsMeeting>{meeting}</t:IsMeeting>"
            "<t:IsRecurring>false</t:IsRecurring><t:IsException>false</t:IsException>"
            f"<t:IsReminderSet>true</t:IsReminderSet><t:IsPrivate>{private}</t:IsPrivate>"
            "</t:CalendarEventDetails>")


def _zone_time(bias: int, month: int, order: int, day: str, at: str = "02:00:00") -> str:
    return (f"<t:Bias>{bias}</t:Bias><t:Time>{at}</t:Time><t:DayOrder>{order}</t:DayOrder>"
            f"<t:Month>{month}</t:Month><t:DayOfWeek>{day}</t:DayOfWeek>")


def working_hours(bias: int, periods: list[tuple[str, int, int]], *, dst: bool = False) -> str:
    """WorkingHours with a SerializableTimeZone of `bias` (UTC minus local, in minutes)."""
    if dst:  # a European rule: one hour ahead from the last Sunday of March to that of October
        standard, daylight = _zone_time(0, 10, 5, "Sunday", "03:00:00"), _zone_time(-60, 3, 5, "Sunday")
    else:
        standard = daylight = _zone_time(0, 0, 0, "Sunday", "00:00:00")
    rows = "".join(f"<t:WorkingPeriod><t:DayOfWeek>{days}</t:DayOfWeek><t:StartTimeInMinutes>{start}"
                   f"</t:StartTimeInMinutes><t:EndTimeInMinutes>{end}</t:EndTimeInMinutes></t:WorkingPeriod>"
                   for days, start, end in periods)
    return (f"<t:WorkingHours><t:TimeZone><t:Bias>{bias}</t:Bias><t:StandardTime>{standard}</t:StandardTime>"
            f"<t:DaylightTime>{daylight}</t:DaylightTime></t:TimeZone>"
            f"<t:WorkingPeriodArray>{rows}</t:WorkingPeriodArray></t:WorkingHours>")


def schema_violations(content: bytes) -> list[str]:
    """What messages.xsd says of the SOAP body's child ([] when valid, or when no schema is here)."""
    if _VALIDATOR is None:
        return []
    body = etree.fromstring(content).find(f"{{{SOAPNS}}}Body")
    assert body is not None and len(body) == 1
    return _VALIDATOR.errors(body[0])


def has_schema() -> bool:
    return _VALIDATOR is not None
