"""Events: create, get, list (with $filter on an extended property), update (If-Match), delete.

https://learn.microsoft.com/en-us/graph/api/user-post-events (an event with attendees created in
the organizer's calendar sends the meeting requests), .../event-get, .../user-list-events,
.../event-update (PATCH; adding attendees sends them the request), .../event-delete (204; the event
moves to Deleted Items, and "if the event is a meeting, deleting the event on the organizer's
calendar sends a cancellation message to the meeting attendees"), .../event-permanentdelete.
"""

from __future__ import annotations

import copy
from typing import Any

from infra.ewssim.models.calendar import MeetingSnapshot, create_calendar_item, delete_item, item_updated
from infra.ewssim.models.items import CalendarItem
from infra.graphsim.context import GraphContext
from infra.graphsim.errors import GraphError
from infra.graphsim.models.extended_properties import store_key
from infra.graphsim.models.ids import rest_id
from infra.graphsim.odata import page, parse_event_filter
from infra.graphsim.responses.lookup import (
    calendar_folder,
    calendar_folders,
    find_event,
    mailbox_of,
    query_time,
)
from infra.graphsim.responses.render import apply_event_body, event_view
from infra.graphsim.routes import READ, WRITE, Answer, route

__all__ = ["collection", "delegate_of"]

# Graph's default page size for event collections (https://learn.microsoft.com/en-us/graph/api/user-list-events:
# "returns 10 events by default"; $top or odata.maxpagesize change it).
DEFAULT_PAGE = 10
# Fields whose change makes PATCH send the update to every attendee, not only the added ones.
_MEETING_FIELDS = frozenset({"start", "end", "location", "locations", "subject", "body", "isAllDay"})


def delegate_of(ctx: GraphContext) -> str:
    """Who acts, for the mailbox model's "by": the delegated user, else the mailbox itself."""
    return ctx.caller.user.smtp if ctx.caller.user is not None else ""


def collection(ctx: GraphContext, items: list[CalendarItem], base_url: str) -> Answer:
    chunk, next_link, headers = page(items, ctx.query, base_url, default_top=DEFAULT_PAGE, prefs=ctx.prefs)
    body: dict[str, Any] = {
        "@odata.context": f"{ctx.service.graph_url}/$metadata#Collection(microsoft.graph.event)",
        "value": [event_view(ctx, item) for item in chunk],
    }
    if next_link:
        body["@odata.nextLink"] = next_link
    return Answer(200, body, headers, returns="Collection(event)")


@route("POST", "/users/{user}/calendar/events", name="createEvent", roles=WRITE, request_type="event")
@route("POST", "/users/{user}/events", name="createEvent", roles=WRITE, request_type="event")
@route(
    "POST", "/users/{user}/calendars/{calendar}/events", name="createEvent", roles=WRITE, request_type="event"
)
def create_event(ctx: GraphContext) -> Answer:
    folder = calendar_folder(ctx, ctx.params.get("calendar"))
    body = ctx.body_object()
    if "start" not in body or "end" not in body:
        raise GraphError(400, "ErrorInvalidRequest", "An event needs start and end.")
    item = CalendarItem()
    apply_event_body(item, body)
    mode = "SendToAllAndSaveCopy" if item.attendees() else "SendToNone"
    create_calendar_item(
        ctx.service.backend, ctx.mailbox, item, mode, folder=folder.folder_id, by=delegate_of(ctx)
    )
    location = f"{ctx.service.graph_url}/users/{ctx.mailbox}/events/{rest_id(item.item_id)}"
    return Answer(201, event_view(ctx, item), {"Location": location}, returns="event")


@route("GET", "/users/{user}/events/{event}", name="getEvent", roles=READ)
@route("GET", "/users/{user}/calendar/events/{event}", name="getEvent", roles=READ)
@route("GET", "/users/{user}/calendars/{calendar}/events/{event}", name="getEvent", roles=READ)
def get_event(ctx: GraphContext) -> Answer:
    _, item = find_event(ctx, ctx.params["event"])
    return Answer(200, event_view(ctx, item), returns="event")


@route("GET", "/users/{user}/events", name="listEvents", roles=READ)
@route("GET", "/users/{user}/calendar/events", name="listEvents", roles=READ)
@route("GET", "/users/{user}/calendars/{calendar}/events", name="listEvents", roles=READ)
def list_events(ctx: GraphContext) -> Answer:
    wanted = parse_event_filter(ctx.query.get("$filter"))
    if "calendar" in ctx.params or ctx.path.lower().rstrip("/").endswith("/calendar/events"):
        folders = [calendar_folder(ctx, ctx.params.get("calendar"))]
    else:
        folders = calendar_folders(ctx)
    mailbox = mailbox_of(ctx)
    with mailbox.lock:
        items = [i for f in folders for i in f.items.values() if isinstance(i, CalendarItem)]
    if wanted is not None:
        key = store_key(wanted.property_id)
        items = [
            i
            for i in items
            if key in i.extended_properties
            and (wanted.value is None or i.extended_properties[key] == wanted.value)
        ]
    items.sort(key=lambda i: (i.start, i.item_id))
    return collection(ctx, items, f"{ctx.service.graph_url}{ctx.path}")


