"""list_rooms: room lists and the rooms in them."""

from __future__ import annotations

from pydantic import Field

from pipeline.contract.common import ContractModel, EmailAddress, JobKwargs

__all__ = ["ListRoomsKwargs", "ListRoomsResult", "Room", "RoomList"]


class ListRoomsKwargs(JobKwargs):
    """List the organisation's rooms."""

    room_list: EmailAddress | None = Field(
        default=None,
        description="Only this room list; when absent, every room list with its rooms.",
    )
    mailbox: EmailAddress | None = Field(
        default=None,
        description="Whose own credentials a personal integration acts with (a user of the "
        "booking product); other connection methods use their service logon and ignore it.",
    )


class Room(ContractModel):
    """A bookable room mailbox."""

    email: EmailAddress
    name: str


class RoomList(ContractModel):
    """A room list (distribution group of rooms)."""

    email: EmailAddress
    name: str
    rooms: list[Room]


class ListRoomsResult(ContractModel):
    """The room lists found."""

    room_lists: list[RoomList]
