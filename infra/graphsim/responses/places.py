"""Places: room lists, the rooms of a room list, all rooms (Place.Read.All).
https://learn.microsoft.com/en-us/graph/api/place-list (…/places/microsoft.graph.roomList,
…/places/{roomListEmail}/microsoft.graph.roomList/rooms, …/places/microsoft.graph.room; paged)."""

from __future__ import annotations

import uuid
from typing import Any

from infra.graphsim.context import GraphContext
from infra.graphsim.errors import GraphError
from infra.graphsim.odata import apply_select, page
from infra.graphsim.routes import DIRECTORY_PLACES, Answer, route

__all__: list[str] = []

_NAMESPACE = uuid.UUID("6b0e6d3e-4d8c-4f7a-9a43-6f1d3c1e2b10")
_DEFAULT_PAGE = 100


def _place_id(smtp: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, smtp.lower()))


def _room(ctx: GraphContext, smtp: str) -> dict[str, Any]:
    found = ctx.service.backend.directory.find(smtp)
    return {
        "@odata.type": "#microsoft.graph.room",
        "id": _place_id(smtp),
        "emailAddress": smtp,
        "displayName": found.display_name if found else smtp,
        "nickname": found.display_name if found else smtp,
        "bookingType": "standard",
        "isWheelChairAccessible": False,
        "tags": [],
    }


def _listing(ctx: GraphContext, entries: list[dict[str, Any]], returns: str) -> Answer:
    chunk, next_link, headers = page(
        entries, ctx.query, f"{ctx.service.graph_url}{ctx.path}", default_top=_DEFAULT_PAGE, prefs=ctx.prefs
    )
    body: dict[str, Any] = {"value": [apply_select(e, ctx.query.get("$select")) for e in chunk]}
    if next_link:
        body["@odata.nextLink"] = next_link
    return Answer(200, body, headers, returns=returns)


@route("GET", "/places/microsoft.graph.roomList", name="listRoomLists", roles=DIRECTORY_PLACES)
def list_room_lists(ctx: GraphContext) -> Answer:
    lists = sorted(ctx.service.backend.directory.room_lists.values(), key=lambda r: r.smtp)
    entries = [
        {
            "@odata.type": "#microsoft.graph.roomList",
            "id": _place_id(r.smtp),
            "displayName": r.display_name,
            "emailAddress": r.smtp,
            "tags": [],
        }
        for r in lists
    ]
    return _listing(ctx, entries, "Collection(roomList)")


@route("GET", "/places/{list}/microsoft.graph.roomList/rooms", name="listRooms", roles=DIRECTORY_PLACES)
def list_rooms_of(ctx: GraphContext) -> Answer:
    found = ctx.service.backend.directory.room_lists.get(ctx.params["list"].lower())
    if found is None:
        raise GraphError(404, "ResourceNotFound", "The room list was not found.")
    return _listing(ctx, [_room(ctx, smtp) for smtp in found.rooms], "Collection(room)")


@route("GET", "/places/microsoft.graph.room", name="listRooms", roles=DIRECTORY_PLACES)
def list_rooms(ctx: GraphContext) -> Answer:
    directory = ctx.service.backend.directory
    rooms = sorted(p.smtp for p in list(directory.principals.values()) if p.kind.value == "room")
    return _listing(ctx, [_room(ctx, smtp) for smtp in rooms], "Collection(room)")
