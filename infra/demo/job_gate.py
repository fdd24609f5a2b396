"""JobGate: a broker middleware that holds the jobs a worker takes while the gate is shut.

The demo shuts it while people change things in Outlook, so that the EWS requests counted in
that time are their clients' alone; the pushes meanwhile enqueue jobs, which run once it opens.
dramatiq's Worker.pause would do too, but it waits for every thread to notice, up to a second
each.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import dramatiq
from dramatiq.broker import MessageProxy

__all__ = ["JobGate"]


class JobGate(dramatiq.Middleware):
    """Open unless inside `shut()`."""

    def __init__(self) -> None:
        self._open = threading.Event()
        self._open.set()

    def before_process_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        self._open.wait()

    @contextmanager
    def shut(self) -> Iterator[None]:
        """Hold every job that starts in this block until it ends (start it with none running)."""
        self._open.clear()
        try:
            yield
        finally:
            self._open.set()
