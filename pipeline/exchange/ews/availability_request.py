"""The body of a GetUserAvailability request, built with lxml (no exchangelib objects).

exchangelib's service wraps it (SOAP envelope, RequestServerVersion, ExchangeImpersonation,
TimeZoneContext) and sends it; this module only says what is asked: which mailboxes, which
window, which view. Times are asked for in UTC, whose SerializableTimeZone is a constant, so no
GetServerTimeZones round trip is ever needed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from exchangelib.util import MNS, TNS
from lxml import etree

__all__ = ["build_request", "ews_datetime"]

_RULE = (("Bias", "0"), ("Time", "02:00:00"), ("DayOrder", "1"), ("Month", "1"), ("DayOfWeek", "Sunday"))


def _t(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, f"{{{TNS}}}{tag}")
    if text is not None:
        element.text = text
    return element


def ews_datetime(value: dt.datetime) -> str:
    """xs:dateTime in UTC as EWS (and exchangelib) write it: 2030-01-07T09:00:00Z."""
    utc = value.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if utc.microsecond else "%Y-%m-%dT%H:%M:%SZ")


def build_request(
    mailboxes: Sequence[str], start: dt.datetime, end: dt.datetime, view: str, interval_minutes: int
) -> etree._Element:
    """m:GetUserAvailabilityRequest for up to 100 mailboxes over [start, end), times in UTC.

    `view` is an EWS RequestedView (FreeBusy, FreeBusyMerged, Detailed, DetailedMerged).
    """
    request = etree.Element(f"{{{MNS}}}GetUserAvailabilityRequest")
    zone = _t(request, "TimeZone")
    _t(zone, "Bias", "0")
    for part in ("StandardTime", "DaylightTime"):
        rule = _t(zone, part)
        for tag, text in _RULE:
            _t(rule, tag, text)
    array = etree.SubElement(request, f"{{{MNS}}}MailboxDataArray")
    for mailbox in mailboxes:
        data = _t(array, "MailboxData")
        email = _t(data, "Email")
        _t(email, "Address", mailbox)
        _t(email, "RoutingType", "SMTP")
        _t(data, "AttendeeType", "Required")
        _t(data, "ExcludeConflicts", "false")
    options = _t(request, "FreeBusyViewOptions")
    window = _t(options, "TimeWindow")
    _t(window, "StartTime", ews_datetime(start))
    _t(window, "EndTime", ews_datetime(end))
    _t(options, "MergedFreeBusyIntervalInMinutes", str(interval_minutes))
    _t(options, "RequestedView", view)
    return request
