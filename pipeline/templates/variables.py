"""The `booking` template variable: the booking's people, place, links and time, ready to show.

Built from the job's fields (docs/templates.md lists every name). Each person carries their class
(internal or external, from the integration's internal domains) and the booking's time in their
own time zone; `times` groups the people by zone, the event's zone first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pipeline.contract.booking import AttendeeClass

__all__ = ["BookingFacts", "TemplateLink", "TemplatePerson", "booking_variable", "format_when"]

_DASH = " \N{EN DASH} "
# The roles that name one person each; the first attendee with the role is the one.
_ONE_PERSON_ROLES = ("candidate", "customer")
# The roles that name a list of people.
_GROUP_ROLES = {"interviewers": "interviewer", "staff": "staff"}


@dataclass(frozen=True)
class TemplatePerson:
    """An attendee as a job gives them."""

    email: str
    name: str | None = None
    role: str | None = None
    time_zone: str | None = None  # None: the event's zone
    required: bool = True


@dataclass(frozen=True)
class TemplateLink:
    """A link for the event's text."""

    url: str
    label: str | None = None


@dataclass(frozen=True)
class BookingFacts:
    """What the templates are told about a booking."""

    booking_key: str
    mailbox: str
    time_zone: str  # IANA name of the zone the event is shown in
    start: datetime | None
    end: datetime | None
    location: str | None = None
    attendees: tuple[TemplatePerson, ...] = ()
    rooms: tuple[str, ...] = ()
    links: tuple[TemplateLink, ...] = ()


def booking_variable(
    facts: BookingFacts,
    classify: Callable[[str], AttendeeClass],
    template_vars: Mapping[str, Any],
) -> dict[str, Any]:
    """The value of the `booking` template variable.

    `candidate` and `customer` are the first attendee with that role; without one, a string of the
    same name in template_vars stands in (a person with a name and no address); else nil.
    """
    people = [_person(person, facts, classify) for person in facts.attendees]
    variable: dict[str, Any] = {
        "key": facts.booking_key,
        "mailbox": facts.mailbox,
        "location": facts.location or "",
        "links": [{"url": link.url, "label": link.label or link.url} for link in facts.links],
        "rooms": list(facts.rooms),
        "attendees": people,
        "internal_attendees": [p for p in people if p["class"] == AttendeeClass.INTERNAL.value],
        "external_attendees": [p for p in people if p["class"] == AttendeeClass.EXTERNAL.value],
        **_times(facts.start, facts.end, facts.time_zone),
        "times": _zones(facts, people),
    }
    for role in _ONE_PERSON_ROLES:
        variable[role] = next((p for p in people if p["role"] == role), None) or _named(
            template_vars.get(role), role, facts
        )
    for key, role in _GROUP_ROLES.items():
        variable[key] = [p for p in people if p["role"] == role]
    return variable


def format_when(start: datetime, end: datetime, zone: str) -> str:
    """A time range as people read it in `zone`: "Tuesday 3 November 2026, 14:00 - 15:00 GMT
    (Europe/London)" (with an en dash); the end's day too when it ends on another day, and the
    start's zone abbreviation too when the clocks change in between."""
    tz = ZoneInfo(zone)
    local_start, local_end = start.astimezone(tz), end.astimezone(tz)
    start_abbreviation, end_abbreviation = local_start.tzname() or "", local_end.tzname() or ""
    suffix = f" {end_abbreviation}" if end_abbreviation else ""
    if end_abbreviation != zone:
        suffix += f" ({zone})"
    opening = f"{_day(local_start)}, {local_start:%H:%M}"
    if start_abbreviation != end_abbreviation:
        opening += f" {start_abbreviation}"
    closing = f"{local_end:%H:%M}{suffix}"
    if local_start.date() != local_end.date():
        closing = f"{_day(local_end)}, {closing}"
    return f"{opening}{_DASH}{closing}"


def _day(moment: datetime) -> str:
    return f"{moment:%A} {moment.day} {moment:%B %Y}"


def _times(start: datetime | None, end: datetime | None, zone: str) -> dict[str, str]:
    """start and end (ISO 8601 in `zone`) and when, or empty strings when the time is unknown."""
    if start is None or end is None:
        return {"time_zone": zone, "start": "", "end": "", "when": ""}
    tz = ZoneInfo(zone)
    return {
        "time_zone": zone,
        "start": start.astimezone(tz).isoformat(),
        "end": end.astimezone(tz).isoformat(),
        "when": format_when(start, end, zone),
    }


def _person(
    person: TemplatePerson, facts: BookingFacts, classify: Callable[[str], AttendeeClass]
) -> dict[str, Any]:
    attendee_class = classify(person.email).value
    return {
        "email": person.email,
        "name": person.name or "",
        "display": person.name or person.email,
        "role": person.role or "",
        "class": attendee_class,
        "internal": attendee_class == AttendeeClass.INTERNAL.value,
        "required": person.required,
        **_times(facts.start, facts.end, person.time_zone or facts.time_zone),
    }


def _named(value: Any, role: str, facts: BookingFacts) -> dict[str, Any] | None:
    """A person known only by a name in template_vars (the contract before attendee roles)."""
    if not isinstance(value, str) or not value:
        return None
    return {
        "email": "", "name": value, "display": value, "role": role, "class": "", "internal": False,
        "required": True, **_times(facts.start, facts.end, facts.time_zone),
    }


def _zones(facts: BookingFacts, people: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per time zone (the event's first), with the time there and who is in it."""
    if facts.start is None or facts.end is None:
        return []
    by_zone: dict[str, list[dict[str, Any]]] = {facts.time_zone: []}
    for person in people:
        by_zone.setdefault(person["time_zone"], []).append(person)
    return [
        {**_times(facts.start, facts.end, zone), "attendees": members} for zone, members in by_zone.items()
    ]
