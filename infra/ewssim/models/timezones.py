"""Time zones as Exchange describes them: a standard bias plus yearly daylight-saving rules.

Exchange speaks Windows time zones (ids like "W. Europe Standard Time", biases in minutes where
UTC = local + bias, transitions such as "last Sunday of March at 02:00"). The simulator derives
those rules from the IANA database (zoneinfo) once per zone, so nothing here is hand-maintained
beyond the table of ids and display names.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "LAST",
    "SERVER_TIME_ZONES",
    "WEEKDAYS",
    "RuleTimeZone",
    "ServerTimeZone",
    "TransitionRule",
    "rule_for",
    "server_time_zone",
    "windows_id",
]

# EWS day names, indexed by Python's weekday() (Monday == 0).
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
LAST = 5  # DayOrder 5 (Occurrence -1 in TimeZoneDefinition) means "the last such weekday of the month"

# Windows id -> (IANA key, display name). The ids exchangelib asks for most, plus a spread of
# common zones in both hemispheres; GetServerTimeZones without Ids returns all of them.
_TABLE: dict[str, tuple[str, str]] = {
    "UTC": ("UTC", "(UTC) Coordinated Universal Time"),
    "GMT Standard Time": ("Europe/London", "(UTC+00:00) Dublin, Edinburgh, Lisbon, London"),
    "Greenwich Standard Time": ("Atlantic/Reykjavik", "(UTC+00:00) Monrovia, Reykjavik"),
    "W. Europe Standard Time": (
        "Europe/Berlin",
        "(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna",
    ),
    "Romance Standard Time": ("Europe/Paris", "(UTC+01:00) Brussels, Copenhagen, Madrid, Paris"),
    "Central Europe Standard Time": (
        "Europe/Budapest",
        "(UTC+01:00) Belgrade, Bratislava, Budapest, Ljubljana, Prague",
    ),
    "FLE Standard Time": ("Europe/Helsinki", "(UTC+02:00) Helsinki, Kyiv, Riga, Sofia, Tallinn, Vilnius"),
    "South Africa Standard Time": ("Africa/Johannesburg", "(UTC+02:00) Harare, Pretoria"),
    "Arabian Standard Time": ("Asia/Dubai", "(UTC+04:00) Abu Dhabi, Muscat"),
    "India Standard Time": ("Asia/Kolkata", "(UTC+05:30) Chennai, Kolkata, Mumbai, New Delhi"),
    "Singapore Standard Time": ("Asia/Singapore", "(UTC+08:00) Kuala Lumpur, Singapore"),
    "China Standard Time": ("Asia/Shanghai", "(UTC+08:00) Beijing, Chongqing, Hong Kong, Urumqi"),
    "Tokyo Standard Time": ("Asia/Tokyo", "(UTC+09:00) Osaka, Sapporo, Tokyo"),
    "AUS Eastern Standard Time": ("Australia/Sydney", "(UTC+10:00) Canberra, Melbourne, Sydney"),
    "E. South America Standard Time": ("America/Sao_Paulo", "(UTC-03:00) Brasilia"),
    "Eastern Standard Time": ("America/New_York", "(UTC-05:00) Eastern Time (US & Canada)"),
    "Central Standard Time": ("America/Chicago", "(UTC-06:00) Central Time (US & Canada)"),
    "Mountain Standard Time": ("America/Denver", "(UTC-07:00) Mountain Time (US & Canada)"),
    "US Mountain Standard Time": ("America/Phoenix", "(UTC-07:00) Arizona"),
    "Pacific Standard Time": ("America/Los_Angeles", "(UTC-08:00) Pacific Time (US & Canada)"),
}
_IANA_TO_WINDOWS = {iana: ms_id for ms_id, (iana, _) in _TABLE.items()}


@dataclass(frozen=True, slots=True)
class TransitionRule:
    """A yearly transition: the `occurrence`-th `weekday` of `month` at wall-clock `at`.

    `at` is the local time just before the change, as Windows states it (02:00 for the spring
    change in Europe, 03:00 for the autumn one).
    """

    month: int
    weekday: int  # Python weekday, Monday == 0
    occurrence: int  # 1-4, or LAST
    at: time

    def local_moment(self, year: int) -> datetime:
        """The naive local wall-clock moment of this transition in `year`."""
        first_weekday, days = calendar.monthrange(year, self.month)
        first = 1 + (self.weekday - first_weekday) % 7
        day = first + 7 * (self.occurrence - 1)
        while day > days:  # "fifth" means last: step back to the last one in the month
            day -= 7
        return datetime.combine(date(year, self.month, day), self.at)


@dataclass(frozen=True, slots=True)
class RuleTimeZone:
    """A zone in the shape of EWS's SerializableTimeZone: all offsets in minutes, UTC = local + bias."""

    bias: int
    daylight_bias: int = 0  # added to `bias` while daylight saving is in force (usually -60)
    standard: TransitionRule | None = None  # when daylight saving ends
    daylight: TransitionRule | None = None  # when it starts

    @property
    def has_dst(self) -> bool:
        return self.standard is not None and self.daylight is not None and self.daylight_bias != 0

    def _in_dst(self, utc: datetime) -> bool:
        return self.has_dst and self._naive_in_dst(utc.replace(tzinfo=None))

    def _naive_in_dst(self, naive: datetime) -> bool:
        starts, ends = _dst_bounds(self, naive.year)
        if starts < ends:  # northern hemisphere: summer inside one calendar year
            return starts <= naive < ends
        return naive >= starts or naive < ends

    def to_local(self, utc: datetime) -> datetime:
        """Naive local wall-clock time for an aware datetime (a hot path when rendering events)."""
        naive = (utc if utc.tzinfo is UTC else utc.astimezone(UTC)).replace(tzinfo=None)
        bias = self.bias
        if self.has_dst and self._naive_in_dst(naive):
            bias += self.daylight_bias
        return naive - timedelta(minutes=bias) if bias else naive

    def to_utc(self, local: datetime) -> datetime:
        """Aware UTC datetime for a naive local wall-clock time (ambiguous times resolve to standard)."""
        guess = (local + timedelta(minutes=self.bias)).replace(tzinfo=UTC)
        if self._in_dst(guess):
            return guess + timedelta(minutes=self.daylight_bias)
        return guess


