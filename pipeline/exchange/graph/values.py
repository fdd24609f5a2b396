"""Graph's JSON values as the pipeline takes them: dateTimeTimeZone, attendees, responses, bodies.

Requests carry `Prefer: outlook.timezone="UTC"`, so every dateTime Graph returns is UTC
(learn.microsoft.com/graph/api/resources/datetimetimezone); values sent name the event's own
IANA zone, which Graph accepts beside Windows names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pipeline.exchange.calendar_items import AttendeeResponse, ResponseType
from pipeline.exchange.types import BodyType

__all__ = [
    "RESPONSES",
    "attendee_list",
    "attendee_responses",
    "body_of",
    "emails_of",
    "graph_time",
    "organizer_of",
    "parse_time",
]

# Graph's responseType -> the contract's names (as EWS's ResponseType maps in ews/item_values.py).
RESPONSES: dict[str, ResponseType] = {
    "none": ResponseType.UNKNOWN,
    "organizer": ResponseType.ORGANIZER,
    "tentativelyAccepted": ResponseType.TENTATIVE,
    "accepted": ResponseType.ACCEPTED,
    "declined": ResponseType.DECLINED,
    "notResponded": ResponseType.NONE,
}


def graph_time(moment: datetime, zone: str) -> dict[str, str]:
    """A dateTimeTimeZone showing `moment` in `zone` (an IANA name)."""
    local = moment.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    return {"dateTime": local.isoformat(timespec="seconds"), "timeZone": zone}


def parse_time(value: Mapping[str, Any] | None) -> datetime | None:
    """A dateTimeTimeZone Graph returned (in UTC, as every request asks) as an aware datetime."""
    if not value or not value.get("dateTime"):
        return None
    text = str(value["dateTime"]).rstrip("Z")
    whole, _, fraction = text.partition(".")
    moment = datetime.fromisoformat(whole)
    if fraction:
        moment = moment.replace(microsecond=int(fraction[:6].ljust(6, "0")))
    zone = str(value.get("timeZone") or "UTC")
    if moment.tzinfo is not None:
        return moment.astimezone(UTC)
    try:
        tz = UTC if zone.upper() in ("UTC", "Z", "COORDINATED UNIVERSAL TIME") else ZoneInfo(zone)
    except (KeyError, ValueError):
        tz = UTC
    return moment.replace(tzinfo=tz).astimezone(UTC)


def attendee_list(
    required: Iterable[str], optional: Iterable[str], rooms: Iterable[str]
) -> list[dict[str, Any]]:
    """Graph attendees: required, optional and resource (rooms), each address once."""
    seen: set[str] = set()
    people: list[dict[str, Any]] = []
    for kind, emails in (("required", required), ("optional", optional), ("resource", rooms)):
        for email in emails:
            if email.lower() in seen:
                continue
            seen.add(email.lower())
            people.append({"emailAddress": {"address": email}, "type": kind})
    return people


def emails_of(event: Mapping[str, Any]) -> tuple[str, ...]:
    """Every attendee's address, lower-cased, once each."""
    found = (_address(a) for a in event.get("attendees") or ())
    return tuple(dict.fromkeys(email for email in found if email))


def attendee_responses(event: Mapping[str, Any]) -> tuple[AttendeeResponse, ...]:
    """Everyone the event invites with their responses, as the organiser's event records them."""
    answers: dict[str, AttendeeResponse] = {}
    for attendee in event.get("attendees") or ():
        email = _address(attendee)
        if not email or email in answers:
            continue
        status = attendee.get("status") or {}
        response = RESPONSES.get(str(status.get("response") or "none"), ResponseType.UNKNOWN)
        answered = str(status.get("time") or "")
        when = None if not answered or answered.startswith("0001-01-01") else _instant(answered)
        answers[email] = AttendeeResponse(email=email, response=response, responded_at=when)
    return tuple(answers.values())


def _instant(text: str) -> datetime:
    """An ISO 8601 instant (Graph's DateTimeOffset: Z, an offset, or none for UTC)."""
    text = text.replace("Z", "+00:00")
    whole, offset = text[:19], text[19:]
    if offset.startswith("."):  # fractional seconds (Graph writes 7 digits): dropped
        offset = offset[next((i for i, c in enumerate(offset) if c in "+-"), len(offset)):]
    moment = datetime.fromisoformat(whole + offset)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def body_of(text: str, body_type: BodyType) -> dict[str, str]:
    return {"contentType": "html" if body_type is BodyType.HTML else "text", "content": text}


def organizer_of(event: Mapping[str, Any]) -> str | None:
    return _address(event.get("organizer") or {})


def _address(recipient: Mapping[str, Any]) -> str | None:
    address = (recipient.get("emailAddress") or {}).get("address")
    return str(address).lower() if address else None