@route("GET", "/users/{user}/calendarView", name="calendarView", roles=READ)
@route("GET", "/users/{user}/calendar/calendarView", name="calendarView", roles=READ)
@route("GET", "/users/{user}/calendars/{calendar}/calendarView", name="calendarView", roles=READ)
def calendar_view(ctx: GraphContext) -> Answer:
    start, end = query_time(ctx, "startDateTime"), query_time(ctx, "endDateTime")
    folder = calendar_folder(ctx, ctx.params.get("calendar"))
    mailbox = mailbox_of(ctx)
    with mailbox.lock:
        items = [
            i for i in folder.items.values()
            if isinstance(i, CalendarItem) and i.start is not None and i.end is not None
            and i.start < end and i.end > start
        ]  # fmt: skip
    items.sort(key=lambda i: (i.start, i.item_id))
    return collection(ctx, items, f"{ctx.service.graph_url}{ctx.path}")


def _if_match(ctx: GraphContext, item: CalendarItem) -> None:
    """If-Match: W/"<changeKey>" is a compare-and-swap; a stale key is 412 (errors: 412
    Precondition Failed, https://learn.microsoft.com/en-us/graph/errors)."""
    wanted = ctx.headers.get("if-match")
    if not wanted or wanted.strip() == "*":
        return
    key = wanted.strip().removeprefix("W/").strip('"')
    if key != item.change_key:
        raise GraphError(
            412,
            "ErrorIrresolvableConflict",
            "The change key passed in the request does not match the current change key for the item.",
        )


@route("PATCH", "/users/{user}/events/{event}", name="updateEvent", roles=WRITE, request_type="event")
@route(
    "PATCH", "/users/{user}/calendar/events/{event}", name="updateEvent", roles=WRITE, request_type="event"
)
@route(
    "PATCH",
    "/users/{user}/calendars/{calendar}/events/{event}",
    name="updateEvent",
    roles=WRITE,
    request_type="event",
)
def update_event(ctx: GraphContext) -> Answer:
    mailbox, item = find_event(ctx, ctx.params["event"])
    body = ctx.body_object()
    backend = ctx.service.backend
    # Validate on a copy first, so that a bad body changes nothing.
    trial = copy.deepcopy(item)
    apply_event_body(trial, body)
    if trial.start is not None and trial.end is not None and trial.end < trial.start:
        raise GraphError(400, "ErrorInvalidRequest", "The end of the event is before its start.")
    with mailbox.lock:
        _if_match(ctx, item)
        before = MeetingSnapshot.of(item)
        changed = apply_event_body(item, body)
        item.touch(backend.clock.now())
    mode = "SendToNone"
    if item.is_organizer and (item.attendees() or before.attendees):
        if changed & _MEETING_FIELDS and before.attendees:
            mode = "SendToAllAndSaveCopy"
        elif "attendees" in changed:
            mode = "SendToChangedAndSaveCopy"
    item_updated(backend, item, before, mode, by=delegate_of(ctx))
    return Answer(200, event_view(ctx, item), returns="event")


# How a delete answers an organizer's meeting's attendees: a cancellation, and a copy in Sent Items.
_ORGANIZER_DELETE = "SendToAllAndSaveCopy"


@route("DELETE", "/users/{user}/events/{event}", name="deleteEvent", roles=WRITE)
@route("DELETE", "/users/{user}/calendar/events/{event}", name="deleteEvent", roles=WRITE)
@route("DELETE", "/users/{user}/calendars/{calendar}/events/{event}", name="deleteEvent", roles=WRITE)
def delete_event(ctx: GraphContext) -> Answer:
    mailbox, item = find_event(ctx, ctx.params["event"])
    with mailbox.lock:
        _if_match(ctx, item)
    # Graph has no SendToNone: deleting an organizer's meeting always tells its attendees.
    delete_item(
        ctx.service.backend, mailbox, item, "MoveToDeletedItems", _ORGANIZER_DELETE, by=delegate_of(ctx)
    )
    return Answer(204)


@route("POST", "/users/{user}/events/{event}/permanentDelete", name="permanentDeleteEvent", roles=WRITE)
@route(
    "POST", "/users/{user}/calendar/events/{event}/permanentDelete", name="permanentDeleteEvent", roles=WRITE
)
def permanent_delete(ctx: GraphContext) -> Answer:
    """https://learn.microsoft.com/en-us/graph/api/event-permanentdelete: gone for good (204)."""
    mailbox, item = find_event(ctx, ctx.params["event"])
    delete_item(ctx.service.backend, mailbox, item, "HardDelete", _ORGANIZER_DELETE, by=delegate_of(ctx))
    return Answer(204)
