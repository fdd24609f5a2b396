"""list_rooms: the organisation's room lists and the rooms in them."""

from __future__ import annotations

from pipeline.actions.context import ActionContext
from pipeline.contract.list_rooms import ListRoomsKwargs, ListRoomsResult, Room, RoomList
from pipeline.errors import ErrorCode, PermanentError
from pipeline.exchange.types import Room as FoundRoom
from pipeline.integrations import ConnectionMethod

__all__ = ["list_rooms"]


def list_rooms(context: ActionContext, kwargs: ListRoomsKwargs) -> ListRoomsResult:
    """The rooms of one room list, or of every room list.

    The common path names a room_list: one EWS request, GetRooms (the list's name is not looked
    up, so it is reported as its address). Without one: GetRoomLists, then one GetRooms per list.
    """
    personal = context.integration.connection_method is ConnectionMethod.PERSONAL
    if personal and kwargs.mailbox is None:
        # Personal integrations hold only per-user secrets and this job names no user to act as.
        raise PermanentError(
            ErrorCode.INVALID_KWARGS,
            f"integration {context.integration.integration_id} uses the personal connection method: "
            "name the user whose credentials list the rooms in `mailbox`",
        )
    gateway = context.gateway(kwargs.mailbox if personal else None)
    if kwargs.room_list is not None:
        rooms = gateway.list_rooms(kwargs.room_list)
        return ListRoomsResult(room_lists=[_room_list(kwargs.room_list, kwargs.room_list, rooms)])
    return ListRoomsResult(
        room_lists=[
            _room_list(found.email, found.name, gateway.list_rooms(found.email))
            for found in gateway.list_room_lists()
        ]
    )


def _room_list(email: str, name: str, rooms: list[FoundRoom]) -> RoomList:
    return RoomList(
        email=email,
        name=name or email,
        rooms=[Room(email=room.email, name=room.name or room.email) for room in rooms],
    )
