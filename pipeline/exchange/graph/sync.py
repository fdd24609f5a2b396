"""Calendar sync over Graph: one delta query page on the target's calendarView per call.

`GET /users/{u}/calendarView/delta?startDateTime=..&endDateTime=..` with
`Prefer: odata.maxpagesize=N` (learn.microsoft.com/graph/api/event-delta): pages carry
@odata.nextLink while more remain, the last one @odata.deltaLink; either link is the page's
sync_state, and the next call GETs it. A delta token Graph no longer knows answers 410 Gone
(SyncStateNotFound), mapped to SYNC_STATE_INVALID: the caller starts again without a state, as
on EWS. A state recorded while the integration used EWS (a SyncFolderItems state, not a Graph
link) is refused the same way, so a migrated integration resyncs once.

The window is the year behind and the two years ahead of the first call (calendarView needs
one; the delta link keeps it). Removed events come as `{"id", "@removed"}`. The booking stamp is
expanded in the same request where Graph allows it; where a page's events come without it,
the stamps are read in one $batch (one more request for that page).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pipeline.errors import ErrorCode, PermanentError
from pipeline.exchange.calendar_items import (
    CalendarItemSnapshot,
    CalendarSyncChange,
    CalendarSyncPage,
    SyncChangeKind,
)
from pipeline.exchange.graph import stamps
from pipeline.exchange.graph.client import BatchRequest, relative_url
from pipeline.exchange.graph.connection import GraphLive
from pipeline.exchange.graph.errors import from_answer
from pipeline.exchange.graph.paths import segment
from pipeline.exchange.graph.values import attendee_responses, organizer_of, parse_time

__all__ = ["MAX_CHANGES", "sync_calendar"]

MAX_CHANGES = 512  # as on EWS; Graph takes any odata.maxpagesize and may send fewer
OPERATION = "calendarViewDelta"
_BEHIND, _AHEAD = dt.timedelta(days=365), dt.timedelta(days=730)
# EWS's LegacyFreeBusyStatus names, which CalendarItemSnapshot carries.
_SHOW_AS = {"free": "Free", "tentative": "Tentative", "busy": "Busy", "oof": "OOF",
            "workingelsewhere": "WorkingElsewhere", "unknown": "NoData"}


def sync_calendar(live: GraphLive, sync_state: str | None, max_changes: int) -> CalendarSyncPage:
    if not 1 <= max_changes <= MAX_CHANGES:
        raise PermanentError(
            ErrorCode.INVALID_KWARGS, f"max_changes must be 1 to {MAX_CHANGES}, not {max_changes}"
        )
    prefer = {"Prefer": f'outlook.timezone="UTC", odata.maxpagesize={max_changes}'}
    if sync_state:
        if not sync_state.startswith(live.root + "/"):
            raise PermanentError(
                ErrorCode.SYNC_STATE_INVALID,
                f"{OPERATION}: the recorded sync state is not a Graph delta link; sync again from the start",
            )
        answer = live.request("GET", sync_state, OPERATION, headers=prefer)
    else:
        now = dt.datetime.now(dt.UTC).replace(microsecond=0, tzinfo=None)
        window = {
            "startDateTime": (now - _BEHIND).isoformat() + "Z",
            "endDateTime": (now + _AHEAD).isoformat() + "Z",
        }
        answer = live.request("GET", f"{live.user_path}/calendarView/delta", OPERATION, headers=prefer,
                              params=window)
    answer = answer or {}
    events = [e for e in answer.get("value", ()) if isinstance(e, dict) and e.get("id")]
    _read_missing_stamps(live, [e for e in events if "@removed" not in e])
    changes = []
    for event in events:
        if "@removed" in event:
            changes.append(CalendarSyncChange(SyncChangeKind.DELETED, item_id=str(event["id"])))
        else:
            item = _snapshot(event)
            changes.append(CalendarSyncChange(SyncChangeKind.CHANGED, item_id=item.item_id, item=item))
    following = answer.get("@odata.nextLink")
    final = answer.get("@odata.deltaLink")
    state = str(following or final or "")
    if not state:
        raise PermanentError(ErrorCode.EWS_ERROR, f"{OPERATION}: the page carried no next or delta link")
    return CalendarSyncPage(changes=tuple(changes), sync_state=state, includes_last_item=not following)


def _read_missing_stamps(live: GraphLive, events: list[dict[str, Any]]) -> None:
    """Events that came without their stamps get them from one $batch of GETs."""
    missing = [e for e in events if "singleValueExtendedProperties" not in e]
    if not missing:
        return
    query = {"$select": "id", "$expand": stamps.expand_stamps((stamps.BOOKING_KEY,))}
    paths = [f"{live.user_path}/events/{segment(str(e['id']))}" for e in missing]
    answers = live.batch([BatchRequest("GET", relative_url(path, query)) for path in paths], "getEvent")
    for event, answer in zip(missing, answers, strict=True):
        if answer.ok and isinstance(answer.body, dict):
            event["singleValueExtendedProperties"] = answer.body.get("singleValueExtendedProperties") or []
            continue
        failure = from_answer("getEvent", answer.status, answer.body, answer.headers)
        if failure.code is not ErrorCode.ITEM_NOT_FOUND:
            # Unread stamps would report a booking as someone else's event, and the page's state
            # would move past it: the page fails (a 429 retried no sooner than its Retry-After).
            # An event deleted since the page was read has no stamps to read; the next page says so.
            raise failure


def _snapshot(event: dict[str, Any]) -> CalendarItemSnapshot:
    found = stamps.stamps_of(event)
    return CalendarItemSnapshot(
        item_id=str(event["id"]),
        change_key=str(event.get("changeKey") or ""),
        booking_key=found.get(stamps.BOOKING_KEY),
        start=parse_time(event.get("start")),
        end=parse_time(event.get("end")),
        free_busy_status=_SHOW_AS.get(str(event.get("showAs") or "").lower()),
        is_private=event.get("sensitivity") == "private",
        subject=event.get("subject"),
        organizer=organizer_of(event),
        attendees=attendee_responses(event),
        is_cancelled=bool(event.get("isCancelled")),
    )
