"""The booking stamps as Graph names them: the same named MAPI properties EWS writes.

pipeline/exchange/ews/booking_stamp.py registers them with exchangelib (property set GUID, name,
type String); Graph addresses a named property as "String {GUID} Name <name>"
(learn.microsoft.com/graph/api/resources/extended-properties-overview, "id formats"). Same GUID,
same names: an item stamped through one API is found through the other, so bookings survive a
move from EWS to Graph. tests/unit/test_graph_stamps.py holds the GUID equal to EWS's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "BOOKING_KEY",
    "COPY_OF",
    "INVITES_SENT",
    "LAST_UPDATE",
    "PENDING_ATTENDEES",
    "PROPERTY_SET_ID",
    "expand_stamps",
    "property_id",
    "stamp_filter",
    "stamp_values",
    "stamps_of",
]

# Never change it: stamped items in customers' calendars are found by it (booking_stamp.py).
PROPERTY_SET_ID = "97b9a7ef-91fa-4876-8475-0a4160143f48"

BOOKING_KEY = "BookingKey"
INVITES_SENT = "InvitesSent"
LAST_UPDATE = "LastUpdate"
COPY_OF = "CopyOf"
# Graph only: the attendees of an event saved unsent. Graph has no "save without sending"
# (creating or updating an organiser's event with attendees sends meeting requests), so an
# unsent event is created without attendees and keeps them here (JSON) until send_invitations
# adds them, which sends the requests. EWS ignores the property.
PENDING_ATTENDEES = "PendingAttendees"
ALL = (BOOKING_KEY, INVITES_SENT, LAST_UPDATE, COPY_OF, PENDING_ATTENDEES)


def property_id(name: str) -> str:
    """Graph's id of one stamp: a String named property in our property set."""
    return f"String {{{PROPERTY_SET_ID}}} Name {name}"


def stamp_values(values: Mapping[str, str]) -> list[dict[str, str]]:
    """singleValueExtendedProperties for a create or update body."""
    return [{"id": property_id(name), "value": value} for name, value in values.items()]


def expand_stamps(names: Iterable[str] = ALL) -> str:
    """The $expand that returns these stamps with an event (one request, no second GET)."""
    wanted = " or ".join(f"id eq '{property_id(name)}'" for name in names)
    return f"singleValueExtendedProperties($filter={wanted})"


def stamps_of(event: Mapping[str, Any]) -> dict[str, str]:
    """The stamps an event carries, by name (Graph returns ids in its own case: compared folded)."""
    by_id = {property_id(name).casefold(): name for name in ALL}
    found: dict[str, str] = {}
    for prop in event.get("singleValueExtendedProperties") or ():
        name = by_id.get(str(prop.get("id", "")).casefold())
        if name is not None and prop.get("value") is not None:
            found[name] = str(prop["value"])
    return found


def stamp_filter(name: str, value: str) -> str:
    """$filter for events stamped `name` = `value` (OData: a quote inside a literal is doubled)."""
    literal = value.replace("'", "''")
    return (f"singleValueExtendedProperties/Any(ep: ep/id eq '{property_id(name)}' "
            f"and ep/value eq '{literal}')")
