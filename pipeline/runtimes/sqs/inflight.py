"""Received-but-unsettled SQS messages, handed out one per message group at a time.

SQS FIFO locks a message group while any of its messages is in flight, but a single
ReceiveMessage may still return several messages of one group. Handing those to several worker
threads at once would run one mailbox's jobs concurrently, out of order. So only a group's oldest
message is ready for the workers; the rest are held until it is settled (deleted or dead-lettered),
and released back to SQS with it when it is retried or requeued, so SQS delivers them again in
their original order.
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from collections.abc import Iterable
from typing import Generic, Protocol, TypeVar

__all__ = ["InFlight", "Tracked"]


class Tracked(Protocol):
    """What the tracker needs to know of one received message."""

    receipt_handle: str
    group_id: str
    queue_name: str
    # Monotonic time at which SQS makes the message visible again unless it is extended.
    visible_until: float


T = TypeVar("T", bound=Tracked)


class InFlight(Generic[T]):
    """Thread-safe: consumers add and hand out, worker threads settle and release."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._all: dict[str, T] = {}
        self._ready: defaultdict[str, deque[T]] = defaultdict(deque)
        self._held: defaultdict[str, deque[T]] = defaultdict(deque)
        self._active_groups: set[str] = set()

    def __len__(self) -> int:
        with self._lock:
            return len(self._all)

    def add(self, item: T) -> None:
        """Track a received message; add them in the order SQS returned them."""
        with self._lock:
            self._all[item.receipt_handle] = item
            if item.group_id in self._active_groups:
                self._held[item.group_id].append(item)
            else:
                self._active_groups.add(item.group_id)
                self._ready[item.queue_name].append(item)

    def pop_ready(self, queue_name: str) -> T | None:
        """The next message a worker may run for this dramatiq queue, if any."""
        with self._lock:
            ready = self._ready.get(queue_name)
            return ready.popleft() if ready else None

    def settle(self, item: T) -> None:
        """The message is gone from SQS: let its group's next held message become ready."""
        with self._lock:
            if self._all.pop(item.receipt_handle, None) is None:
                return
            held = self._held.get(item.group_id)
            if held:
                successor = held.popleft()
                self._ready[successor.queue_name].append(successor)
            else:
                self._active_groups.discard(item.group_id)
                self._held.pop(item.group_id, None)

    def release(self, item: T) -> list[T]:
        """The message goes back to SQS: returns its group's held messages, to release after it."""
        with self._lock:
            if self._all.pop(item.receipt_handle, None) is None:
                return []
            return self._drop_group(item.group_id)

    def release_ready(self, queue_name: str) -> list[T]:
        """Messages not yet handed to a worker for this queue, each followed by its held group."""
        with self._lock:
            released: list[T] = []
            ready = self._ready.pop(queue_name, deque())
            for item in ready:
                self._all.pop(item.receipt_handle, None)
                released.append(item)
                released.extend(self._drop_group(item.group_id))
            return released

    def _drop_group(self, group_id: str) -> list[T]:
        held = list(self._held.pop(group_id, deque()))
        for other in held:
            self._all.pop(other.receipt_handle, None)
        self._active_groups.discard(group_id)
        return held

    def expiring(self, before: float) -> list[T]:
        """Messages whose visibility ends before `before` (monotonic seconds)."""
        with self._lock:
            return [item for item in self._all.values() if item.visible_until < before]

    def extended(self, items: Iterable[T], until: float) -> None:
        """Note that these messages are now invisible until `until`."""
        with self._lock:
            for item in items:
                item.visible_until = until

    def clear(self) -> list[T]:
        """Forget everything (after a flush); returns what was tracked."""
        with self._lock:
            items = list(self._all.values())
            self._all.clear()
            self._ready.clear()
            self._held.clear()
            self._active_groups.clear()
            return items
