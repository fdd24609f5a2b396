"""Time zones as EWS writes them, from the models' Windows-style rules: TimeZoneDefinitionType
(StartTimeZone and EndTimeZone of items from Exchange 2010 on, GetServerTimeZones' definitions) and
Exchange 2007's TimeZoneType (MeetingTimeZone).

A full definition is what Exchange returns for an item's StartTimeZone and EndTimeZone (one period per
offset, one transitions group with the yearly rules, one transition to it); a client such as the EWS
Managed API refuses a definition without them. Zones the server does not list keep the id the client
gave, with the rule of the IANA zone of that name when there is one, else UTC's.
"""

from __future__ import annotations

from copy import deepcopy
from datetime import UTC, datetime
from functools import lru_cache

from infra.ewssim.models.timezones import (
    LAST,
    WEEKDAYS,
    RuleTimeZone,
    ServerTimeZone,
    TransitionRule,
    rule_for,
    server_time_zone,
)
from infra.ewssim.namespaces import Element, add, new, t

__all__ = [
    "add_meeting_time_zone",
    "add_time_zone_definition",
    "bias_duration",
    "render_definition",
    "zone_named",
]

_DAY_ORDER = {1: "First", 2: "Second", 3: "Third", 4: "Fourth", LAST: "Last"}
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")  # fmt: skip


def zone_named(zone_id: str, year: int | None = None) -> ServerTimeZone:
    """The server's zone of this Windows id (or IANA key), or one named as given with its best rule."""
    year = year or datetime.now(UTC).year
    known = server_time_zone(zone_id)
    if known is not None and year == datetime.now(UTC).year:
        return known
    if known is not None:
        return ServerTimeZone(known.ms_id, known.name, known.iana, rule_for(zone_id, year))
    return ServerTimeZone(zone_id, zone_id, zone_id, rule_for(zone_id, year))


def add_time_zone_definition(parent: Element, tag: str, zone_id: str, year: int | None = None) -> None:
    """Append a full TimeZoneDefinitionType element (t:StartTimeZone, t:EndTimeZone) for a zone."""
    parent.append(deepcopy(_definition(tag, zone_id or "UTC", year or datetime.now(UTC).year)))


def add_meeting_time_zone(parent: Element, zone_id: str, year: int | None = None) -> None:
    """Append t:MeetingTimeZone (Exchange 2007's TimeZoneType) for a zone."""
    parent.append(deepcopy(_meeting_time_zone(zone_id or "UTC", year or datetime.now(UTC).year)))


@lru_cache(maxsize=512)
def _definition(tag: str, zone_id: str, year: int) -> Element:
    element = new(t(tag))
    render_definition(element, zone_named(zone_id, year), full=True, year=year)
    return element


def render_definition(
    definition: Element, zone: ServerTimeZone, *, full: bool, year: int | None = None
) -> None:
    """Fill a TimeZoneDefinitionType element: Id and Name, and with `full` its periods and transitions."""
    definition.set("Id", zone.ms_id)
    definition.set("Name", zone.name)
    if not full:
        return
    rule = zone.rule
    year = year or datetime.now(UTC).year
    standard_id = f"trule:Microsoft/Registry/{zone.ms_id}/{year}-Standard"
    daylight_id = f"trule:Microsoft/Registry/{zone.ms_id}/{year}-Daylight"
    periods = add(definition, t("Periods"))
    add(periods, t("Period"), Bias=bias_duration(rule.bias), Name="Standard", Id=standard_id)
    if rule.has_dst:
        daylight_bias = bias_duration(rule.bias + rule.daylight_bias)
        add(periods, t("Period"), Bias=daylight_bias, Name="Daylight", Id=daylight_id)
    group = add(add(definition, t("TransitionsGroups")), t("TransitionsGroup"), Id="0")
    if rule.has_dst and rule.daylight is not None and rule.standard is not None:
        _add_recurring(group, daylight_id, rule.daylight)
        _add_recurring(group, standard_id, rule.standard)
    else:
        add(add(group, t("Transition")), t("To"), standard_id, Kind="Period")
    add(add(add(definition, t("Transitions")), t("Transition")), t("To"), "0", Kind="Group")


def _add_recurring(group: Element, period_id: str, rule: TransitionRule) -> None:
    transition = add(group, t("RecurringDayTransition"))
    add(transition, t("To"), period_id, Kind="Period")
    add(transition, t("TimeOffset"), bias_duration(rule.at.hour * 60 + rule.at.minute))
    add(transition, t("Month"), str(rule.month))
    add(transition, t("DayOfWeek"), WEEKDAYS[rule.weekday])
    add(transition, t("Occurrence"), "-1" if rule.occurrence == LAST else str(rule.occurrence))


@lru_cache(maxsize=512)
def _meeting_time_zone(zone_id: str, year: int) -> Element:
    zone = zone_named(zone_id, year)
    element = new(t("MeetingTimeZone"), TimeZoneName=zone.ms_id)
    rule: RuleTimeZone = zone.rule
    add(element, t("BaseOffset"), bias_duration(rule.bias))
    if rule.has_dst and rule.standard is not None and rule.daylight is not None:
        _add_time_change(element, "Standard", 0, rule.standard)
        _add_time_change(element, "Daylight", rule.daylight_bias, rule.daylight)
    return element


def _add_time_change(parent: Element, tag: str, offset: int, rule: TransitionRule) -> None:
    change = add(parent, t(tag))
    add(change, t("Offset"), bias_duration(offset))
    recurrence = add(change, t("RelativeYearlyRecurrence"))
    add(recurrence, t("DaysOfWeek"), WEEKDAYS[rule.weekday])
    add(recurrence, t("DayOfWeekIndex"), _DAY_ORDER[rule.occurrence])
    add(recurrence, t("Month"), _MONTHS[rule.month - 1])
    add(change, t("Time"), rule.at.strftime("%H:%M:%S"))


def bias_duration(minutes: int) -> str:
    """Minutes as xs:duration the way Exchange writes biases: -PT1H, PT5H30M, PT0H."""
    sign = "-" if minutes < 0 else ""
    hours, rest = divmod(abs(minutes), 60)
    return f"{sign}PT{hours}H{rest}M" if rest else f"{sign}PT{hours}H"
