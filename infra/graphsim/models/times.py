"""Graph's dateTimeTimeZone: a wall-clock time plus a zone name (Windows or IANA).

Graph accepts either kind of zone name in dateTimeTimeZone.timeZone and in
Prefer: outlook.timezone, and answers in the zone asked for (UTC without the header)
(https://learn.microsoft.com/en-us/graph/api/resources/datetimetimezone,
https://learn.microsoft.com/en-us/graph/api/user-list-events#request-headers).
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from infra.ewssim.models.timezones import server_time_zone, windows_id

__all__ = ["format_local", "format_utc", "parse_date_time_time_zone", "windows_name", "zone", "zone_known"]


@lru_cache(maxsize=256)
def _zone(name: str) -> tzinfo | None:
    if name.strip().upper() in ("UTC", "GMT", "Z", "COORDINATED UNIVERSAL TIME"):
        return UTC
    known = server_time_zone(name)
    try:
        return ZoneInfo(known.iana if known is not None else name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def zone_known(name: str) -> bool:
    return _zone(name) is not None


def zone(name: str) -> tzinfo:
    """The zone for a Windows or IANA name; UTC for one the simulator does not know."""
    return _zone(name) or UTC


def parse_date_time_time_zone(value: object) -> datetime:
    """An aware UTC datetime from {"dateTime": ..., "timeZone": ...}; ValueError when malformed."""
    if not isinstance(value, dict) or not isinstance(value.get("dateTime"), str):
        raise ValueError("a dateTimeTimeZone needs dateTime")
    text = value["dateTime"].strip().replace("Z", "+00:00")
    if "." in text:  # Graph writes seven fractional digits; Python takes at most six
        head, _, tail = text.partition(".")
        digits = "".join(c for c in tail if c.isdigit())
        rest = tail[len(digits) :]
        text = f"{head}.{digits[:6].ljust(6, '0')}{rest}"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        name = value.get("timeZone") or "UTC"
        if not isinstance(name, str) or not zone_known(name):
            raise ValueError("unknown time zone")
        moment = moment.replace(tzinfo=zone(name))
    return moment.astimezone(UTC)


def format_local(moment: datetime, zone_name: str) -> dict[str, str]:
    """A dateTimeTimeZone in the zone asked for, with Graph's seven fractional digits."""
    local = moment.astimezone(zone(zone_name)).replace(tzinfo=None)
    return {
        "dateTime": local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond:06d}0",
        "timeZone": zone_name,
    }


def format_utc(moment: datetime | None) -> str | None:
    """An Edm.DateTimeOffset as Graph writes it (UTC, "Z")."""
    if moment is None:
        return None
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond:06d}0Z"


def windows_name(zone_name: str) -> str:
    """The Windows name of a zone (what Graph's workingHours show), else the name as given."""
    return windows_id(zone_name) or zone_name
