"""Outlook's per-mailbox concurrency limit: at most 4 concurrent requests per app ID per mailbox.

"The Outlook service enforces these limits for every app ID and mailbox combination: 10,000 API
requests in a 10-minute period; 4 concurrent requests; 150 MB upload in a 5-minute period"
(https://learn.microsoft.com/en-us/graph/throttling-limits#outlook-service-limits). A fifth
concurrent request gets 429 ApplicationThrottled "Application is over its MailboxConcurrency
limit." (as Graph answers it: https://learn.microsoft.com/en-us/answers/questions/734143).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["MAILBOX_CONCURRENCY", "ConcurrencyLimit"]

MAILBOX_CONCURRENCY = 4


class ConcurrencyLimit:
    """Counts the requests in flight per (app, mailbox)."""

    def __init__(self, limit: int = MAILBOX_CONCURRENCY) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._in_flight: Counter[tuple[str, str]] = Counter()
        self.rejected = 0

    def try_enter(self, app: str, mailbox: str) -> bool:
        key = (app, mailbox.lower())
        with self._lock:
            if self._in_flight[key] >= self.limit:
                self.rejected += 1
                return False
            self._in_flight[key] += 1
            return True

    def leave(self, app: str, mailbox: str) -> None:
        key = (app, mailbox.lower())
        with self._lock:
            self._in_flight[key] -= 1
            if self._in_flight[key] <= 0:
                del self._in_flight[key]

    @contextmanager
    def occupied(self, app: str, mailbox: str, slots: int) -> Iterator[None]:
        """Hold `slots` of the app's slots on a mailbox (a test stand-in for requests in flight)."""
        key = (app, mailbox.lower())
        with self._lock:
            self._in_flight[key] += slots
        try:
            yield
        finally:
            with self._lock:
                self._in_flight[key] -= slots
                if self._in_flight[key] <= 0:
                    del self._in_flight[key]

    def reset(self) -> None:
        with self._lock:
            self._in_flight.clear()
            self.rejected = 0
