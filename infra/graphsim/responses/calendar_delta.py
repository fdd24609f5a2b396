"""calendarView/delta: pages linked by @odata.nextLink ($skiptoken), the last with
@odata.deltaLink ($deltatoken); removed events as {"@removed": {"reason": "deleted"}};
Prefer: odata.maxpagesize sets the page size; $select is not supported on this delta
(https://learn.microsoft.com/en-us/graph/delta-query-events). Unknown or expired tokens: 410
SyncStateNotFound (models/delta.py)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from infra.ewssim.models.items import CalendarItem
from infra.graphsim.context import GraphContext
from infra.graphsim.models.delta import DeltaRound, Snapshot
from infra.graphsim.models.ids import rest_id
from infra.graphsim.responses.lookup import calendar_folder, mailbox_of, query_time
from infra.graphsim.responses.render import event_json
from infra.graphsim.routes import READ, Answer, route

__all__: list[str] = []

DEFAULT_PAGE = 10


def _snapshot(
    ctx: GraphContext, round_start: Any, round_end: Any
) -> tuple[Snapshot, dict[str, CalendarItem]]:
    folder = calendar_folder(ctx)
    mailbox = mailbox_of(ctx)
    with mailbox.lock:
        items = {
            i.item_id: i for i in folder.items.values()
            if isinstance(i, CalendarItem) and i.start is not None and i.end is not None
            and i.start < round_end and i.end > round_start
        }  # fmt: skip
        ordered = sorted(items.values(), key=lambda i: (i.start, i.item_id))
        return {i.item_id: i.change_key for i in ordered}, items


@route("GET", "/users/{user}/calendarView/delta", name="calendarViewDelta", roles=READ)
@route("GET", "/users/{user}/calendar/calendarView/delta", name="calendarViewDelta", roles=READ)
def calendar_view_delta(ctx: GraphContext) -> Answer:
    store = ctx.service.delta
    skip = ctx.query.get("$skiptoken")
    delta = ctx.query.get("$deltatoken")
    if skip:
        round_ = store.resume(skip, ctx.mailbox)
    elif delta:
        start, end, since = store.saved(delta, ctx.mailbox)
        current, _ = _snapshot(ctx, start, end)
        round_ = store.begin(ctx.mailbox, start, end, current, since)
    else:
        start, end = query_time(ctx, "startDateTime"), query_time(ctx, "endDateTime")
        current, _ = _snapshot(ctx, start, end)
        round_ = store.begin(ctx.mailbox, start, end, current, None)
    return _page(ctx, round_)


def _page(ctx: GraphContext, round_: DeltaRound) -> Answer:
    size = ctx.prefs.max_page_size or DEFAULT_PAGE
    chunk = round_.entries[round_.offset : round_.offset + size]
    round_.offset += len(chunk)
    _, items = _snapshot(ctx, round_.start, round_.end)
    value: list[dict[str, Any]] = []
    for item_id, removed in chunk:
        item = items.get(item_id)
        if removed or item is None:
            value.append(
                {
                    "@odata.type": "#microsoft.graph.event",
                    "id": rest_id(item_id),
                    "@removed": {"reason": "deleted"},
                }
            )
        else:
            value.append(event_json(item, ctx.prefs.time_zone))
    base = f"{ctx.service.graph_url}/users/{quote(ctx.mailbox)}/calendarView/delta"
    body: dict[str, Any] = {
        "@odata.context": f"{ctx.service.graph_url}/$metadata#Collection(event)",
        "value": value,
    }
    if round_.offset < len(round_.entries):
        body["@odata.nextLink"] = f"{base}?$skiptoken={ctx.service.delta.park(round_)}"
    else:
        body["@odata.deltaLink"] = f"{base}?$deltatoken={ctx.service.delta.finish(round_)}"
    headers = (
        {"Preference-Applied": f"odata.maxpagesize={ctx.prefs.max_page_size}"}
        if ctx.prefs.max_page_size
        else {}
    )
    return Answer(200, body, headers, returns="Collection(event)")
