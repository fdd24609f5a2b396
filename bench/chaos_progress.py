"""How far each runtime of a chaos run has got, read in the background.

Progress reads a runtime's job records for the jobs sent so far (batches of 100 keys, only those
not yet seen finished). ProgressWatcher does that for every runtime on a thread of its own, every
few seconds, and prints a line now and then: under load a round of reads takes seconds, and the
fault schedule (kills, restarts, the storm) and the supervisor that restarts consumers must not
wait for it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import boto3
from chaos_load import Sender, sent_jobs
from chaos_runtimes import RuntimeStack

from infra.demo.local_stack import REGION

__all__ = ["Progress", "ProgressWatcher"]

log = logging.getLogger(__name__)

POLL_S = 3.0
PRINT_S = 15.0
BATCH = 100


class Progress:
    """How many of a runtime's jobs sent so far have finished, read from its table in batches."""

    def __init__(self, stack: RuntimeStack, sender: Sender) -> None:
        self.stack = stack
        self.sender = sender
        self.final: dict[str, str] = {}
        self._dynamodb = boto3.client("dynamodb", endpoint_url=stack.aws.endpoint, region_name=REGION)

    def expected(self) -> list[str]:
        return sent_jobs(self.sender.sent, lambda m: self.final.get(m) == "succeeded")

    def poll(self) -> tuple[int, int]:
        """(finished, sent) after reading the unfinished jobs' records."""
        for _ in range(2):  # a create_event that just succeeded makes its send_invite expected
            pending = [m for m in self.expected() if m not in self.final]
            for start in range(0, len(pending), BATCH):
                self._read(pending[start:start + BATCH])
        expected = self.expected()
        return sum(m in self.final for m in expected), len(expected)

    def _read(self, ids: list[str]) -> None:
        request: dict[str, Any] = {self.stack.table: {
            "Keys": [{"pk": {"S": f"JOB#{m}"}, "sk": {"S": "JOB"}} for m in ids],
            "ProjectionExpression": "message_id, #s", "ExpressionAttributeNames": {"#s": "status"},
            "ConsistentRead": True,
        }}
        while request:
            answer = self._dynamodb.batch_get_item(RequestItems=request)
            for item in answer["Responses"].get(self.stack.table, []):
                if item["status"]["S"] in ("succeeded", "failed"):
                    self.final[item["message_id"]["S"]] = item["status"]["S"]
            request = answer.get("UnprocessedKeys") or {}


class ProgressWatcher(threading.Thread):
    """Polls every runtime's Progress every POLL_S and prints a line every PRINT_S."""

    def __init__(self, progress: dict[str, Progress], begun: float, say: Callable[[str], None]) -> None:
        super().__init__(name="progress", daemon=True)
        self.progress = progress
        self.begun = begun  # monotonic start of the chaos phase, for the lines' time stamps
        self.say = say
        self._lock = threading.Lock()
        self._latest: dict[str, tuple[int, int]] = {}
        self._done: set[str] = set()
        self._stopping = threading.Event()

    def done(self, name: str) -> bool:
        """The runtime's sender has finished and every job it sent has finished, at the last poll."""
        with self._lock:
            return name in self._done

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=60)

    def run(self) -> None:
        printed = time.monotonic()
        while not self._stopping.wait(POLL_S):
            self._poll_all()
            if time.monotonic() - printed >= PRINT_S:
                printed = time.monotonic()
                self.say(self.line())

    def _poll_all(self) -> None:
        for name, tracker in self.progress.items():
            if self.done(name):
                continue
            sending = tracker.sender.is_alive()  # before the poll: what it counts was all sent
            try:
                finished, sent = tracker.poll()
            except Exception as error:  # a moto hiccup under load: the next round reads again
                log.warning("%s: progress not read (%s)", name, error)
                continue
            with self._lock:
                self._latest[name] = (finished, sent)
                if not sending and finished == sent:
                    self._done.add(name)

    def line(self) -> str:
        with self._lock:
            parts = [f"{name} {finished}/{sent}" for name, (finished, sent) in self._latest.items()]
        return (f"{time.monotonic() - self.begun:7.1f} s  finished/sent: {'  '.join(parts)}  "
                f"(load {os.getloadavg()[0]:.1f})")
