"""JobLog: every job put on the jobs queue, whoever enqueued it, for the demo's report.

The demo sends some jobs itself, but others are enqueued inside the pipeline: the next step of a
booking pipeline, process_change from the callback function, sync_calendar from process_change.
A broker middleware sees them all, in the order they were first enqueued (a retry is the same
message again and is listed once).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import dramatiq
from dramatiq.common import dq_name

__all__ = ["JobLog", "LoggedJob"]


@dataclass(frozen=True)
class LoggedJob:
    message_id: str
    action: str
    integration_id: str


class JobLog(dramatiq.Middleware):
    """Records the messages enqueued on one queue."""

    def __init__(self, queue_name: str) -> None:
        self.queue_name = queue_name
        self._jobs: dict[str, LoggedJob] = {}
        self._lock = threading.Lock()

    def after_enqueue(
        self, broker: dramatiq.Broker, message: dramatiq.Message[Any], delay: int | None
    ) -> None:
        # A delayed message (a retry with backoff) goes through the queue's delay queue.
        if message.queue_name not in (self.queue_name, dq_name(self.queue_name)):
            return
        job = LoggedJob(message.message_id, message.actor_name, str(message.kwargs.get("integration_id")))
        with self._lock:
            self._jobs.setdefault(job.message_id, job)

    def jobs(self) -> list[LoggedJob]:
        with self._lock:
            return list(self._jobs.values())
