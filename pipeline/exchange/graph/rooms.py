"""Room lists and rooms from Graph's places API (Place.Read.All).

`GET /places/microsoft.graph.roomList` and `GET /places/{roomListEmail}/microsoft.graph.roomList/rooms`
(learn.microsoft.com/graph/api/place-list), following @odata.nextLink: one request per page.
"""

from __future__ import annotations

from typing import Any

from pipeline.exchange.graph.connection import GraphLive
from pipeline.exchange.graph.paths import place_path
from pipeline.exchange.types import Room, RoomList

__all__ = ["fetch_room_lists", "fetch_rooms", "pages"]


def fetch_room_lists(live: GraphLive) -> list[RoomList]:
    return [RoomList(email=p["emailAddress"], name=p.get("displayName") or p["emailAddress"])
            for p in pages(live, "/places/microsoft.graph.roomList", "listRoomLists")
            if p.get("emailAddress")]


def fetch_rooms(live: GraphLive, room_list: str) -> list[Room]:
    path = f"{place_path(room_list)}/microsoft.graph.roomList/rooms"
    return [Room(email=p["emailAddress"], name=p.get("displayName") or p["emailAddress"])
            for p in pages(live, path, "listRooms") if p.get("emailAddress")]


def pages(live: GraphLive, path: str, operation: str, params: dict[str, str] | None = None,
          mailbox: str | None = None) -> list[dict[str, Any]]:
    """Every entry of a collection, page by page (@odata.nextLink)."""
    found: list[dict[str, Any]] = []
    answer = live.request("GET", path, operation, params=params, mailbox=mailbox)
    while True:
        found.extend(v for v in (answer or {}).get("value", ()) if isinstance(v, dict))
        following = (answer or {}).get("@odata.nextLink")
        if not following:
            return found
        answer = live.request("GET", str(following), operation, mailbox=mailbox)
