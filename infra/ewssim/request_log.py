"""Exact per-operation request counts, a bounded log of the EWS requests the simulator served, and
a bounded log of logons (the name each client presented and whether it was accepted)."""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["LogonRecord", "RequestLog", "RequestRecord"]


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
    # The RequestServerVersion the client sent (None: no header).
    request_version: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LogonRecord:
    """One presented credential: Basic on every request, NTLM once per connection, a bearer token.

    `login` is the user name as sent (UPN, DOMAIN\\user, ...) or, for a bearer token, whom it acts
    as ("" when the token is unknown); no password or token is ever recorded. A refused logon is
    an HTTP 401.
    """

    scheme: str
    login: str
    accepted: bool
    time: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class RequestLog:
    """Counts never drop an entry; the logs keep the newest `capacity` records each."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._records: deque[RequestRecord] = deque(maxlen=capacity)
        self._logons: deque[LogonRecord] = deque(maxlen=capacity)

    def count(self, operation: str) -> None:
        """Count a request as soon as its operation is known, before anything can fail it."""
        with self._lock:
            self._counts[operation] += 1

    def record(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def record_logon(self, record: LogonRecord) -> None:
        with self._lock:
            self._logons.append(record)

    def logons(self) -> list[LogonRecord]:
        with self._lock:
            return list(self._logons)

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
            self._logons.clear()