@lru_cache(maxsize=1024)
def _dst_bounds(zone: RuleTimeZone, year: int) -> tuple[datetime, datetime]:
    """Naive UTC moments when daylight saving starts and ends in `year` (cached: a hot path)."""
    assert zone.standard is not None and zone.daylight is not None
    starts = zone.daylight.local_moment(year) + timedelta(minutes=zone.bias)
    ends = zone.standard.local_moment(year) + timedelta(minutes=zone.bias + zone.daylight_bias)
    return starts, ends


@dataclass(frozen=True, slots=True)
class ServerTimeZone:
    """One entry of the server's time zone list (GetServerTimeZones)."""

    ms_id: str
    name: str
    iana: str
    rule: RuleTimeZone


def _offset_minutes(zone: ZoneInfo, moment: datetime) -> int:
    offset = moment.astimezone(zone).utcoffset()
    return int(offset.total_seconds() // 60) if offset is not None else 0


def _rule_at(zone: ZoneInfo, change_utc: datetime, old_offset: int) -> TransitionRule:
    local = change_utc.replace(tzinfo=None) + timedelta(minutes=old_offset)
    days_in_month = calendar.monthrange(local.year, local.month)[1]
    occurrence = LAST if local.day + 7 > days_in_month else (local.day - 1) // 7 + 1
    return TransitionRule(local.month, local.weekday(), occurrence, local.time())


def _find_change(zone: ZoneInfo, day_start: datetime) -> datetime:
    """The first quarter hour of a UTC day at which the zone's offset differs from midnight's."""
    before = _offset_minutes(zone, day_start)
    for quarter in range(1, 97):
        moment = day_start + timedelta(minutes=15 * quarter)
        if _offset_minutes(zone, moment) != before:
            return moment
    return day_start + timedelta(days=1)


@lru_cache(maxsize=256)
def _rule_from_zoneinfo(iana: str, year: int) -> RuleTimeZone:
    """Derive the Windows-style rule of an IANA zone from its transitions in `year`."""
    zone = ZoneInfo(iana)
    day = datetime(year, 1, 1, tzinfo=UTC)
    changes: list[tuple[datetime, int, int]] = []
    previous = _offset_minutes(zone, day)
    while day.year == year:
        following = day + timedelta(days=1)
        current = _offset_minutes(zone, following)
        if current != previous:
            changes.append((_find_change(zone, day), previous, current))
        previous, day = current, following
    if len(changes) != 2:
        # No (or irregular) daylight saving this year: a fixed offset is the honest summary.
        return RuleTimeZone(bias=-_offset_minutes(zone, datetime(year, 1, 1, tzinfo=UTC)))
    (first, off_a, off_b), (second, _, _) = changes
    standard_offset, daylight_offset = min(off_a, off_b), max(off_a, off_b)
    if off_b == daylight_offset:  # the first change of the year springs forward
        daylight, standard = _rule_at(zone, first, off_a), _rule_at(zone, second, off_b)
    else:
        standard, daylight = _rule_at(zone, first, off_a), _rule_at(zone, second, off_b)
    return RuleTimeZone(
        bias=-standard_offset,
        daylight_bias=-(daylight_offset - standard_offset),
        standard=standard,
        daylight=daylight,
    )


def rule_for(zone_id: str, year: int | None = None) -> RuleTimeZone:
    """The rule of a zone given by Windows id or IANA key; unknown zones fall back to UTC."""
    year = year or datetime.now(UTC).year
    iana = _TABLE[zone_id][0] if zone_id in _TABLE else zone_id
    try:
        return _rule_from_zoneinfo(iana, year)
    except (ZoneInfoNotFoundError, ValueError):
        return RuleTimeZone(bias=0)


def windows_id(zone_id: str) -> str | None:
    """The Windows id for a zone given either way, if the server knows it."""
    return zone_id if zone_id in _TABLE else _IANA_TO_WINDOWS.get(zone_id)


def server_time_zone(ms_id: str) -> ServerTimeZone | None:
    """A server time zone by Windows id, or None when the server does not know it."""
    entry = _TABLE.get(ms_id)
    if entry is None:
        return None
    return ServerTimeZone(ms_id, entry[1], entry[0], rule_for(ms_id))


SERVER_TIME_ZONES: tuple[str, ...] = tuple(_TABLE)
