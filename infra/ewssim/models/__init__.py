"""State and behaviour of the simulated Exchange organisation; nothing here knows HTTP or XML."""

from infra.ewssim.models.backend import EwsBackend
from infra.ewssim.models.clock import SimClock
from infra.ewssim.models.directory import Directory, Principal, PrincipalKind, RoomList, WorkingHours
from infra.ewssim.models.items import Attendee, CalendarItem, Item, MessageItem
from infra.ewssim.models.mailbox import DISTINGUISHED_FOLDERS, Folder, Mailbox
from infra.ewssim.models.permissions import PermissionLevel

__all__ = [
    "DISTINGUISHED_FOLDERS",
    "Attendee",
    "CalendarItem",
    "Directory",
    "EwsBackend",
    "Folder",
    "Item",
    "Mailbox",
    "MessageItem",
    "PermissionLevel",
    "Principal",
    "PrincipalKind",
    "RoomList",
    "SimClock",
    "WorkingHours",
]
