"""Room lists and rooms: GetRoomLists and GetRooms (protocol-level; no mailbox to act on).

Both arrived with Exchange 2010. An integration pinned to an older version is refused for good
(VERSION_NOT_SUPPORTED) before any request, whatever build the server has reported since; without
a pin, exchangelib refuses on the detected version, which errors.py maps to the same code.
"""

from __future__ import annotations

from exchangelib.properties import RoomList as EwsRoomList
from exchangelib.services import GetRoomLists, GetRooms

from pipeline.errors import ErrorCode, PermanentError
from pipeline.exchange.ews.connection import LiveConnection
from pipeline.exchange.types import Room, RoomList
from pipeline.exchange.versions import resolve

__all__ = ["fetch_room_lists", "fetch_rooms"]


def _require_room_lists(live: LiveConnection, operation: str) -> None:
    pinned = live.settings.server_version
    if pinned and not (version := resolve(pinned)).has_room_lists:
        raise PermanentError(
            ErrorCode.VERSION_NOT_SUPPORTED,
            f"{operation} is not supported by this server version: room lists need Exchange 2010 or "
            f"later, and integration {live.settings.integration_id} is pinned to {version.name}",
        )


def fetch_room_lists(live: LiveConnection) -> list[RoomList]:
    _require_room_lists(live, "GetRoomLists")
    return [
        RoomList(email=found.email_address, name=found.name or found.email_address)
        for found in GetRoomLists(protocol=live.protocol).call()
        if not isinstance(found, Exception)
    ]


def fetch_rooms(live: LiveConnection, room_list: str) -> list[Room]:
    _require_room_lists(live, "GetRooms")
    answers = GetRooms(protocol=live.protocol).call(room_list=EwsRoomList(email_address=room_list))
    rooms = []
    for found in answers:
        if isinstance(found, Exception):
            raise found
        rooms.append(Room(email=found.email_address, name=found.name or found.email_address))
    return rooms
