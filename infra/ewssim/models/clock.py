"""The simulator's clock: real time plus an offset that tests can advance."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

ClockListener = Callable[[datetime], None]


class SimClock:
    """Wall-clock time shifted by an offset; advancing it wakes the listeners (push timers)."""

    def __init__(self) -> None:
        self._offset = timedelta()
        self._lock = threading.Lock()
        self._listeners: list[ClockListener] = []

    def now(self) -> datetime:
        """The simulated current time, timezone-aware UTC."""
        with self._lock:
            return datetime.now(UTC) + self._offset

    def advance(self, delta: timedelta) -> datetime:
        """Move simulated time forward and run whatever became due."""
        with self._lock:
            self._offset += delta
        current = self.now()
        for listener in list(self._listeners):
            listener(current)
        return current

    def on_advance(self, listener: ClockListener) -> None:
        """Register a callback that runs after each advance with the new time."""
        self._listeners.append(listener)

    def reset(self) -> None:
        with self._lock:
            self._offset = timedelta()
