"""Calendar folders found by path or id, remembered per process so that a warm worker asks once.

Keyed by (integration, logon, owner, path or id): the same path means another folder in another
mailbox, and another logon may hold other rights on it. Bounded (least recently used entries go
first) and aged (an entry older than `ttl_seconds` is looked up again, so a renamed folder or a
changed permission is noticed within minutes); a folder that an operation then fails to find or
may not use is forgotten at once.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from pipeline.exchange.calendars import CalendarFolder

__all__ = ["FolderCache", "FolderKey"]

FolderKey = tuple[str, str, str, str]


class FolderCache:
    """A thread-safe LRU of found calendar folders with an age limit."""

    def __init__(
        self, max_entries: int = 1024, ttl_seconds: float = 900.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._max = max(1, max_entries)
        self._ttl = ttl_seconds
        self._clock = clock
        self._entries: OrderedDict[FolderKey, tuple[float, CalendarFolder]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: FolderKey) -> CalendarFolder | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            stored_at, folder = entry
            if self._clock() - stored_at > self._ttl:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return folder

    def put(self, key: FolderKey, folder: CalendarFolder) -> None:
        with self._lock:
            self._entries[key] = (self._clock(), folder)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def forget_folder(self, folder_id: str) -> None:
        """Drop every entry for this folder (it was not found, or not usable, when used)."""
        with self._lock:
            for key in [k for k, (_, f) in self._entries.items() if f.folder_id == folder_id]:
                del self._entries[key]

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
