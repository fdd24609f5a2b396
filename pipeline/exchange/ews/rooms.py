"""Room lists and rooms: GetRoomLists and GetRooms (protocol-level; no mailbox to act on)."""

from __future__ import annotations

from exchangelib.properties import RoomList as EwsRoomList
from exchangelib.services import GetRoomLists, GetRooms

from pipeline.exchange.ews.connection import LiveConnection
from pipeline.exchange.types import Room, RoomList

__all__ = ["fetch_room_lists", "fetch_rooms"]


def fetch_room_lists(live: LiveConnection) -> list[RoomList]:
    return [
        RoomList(email=found.email_address, name=found.name or found.email_address)
        for found in GetRoomLists(protocol=live.protocol).call()
        if not isinstance(found, Exception)
    ]


def fetch_rooms(live: LiveConnection, room_list: str) -> list[Room]:
    answers = GetRooms(protocol=live.protocol).call(room_list=EwsRoomList(email_address=room_list))
    rooms = []
    for found in answers:
        if isinstance(found, Exception):
            raise found
        rooms.append(Room(email=found.email_address, name=found.name or found.email_address))
    return rooms
