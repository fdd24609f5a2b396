"""Exact per-operation request counts and a bounded log of the EWS requests the simulator served."""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["RequestLog", "RequestRecord"]


@dataclass(frozen=True)
class RequestRecord:
    """One EWS POST that reached dispatch (faulted ones included)."""

    operation: str
    caller: str
    impersonated: str | None
    status: int
    code: str
    # Simulated time (ISO 8601, UTC) when the request arrived.
    time: str
    app_only: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class RequestLog:
    """Counts never drop an entry; the log keeps the newest `capacity` records."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._records: deque[RequestRecord] = deque(maxlen=capacity)

    def count(self, operation: str) -> None:
        """Count a request as soon as its operation is known, before anything can fail it."""
        with self._lock:
            self._counts[operation] += 1

    def record(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def records(self, operation: str | None = None) -> list[RequestRecord]:
        with self._lock:
            return [r for r in self._records if operation is None or r.operation == operation]

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()
            self._records.clear()
