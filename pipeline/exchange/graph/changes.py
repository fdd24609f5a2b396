"""Reading the events a change notification named: one request for all of them, stamps included.

Graph's event has no parentFolderId (the v1.0 CSDL's event and outlookItem carry none; it is a
message's property), and Graph reports an event moved out of the watched calendar (to Deleted
Items) as `deleted`, never as a move (notifications.py): process_change marks its booking deleted
without reading it. So a changed event's folder is not asked for (parent_folder_id stays None).

One event: `GET /users/{u}/events/{id}`; several: one $batch of those GETs (20 per batch,
client.py). An event that is gone (404) or that the app may no longer read (403, moved where its
scope does not reach) is None, as on EWS: one unreadable item must not fail the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pipeline.errors import ErrorCode
from pipeline.exchange.graph import stamps
from pipeline.exchange.graph.client import BatchAnswer, BatchRequest, raise_for_answer, relative_url
from pipeline.exchange.graph.connection import GraphLive
from pipeline.exchange.graph.errors import from_answer
from pipeline.exchange.graph.ids import rest_ids
from pipeline.exchange.graph.paths import segment
from pipeline.exchange.graph.values import attendee_responses, parse_time
from pipeline.exchange.push import ChangedItem

__all__ = ["calendar_folder_id", "read_changed_items"]

_FIELDS = "id,changeKey,isCancelled,start,end,attendees"
_GONE = {ErrorCode.ITEM_NOT_FOUND, ErrorCode.ACCESS_DENIED}


def read_changed_items(live: GraphLive, item_ids: Sequence[str]) -> list[ChangedItem | None]:
    if not item_ids:
        return []
    ids = rest_ids(live, item_ids)
    query = {"$select": _FIELDS, "$expand": stamps.expand_stamps()}
    paths = [f"{live.user_path}/events/{segment(i)}" for i in ids]
    answers = live.batch([BatchRequest("GET", relative_url(path, query)) for path in paths], "getEvent")
    return [_changed(answer) for answer in answers]


def calendar_folder_id(live: GraphLive) -> str:
    """The target's default calendar id (one GET): tells a move out of it from one within."""
    found = live.request("GET", f"{live.user_path}/calendar", "getCalendar", params={"$select": "id"})
    return str((found or {}).get("id") or "")


def _changed(answer: BatchAnswer) -> ChangedItem | None:
    if not answer.ok:
        if from_answer("getEvent", answer.status, answer.body, answer.headers).code in _GONE:
            return None
        raise_for_answer("getEvent", answer)
    event: dict[str, Any] = answer.body if isinstance(answer.body, dict) else {}
    found = stamps.stamps_of(event)
    return ChangedItem(
        item_id=str(event.get("id") or ""),
        change_key=str(event.get("changeKey") or ""),
        booking_key=found.get(stamps.BOOKING_KEY),
        is_cancelled=bool(event.get("isCancelled")),
        parent_folder_id=None,
        start=parse_time(event.get("start")),
        end=parse_time(event.get("end")),
        attendees=attendee_responses(event),
        last_update=found.get(stamps.LAST_UPDATE),
        is_copy=stamps.COPY_OF in found,
    )
