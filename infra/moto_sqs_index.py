"""One SQS queue's messages, indexed for infra.moto_sqs: by group in send order, by expiry, by due time.

A queue holds entries, one per message it holds (moto moves the same Message object to a
dead-letter queue, so a queue's bookkeeping lives in its entry, never on the message):
- `groups`: each message group's entries in send order (a standard queue's message is a group of
  its own), and `ready`, a heap of (oldest sequence number, group) for the groups with nothing in
  flight, checked lazily as groups change;
- `expiry`: a heap of in-flight entries by the time their visibility ends; `delayed`: a heap of
  entries by the time their DelaySeconds end;
- `by_handle`: every receipt handle a present message had (moto accepts any of them).
The caller (infra.moto_sqs) holds the lock around every call and gives the time.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from enum import Enum
from typing import Any

__all__ = ["Entry", "QueueIndex", "Verdict"]


class Verdict(Enum):
    """What a receive does with a receivable message."""

    DELIVER = "deliver"
    DEAD_LETTER = "dead_letter"  # received maxReceiveCount times: to the dead-letter queue
    DROP = "drop"  # past the retention period


@dataclass(eq=False, slots=True)
class Entry:
    message: Any  # moto.sqs.models.Message
    seq: int
    group: Hashable
    gone: bool = False
    waiting: bool = False  # delayed, not yet due
    token: int = 0  # bumped whenever its visibility changes; older expiry records are stale


class QueueIndex:
    """One queue's entries (see the module's docstring)."""

    def __init__(self, fifo: Callable[[], bool], lock: threading.RLock) -> None:
        self._fifo = fifo
        self.changed = threading.Condition(lock)  # notified when something may be receivable
        self._dedup: dict[str, float] = {}  # de-duplication id -> sent timestamp (ms)
        self._dedup_order: deque[tuple[float, str]] = deque()
        self.reset()

    def reset(self) -> None:
        """Forget every message (PurgeQueue); de-duplication ids are kept, as in SQS."""
        self.present: dict[int, Entry] = {}  # in sequence order
        self.by_handle: dict[str, Entry] = {}
        self.groups: dict[Hashable, deque[Entry]] = {}
        self.in_flight: dict[Hashable, int] = {}
        self.pending: set[Entry] = set()
        self.ready: list[tuple[int, Hashable]] = []
        self.expiry: list[tuple[float, int, int, Entry]] = []  # (visible_at, seq, token, entry)
        self.delayed: list[tuple[float, int, Entry]] = []  # (delayed_until, seq, entry)
        self._numbers = itertools.count()

    # -- counts (moto's ApproximateNumberOf... attributes) ---------------------------------

    @property
    def delayed_count(self) -> int:
        return len(self.delayed)

    @property
    def visible_count(self) -> int:
        return len(self.present) - len(self.pending) - len(self.delayed)

    # -- de-duplication ---------------------------------------------------------------------

    def is_duplicate(self, deduplication_id: str, sent_ms: float, window_ms: float) -> bool:
        """True if the id was sent within the window before `sent_ms`; else records it."""
        while self._dedup_order and sent_ms - self._dedup_order[0][0] >= window_ms:
            at, old = self._dedup_order.popleft()
            if self._dedup.get(old) == at:
                del self._dedup[old]
        earlier = self._dedup.get(deduplication_id)
        if earlier is not None and sent_ms - earlier < window_ms:
            return True
        self._dedup[deduplication_id] = sent_ms
        self._dedup_order.append((sent_ms, deduplication_id))
        return False

    # -- the clock ----------------------------------------------------------------------------

    def advance(self, now_ms: float) -> None:
        """Delayed messages that are due become receivable; in-flight ones whose visibility ended too."""
        while self.delayed and self.delayed[0][0] <= now_ms:
            entry = heapq.heappop(self.delayed)[2]
            entry.waiting = False
            if not entry.gone:
                self._enter_group(entry)
        while self.expiry and self.expiry[0][0] < now_ms:
            entry, token = self.expiry[0][3], self.expiry[0][2]
            heapq.heappop(self.expiry)
            if entry in self.pending and entry.token == token:
                self._land(entry)

    def next_change(self) -> float | None:
        """When (ms) the next in-flight or delayed message may become receivable."""
        times = [heap[0][0] for heap in (self.expiry, self.delayed) if heap]
        return min(times) if times else None

    # -- membership -----------------------------------------------------------------------------

    def insert(self, message: Any, now_ms: float) -> Entry:
        """Add a message behind every present one (sent here, or moved here from another queue)."""
        seq = next(self._numbers)
        group = message.group_id if self._fifo() and message.group_id else ("", seq)
        entry = Entry(message, seq, group)
        self.present[seq] = entry
        for handle in message.all_receipt_handles:
            if handle is not None:
                self.by_handle[handle] = entry
        if message.delayed_until > now_ms:
            entry.waiting = True
            heapq.heappush(self.delayed, (message.delayed_until, seq, entry))
        else:
            self._enter_group(entry)
        return entry

    def remove(self, entry: Entry) -> None:
        """Take a message off the queue (deleted, or moved elsewhere)."""
        self._forget(entry)
        if entry in self.pending:
            self._land(entry)
        else:
            self._offer(entry.group)

    def _forget(self, entry: Entry) -> None:
        entry.gone = True
        self.present.pop(entry.seq, None)
        for handle in entry.message.all_receipt_handles:
            if handle is not None and self.by_handle.get(handle) is entry:
                del self.by_handle[handle]

    def _enter_group(self, entry: Entry) -> None:
        members = self.groups.setdefault(entry.group, deque())
        position = len(members)
        while position and members[position - 1].seq > entry.seq:  # a delayed one that came due late
            position -= 1
        members.insert(position, entry)
        self._offer(entry.group)

    def _offer(self, group: Hashable) -> None:
        """Drop a group's departed head entries; put it on the ready heap if nothing of it is in flight."""
        members = self.groups.get(group)
        while members and members[0].gone:
            members.popleft()
        if members is None:
            return
        if not members:
            del self.groups[group]
            return
        if not self.in_flight.get(group):
            heapq.heappush(self.ready, (members[0].seq, group))
            self.changed.notify_all()

    # -- in flight ------------------------------------------------------------------------------

    def hide(self, entry: Entry) -> None:
        """The message is in flight until its visible_at; its group delivers nothing meanwhile."""
        if entry not in self.pending:
            self.pending.add(entry)
            self.in_flight[entry.group] = self.in_flight.get(entry.group, 0) + 1
        entry.token += 1
        heapq.heappush(self.expiry, (entry.message.visible_at, entry.seq, entry.token, entry))

    def show(self, entry: Entry) -> None:
        """The message is visible again (ChangeMessageVisibility to 0)."""
        if entry in self.pending:
            self._land(entry)

    def _land(self, entry: Entry) -> None:
        self.pending.discard(entry)
        left = self.in_flight.get(entry.group, 0) - 1
        if left > 0:
            self.in_flight[entry.group] = left
        else:
            self.in_flight.pop(entry.group, None)
            self._offer(entry.group)

    # -- receiving --------------------------------------------------------------------------------

    def receive(self, count: int, visibility_timeout: int,
                judge: Callable[[Any], Verdict]) -> tuple[list[Any], list[Any]]:
        """Up to `count` messages, oldest first across the groups that may deliver, each marked
        received (moto's Message.mark_received) and in flight for `visibility_timeout` s; a group
        that delivers may deliver its next messages in the same call, as in SQS. Returns (delivered,
        to dead-letter); the latter are already off this queue."""
        delivered: list[Any] = []
        dead: list[Any] = []
        drawn: set[Hashable] = set()
        following: list[tuple[int, Hashable, int]] = []  # (seq, group, position) of drawn groups
        while len(delivered) < count:
            while self.ready and not self._deliverable(self.ready[0], drawn):
                heapq.heappop(self.ready)
            if following and (not self.ready or following[0][0] < self.ready[0][0]):
                _, group, position = heapq.heappop(following)
            elif self.ready:
                group = heapq.heappop(self.ready)[1]
                drawn.add(group)
                position = 0
            else:
                break
            members = self.groups[group]
            entry = members[position]
            later = position + 1
            while later < len(members) and members[later].gone:
                later += 1
            if later < len(members):
                heapq.heappush(following, (members[later].seq, group, later))
            verdict = judge(entry.message)
            if verdict is not Verdict.DELIVER:
                self._forget(entry)  # the group's deque is tidied below, not while it is walked
                if verdict is Verdict.DEAD_LETTER:
                    dead.append(entry.message)
                continue
            entry.message.mark_received(visibility_timeout=visibility_timeout)
            self.by_handle[entry.message.receipt_handle] = entry
            if visibility_timeout:
                self.hide(entry)
            delivered.append(entry.message)
        for group in drawn:
            self._offer(group)  # those left with nothing in flight may deliver again
        return delivered, dead

    def _deliverable(self, top: tuple[int, Hashable], drawn: set[Hashable]) -> bool:
        seq, group = top
        if group in drawn or self.in_flight.get(group):
            return False
        members = self.groups.get(group)
        return members is not None and bool(members) and members[0].seq == seq and not members[0].gone
