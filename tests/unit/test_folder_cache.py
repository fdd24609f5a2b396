"""The per-process cache of found calendar folders: bounded, aged, forgotten when unusable."""

from __future__ import annotations

from pipeline.exchange.calendars import CalendarFolder
from pipeline.exchange.ews.folder_cache import FolderCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def folder(folder_id: str) -> CalendarFolder:
    return CalendarFolder(owner="bob@example.com", folder_id=folder_id, can_read=True, can_write=False)


def key(path: str) -> tuple[str, str, str, str]:
    return ("acme", "svc@example.com", "bob@example.com", path)


def test_least_recently_used_entries_go_first() -> None:
    cache = FolderCache(max_entries=2)
    cache.put(key("a"), folder("A"))
    cache.put(key("b"), folder("B"))
    assert cache.get(key("a")) == folder("A")  # now the most recent
    cache.put(key("c"), folder("C"))
    assert (cache.get(key("a")), cache.get(key("b")), cache.get(key("c"))) == (folder("A"), None, folder("C"))
    assert len(cache) == 2


def test_entries_age_out() -> None:
    clock = Clock()
    cache = FolderCache(ttl_seconds=60, clock=clock)
    cache.put(key("a"), folder("A"))
    clock.now = 60
    assert cache.get(key("a")) == folder("A")
    clock.now = 61
    assert cache.get(key("a")) is None and len(cache) == 0


def test_a_folder_that_failed_is_forgotten_under_every_key() -> None:
    cache = FolderCache()
    cache.put(key("calendar/interviews"), folder("A"))
    cache.put(("acme", "svc@example.com", "bob@example.com", "A"), folder("A"))
    cache.put(key("calendar/other"), folder("B"))
    cache.forget_folder("A")
    assert len(cache) == 1 and cache.get(key("calendar/other")) == folder("B")
