"""Fault and latency plans: what the simulator does to the next EWS requests, per operation or all.

A plan holds latency rules and fault rules. For each EWS request that reached dispatch the server
asks the plan for a Decision: how long to sleep, and whether to fail the request instead of
serving it. Nothing here knows HTTP; the server renders the decision.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["Decision", "FaultKind", "FaultPlan", "FaultRule", "LatencyRule"]


class FaultKind(StrEnum):
    """How a request fails."""

    # HTTP 500 SOAP fault ErrorServerBusy whose detail carries BackOffMilliseconds (EWS throttling).
    SERVER_BUSY = "server_busy"
    # HTTP 200 with the operation's normal response, every ResponseMessage ResponseClass="Error"
    # ErrorServerBusy with BackOffMilliseconds in its MessageXml (the other form Exchange uses).
    SERVER_BUSY_MESSAGE = "server_busy_message"
    # HTTP 503 with no SOAP body, as IIS answers when its request queue is full.
    HTTP_503 = "http_503"
    # The socket is closed after the request was read, without any response.
    DROP = "drop"
    # An HTTP 500 SOAP fault with any EWS response code (e.g. ErrorInternalServerTransientError).
    SOAP_FAULT = "soap_fault"


@dataclass
class FaultRule:
    """Fail `count` of the next `window` matching requests (every matching request when count is None).

    Which requests of the window fail is drawn once, with `seed` for repeatable runs; with
    count == window (the default when only count is given) it is simply "the next N".
    """

    kind: FaultKind
    operation: str | None = None
    count: int | None = None
    window: int | None = None
    back_off_ms: int = 1000
    code: str = "ErrorInternalServerTransientError"
    message: str = ""
    seed: int | None = None
    _failing: frozenset[int] = field(default=frozenset(), init=False, repr=False)
    _seen: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        self.kind = FaultKind(self.kind)
        if self.count is not None:
            window = self.count if self.window is None else self.window
            if not 0 <= self.count <= window:
                raise ValueError(f"cannot fail {self.count} of {window} requests")
            self.window = window
            self._failing = frozenset(random.Random(self.seed).sample(range(window), self.count))

    def matches(self, operation: str) -> bool:
        return self.operation is None or self.operation == operation

    @property
    def exhausted(self) -> bool:
        return self.window is not None and self._seen >= self.window

    def take(self) -> bool:
        """Count one matching request; True when this one must fail."""
        index = self._seen
        self._seen += 1
        return self.count is None or index in self._failing

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "operation": self.operation,
            "count": self.count,
            "window": self.window,
            "back_off_ms": self.back_off_ms,
            "code": self.code,
            "seen": self._seen,
        }


@dataclass(frozen=True)
class LatencyRule:
    """Delay matching requests by min_ms, or by a uniform random time in [min_ms, max_ms]."""

    min_ms: float
    max_ms: float | None = None
    operation: str | None = None

    def matches(self, operation: str) -> bool:
        return self.operation is None or self.operation == operation

    def draw(self, rng: random.Random) -> float:
        """Seconds to sleep."""
        if self.max_ms is None or self.max_ms <= self.min_ms:
            return self.min_ms / 1000
        return rng.uniform(self.min_ms, self.max_ms) / 1000

    def to_dict(self) -> dict[str, Any]:
        return {"min_ms": self.min_ms, "max_ms": self.max_ms, "operation": self.operation}


@dataclass(frozen=True)
class Decision:
    """What to do with one request: sleep `delay_s`, then serve it or fail it with `fault`."""

    delay_s: float = 0.0
    fault: FaultRule | None = None


_SERVE = Decision()


class FaultPlan:
    """The active latency and fault rules; thread-safe, cleared by reset()."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latency: list[LatencyRule] = []
        self._faults: list[FaultRule] = []
        self._rng = random.Random()

    def add_latency(
        self, min_ms: float, max_ms: float | None = None, operation: str | None = None
    ) -> LatencyRule:
        """Delay every matching request (fixed, or random between min_ms and max_ms)."""
        rule = LatencyRule(min_ms, max_ms, operation)
        with self._lock:
            self._latency.append(rule)
        return rule

    def add_fault(self, rule: FaultRule) -> FaultRule:
        with self._lock:
            self._faults.append(rule)
        return rule

    def fail(
        self,
        kind: FaultKind | str,
        *,
        operation: str | None = None,
        count: int | None = None,
        window: int | None = None,
        **options: Any,
    ) -> FaultRule:
        """Fail `count` of the next `window` matching requests with `kind` (all of them if count is None)."""
        return self.add_fault(FaultRule(FaultKind(kind), operation, count, window, **options))

    def add_from_dict(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Add a rule from its JSON shape: {"latency_ms": ..} or {"kind": ..} (see the control surface)."""
        if "latency_ms" in raw or "min_ms" in raw:
            latency = self.add_latency(
                float(raw.get("latency_ms", raw.get("min_ms", 0))),
                None if raw.get("max_ms") is None else float(raw["max_ms"]),
                raw.get("operation"),
            )
            return latency.to_dict()
        known = {"operation", "count", "window", "back_off_ms", "code", "message", "seed"}
        unknown = set(raw) - known - {"kind"}
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        return self.fail(raw["kind"], **{k: v for k, v in raw.items() if k in known}).to_dict()

    def decide(self, operation: str) -> Decision:
        """Consume the rules for one request of `operation` and say what to do with it."""
        with self._lock:
            if not self._latency and not self._faults:
                return _SERVE
            delay = sum(rule.draw(self._rng) for rule in self._latency if rule.matches(operation))
            failing: FaultRule | None = None
            for rule in self._faults:
                # Every matching rule counts the request, so that windows stay aligned with traffic.
                if rule.matches(operation) and rule.take() and failing is None:
                    failing = rule
            self._faults = [rule for rule in self._faults if not rule.exhausted]
            return Decision(delay, failing)

    def describe(self) -> dict[str, list[dict[str, Any]]]:
        with self._lock:
            return {
                "latency": [rule.to_dict() for rule in self._latency],
                "faults": [rule.to_dict() for rule in self._faults],
            }

    def reset(self) -> None:
        with self._lock:
            self._latency.clear()
            self._faults.clear()
