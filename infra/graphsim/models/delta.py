"""Delta query state for calendarView/delta: rounds of pages and the tokens that resume them.

A round starts with the initial request (every event in the window) or with a deltaToken (what
changed since the token's snapshot: new and modified events in full, removed ones as
{"@removed": {"reason": "deleted"}}), and is served in pages linked by skip tokens; its last page
carries a deltaLink for the next round (https://learn.microsoft.com/en-us/graph/delta-query-events).
Outlook keeps delta tokens in a cache of limited size, so old ones stop working: the service then
answers 410 Gone with SyncStateNotFound
(https://learn.microsoft.com/en-us/graph/delta-query-overview#synchronization-reset,
https://github.com/microsoftgraph/microsoft-graph-docs/issues/2350). `expire_all` does that on demand.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime

from infra.graphsim.errors import GraphError

__all__ = ["DeltaRound", "DeltaStore", "Snapshot"]

# Item id -> change key of the events in a window.
Snapshot = dict[str, str]


@dataclass
class DeltaRound:
    """One round: the entries still to serve (item id, removed?) and the snapshot it ends in."""

    mailbox: str
    start: datetime
    end: datetime
    entries: list[tuple[str, bool]]
    snapshot: Snapshot
    offset: int = 0
    generation: int = 0


@dataclass
class _Saved:
    mailbox: str
    start: datetime
    end: datetime
    snapshot: Snapshot
    generation: int = 0


@dataclass
class DeltaStore:
    _rounds: dict[str, DeltaRound] = field(default_factory=dict)
    _saved: dict[str, _Saved] = field(default_factory=dict)
    _generation: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def begin(
        self, mailbox: str, start: datetime, end: datetime, current: Snapshot, since: Snapshot | None
    ) -> DeltaRound:
        """A new round from the current snapshot, against `since` (None: a full synchronisation)."""
        if since is None:
            entries = [(item_id, False) for item_id in current]
        else:
            entries = [(i, False) for i, key in current.items() if since.get(i) != key]
            entries += [(i, True) for i in since if i not in current]
        with self._lock:
            return DeltaRound(mailbox, start, end, entries, dict(current), generation=self._generation)

    def park(self, round_: DeltaRound) -> str:
        """A skip token that resumes this round at its offset."""
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._rounds[token] = round_
        return token

    def finish(self, round_: DeltaRound) -> str:
        """The delta token of the round's end state."""
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._saved[token] = _Saved(
                round_.mailbox, round_.start, round_.end, round_.snapshot, round_.generation
            )
        return token

    def resume(self, token: str, mailbox: str) -> DeltaRound:
        with self._lock:
            found = self._rounds.pop(token, None)
            if found is None or found.generation != self._generation or found.mailbox != mailbox:
                raise _gone()
            return found

    def saved(self, token: str, mailbox: str) -> tuple[datetime, datetime, Snapshot]:
        with self._lock:
            found = self._saved.get(token)
            if found is None or found.generation != self._generation or found.mailbox != mailbox:
                raise _gone()
            return found.start, found.end, found.snapshot

    def expire_all(self) -> int:
        with self._lock:
            count = len(self._rounds) + len(self._saved)
            self._generation += 1
            self._rounds.clear()
            self._saved.clear()
            return count

    def reset(self) -> None:
        with self._lock:
            self._rounds.clear()
            self._saved.clear()


def _gone() -> GraphError:
    return GraphError(
        410, "SyncStateNotFound", "The sync state generation is not found. Do a full synchronization."
    )
