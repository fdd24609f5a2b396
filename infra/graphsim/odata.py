"""The OData query options and preferences the simulator honours.

- $select: only the named properties (plus id and @odata.etag, as Graph keeps them)
  (https://learn.microsoft.com/en-us/graph/query-parameters#select-parameter);
- $top and @odata.nextLink server-side paging; a nextLink is opaque and followed as is
  (https://learn.microsoft.com/en-us/graph/paging);
- Prefer: odata.maxpagesize=N (page size, answered with Preference-Applied) and
  Prefer: outlook.timezone="..." (https://learn.microsoft.com/en-us/graph/api/user-list-events);
- $filter: the subset the calendar work needs: singleValueExtendedProperties/Any(ep: ep/id eq '..'
  [and ep/value eq '..']) on events, and id eq '..' inside $expand=singleValueExtendedProperties(...)
  (https://learn.microsoft.com/en-us/graph/api/singlevaluelegacyextendedproperty-get).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from infra.graphsim.errors import GraphError

__all__ = [
    "ExtendedFilter",
    "Preferences",
    "apply_select",
    "expand_filter",
    "page",
    "parse_event_filter",
    "parse_preferences",
]

_TIMEZONE = re.compile(r'outlook\.timezone\s*=\s*"?([^";,]+)"?', re.IGNORECASE)
_MAXPAGESIZE = re.compile(r"odata\.maxpagesize\s*=\s*(\d+)", re.IGNORECASE)
_ANY = re.compile(
    r"^\s*singleValueExtendedProperties/any\(\s*(\w+)\s*:\s*(.*)\)\s*$", re.IGNORECASE | re.DOTALL
)
_CLAUSE = re.compile(r"^\s*(\w+)/(id|value)\s+eq\s+'((?:[^']|'')*)'\s*$", re.IGNORECASE)
_EXPAND = re.compile(
    r"^\s*singleValueExtendedProperties(?:\(\s*\$filter\s*=\s*(.*)\))?\s*$", re.IGNORECASE | re.DOTALL
)
_SAFE = "$(),:/@'"
_ID_EQ = re.compile(r"^\s*id\s+eq\s+'((?:[^']|'')*)'\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Preferences:
    time_zone: str = "UTC"
    max_page_size: int | None = None


def parse_preferences(headers: dict[str, str]) -> Preferences:
    """The Prefer header's outlook.timezone and odata.maxpagesize (several Prefer values may be
    comma-separated in one header)."""
    prefer = ", ".join(v for k, v in headers.items() if k.lower() == "prefer")
    zone = _TIMEZONE.search(prefer)
    size = _MAXPAGESIZE.search(prefer)
    return Preferences(zone.group(1).strip() if zone else "UTC", max(1, int(size.group(1))) if size else None)


def apply_select(entity: dict[str, Any], select: str | None) -> dict[str, Any]:
    """The entity cut down to $select's properties; annotations, id and expanded properties stay."""
    if not select:
        return entity
    wanted = {name.strip().lower() for name in select.split(",") if name.strip()}
    kept = {"id", "singlevalueextendedproperties"}
    return {
        key: value
        for key, value in entity.items()
        if key.startswith("@") or key.lower() in wanted or key.lower() in kept
    }


@dataclass(frozen=True)
class ExtendedFilter:
    """singleValueExtendedProperties/Any(ep: ep/id eq 'X' and ep/value eq 'Y')."""

    property_id: str
    value: str | None


def _literal(text: str) -> str:
    return text.replace("''", "'")


def parse_event_filter(text: str | None) -> ExtendedFilter | None:
    """The $filter of an events list; BadRequest for what the simulator does not support."""
    if not text:
        return None
    found = _ANY.match(text)
    if found is None:
        raise GraphError(
            400,
            "ErrorInvalidUrlQueryFilter",
            "The simulator supports $filter only on singleValueExtendedProperties.",
        )
    variable, body = found.groups()
    property_id: str | None = None
    value: str | None = None
    for clause in re.split(r"\s+and\s+", body, flags=re.IGNORECASE):
        part = _CLAUSE.match(clause)
        if part is None or part.group(1) != variable:
            raise GraphError(400, "ErrorInvalidUrlQueryFilter", "Invalid filter clause.")
        if part.group(2).lower() == "id":
            property_id = _literal(part.group(3))
        else:
            value = _literal(part.group(3))
    if property_id is None:
        raise GraphError(400, "ErrorInvalidUrlQueryFilter", "The filter must name the property id.")
    return ExtendedFilter(property_id, value)


def expand_filter(expand: str | None) -> tuple[bool, list[str] | None]:
    """($expand asks for singleValueExtendedProperties, the ids its $filter names or None for all)."""
    if not expand:
        return False, None
    found = _EXPAND.match(expand)
    if found is None:
        raise GraphError(400, "BadRequest", "The simulator expands only singleValueExtendedProperties.")
    if found.group(1) is None:
        return True, None
    ids = []
    for clause in re.split(r"\s+or\s+", found.group(1), flags=re.IGNORECASE):
        part = _ID_EQ.match(clause)
        if part is None:
            raise GraphError(400, "BadRequest", "Invalid $filter in $expand.")
        ids.append(_literal(part.group(1)))
    return True, ids


def page(
    items: list[Any],
    query: dict[str, str],
    base_url: str,
    *,
    default_top: int,
    prefs: Preferences,
) -> tuple[list[Any], str | None, dict[str, str]]:
    """One page of a collection: ($top or odata.maxpagesize or the default) items from $skip, the
    nextLink (None on the last page) and headers (Preference-Applied when maxpagesize was used)."""
    headers: dict[str, str] = {}
    try:
        skip = int(query.get("$skip", "0"))
        top = int(query["$top"]) if "$top" in query else None
    except ValueError as exc:
        raise GraphError(400, "BadRequest", "$top and $skip must be integers.") from exc
    size = top or prefs.max_page_size or default_top
    if top is None and prefs.max_page_size is not None:
        headers["Preference-Applied"] = f"odata.maxpagesize={prefs.max_page_size}"
    chunk = items[skip : skip + size]
    if skip + size >= len(items):
        return chunk, None, headers
    following = {k: v for k, v in query.items() if k != "$skip"}
    following["$skip"] = str(skip + size)
    if top is not None:
        following["$top"] = str(top)
    return chunk, f"{base_url}?{urlencode(following, safe=_SAFE)}", headers
