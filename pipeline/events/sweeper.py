"""EventSweeper: a worker's background thread that sends the events an inline publish missed.

A job publishes its events as it ends; when the sink is down they stay pending in the table.
Every few seconds the sweeper drains the pending events that are old enough not to be some
running job's own, so that they reach the app once the sink is back.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from pipeline.events.publisher import EventPublisher

__all__ = ["EventSweeper"]

log = logging.getLogger(__name__)


class EventSweeper:
    """Runs EventPublisher.drain every `interval_seconds` on a daemon thread until stopped.

    `publisher` is called on each round (None: nothing to do yet), because a worker builds its
    runtime, and with it the publisher, lazily.
    """

    def __init__(self, publisher: Callable[[], EventPublisher | None], *, interval_seconds: float,
                 age_seconds: int) -> None:
        self.publisher = publisher
        self.interval_seconds = interval_seconds
        self.age_seconds = age_seconds
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the thread (once)."""
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="ews-event-sweeper", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop after the current round (which stops between pages) and wait for the thread."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def run_once(self) -> int:
        """One round: drain what is pending and old enough; how many events were published."""
        publisher = self.publisher()
        if publisher is None:
            return 0
        return publisher.drain(self.age_seconds, keep_going=lambda: not self._stopping.is_set())

    def _run(self) -> None:
        while not self._stopping.wait(self.interval_seconds):
            try:
                published = self.run_once()
            except Exception as exc:
                # The table or the runtime is unreachable: try again next round.
                log.warning("event sweep failed (%s); retrying in %s s",
                            type(exc).__name__, self.interval_seconds)
                continue
            if published:
                log.info("event sweep published %d pending events", published)
