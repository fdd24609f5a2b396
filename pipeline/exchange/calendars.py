"""Calendars other than a mailbox's default one, as the gateway finds and reads them.

Backend-neutral values (no exchangelib types): a calendar folder found by path or id, with what
the logon may do in it, and the busy intervals read from one.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.exchange.types import BusyInterval

__all__ = ["CalendarFolder", "CalendarReading"]


@dataclass(frozen=True)
class CalendarFolder:
    """A calendar folder in `owner`'s mailbox.

    can_read: the logon may read its items (Reviewer or more); can_write: it may create, change
    and delete them (Editor, Delegate or owner). None where nobody asked Exchange (a folder named
    by a booking record). `lookups` counts the requests finding it took (0: cached in this process).
    """

    owner: str
    folder_id: str
    name: str = ""
    can_read: bool | None = None
    can_write: bool | None = None
    lookups: int = 0


@dataclass(frozen=True)
class CalendarReading:
    """The busy intervals of a calendar's items in a window, and the requests reading them took."""

    intervals: tuple[BusyInterval, ...]
    requests: int
