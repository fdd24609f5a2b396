"""Exchange faults for the chaos benchmark: the simulator's fault plan, changed as the run goes.

Throughout the chaos phase about `rate` of EWS requests fail, in five equal shares:
  server_busy           HTTP 500 SOAP fault ErrorServerBusy with BackOffMilliseconds
  server_busy_message   HTTP 200, ErrorServerBusy in the ResponseMessage (MessageXml back-off)
  http_503              HTTP 503 without a SOAP body (IIS queue full)
  drop                  the connection closed without an answer
  slow                  an answer later than the pipeline's EWS timeout
The first four are request faults: the simulator fails `count` of every `window` requests, drawn
at random, one rule per kind. The simulator's latency applies to every request, so slow answers
come in short slices instead: every SLOW_PERIOD_S seconds, for the slow share of that period,
every request is answered after `slow_ms`. A storm is one stretch of 100% ErrorServerBusy.

The simulator's plan can only be cleared as a whole, so every change re-installs all the rules
that are on (the windows are drawn afresh, which keeps the same rates). Its request log keeps the
last 10,000 requests, so the controller harvests it every few seconds (and clears it), counting
the outcomes of every request by phase.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench_support import SimulatorProcess

from infra.ewssim.faults import FaultKind

__all__ = ["INJECTED", "OUTCOMES", "FaultController", "FaultTally", "outcome_of"]

REQUEST_FAULTS = (FaultKind.SERVER_BUSY, FaultKind.SERVER_BUSY_MESSAGE, FaultKind.HTTP_503, FaultKind.DROP)
SHARES = len(REQUEST_FAULTS) + 1  # and slow answers
# How the simulator answered: served ("ok", or "other" for an EWS error of the request's own, such as
# ErrorNonExistentMailbox), or failed by one of the injected request faults.
OUTCOMES = ("ok", "other", "server_busy", "server_busy_message", "http_503", "drop")
INJECTED = OUTCOMES[2:]
WINDOW = 100_000  # requests per rule: far more than a run makes between two re-installs
SLOW_PERIOD_S = 10.0
HARVEST_PERIOD_S = 5.0
MIXED_BACK_OFF_MS = 1_000
STORM_BACK_OFF_MS = 5_000


def outcome_of(record: dict[str, Any]) -> str:
    """How the simulator answered one logged request (slow answers are counted apart)."""
    status, code = record.get("status"), record.get("code")
    if code == "ErrorServerBusy":
        return "server_busy" if status == 500 else "server_busy_message"
    if status == 503:
        return "http_503"
    if status == 0:
        return "drop"
    return "ok" if code == "NoError" else "other"


@dataclass
class FaultTally:
    """What the plan did, from the simulator's request log and counters."""

    outcomes: dict[str, Counter[str]] = field(default_factory=dict)  # phase -> outcome -> requests
    slow_slices: int = 0
    slow_requests: int = 0  # requests that arrived while answers were slow
    storm_requests: int = 0  # requests that arrived during the storm (all ErrorServerBusy)
    storm_seconds: float = 0.0
    stopped_at: float | None = None  # time.time() when the faults stopped


class FaultController:
    """Owns the simulator's fault plan and request log for the run (start ... stop ... close)."""

    def __init__(self, sim: SimulatorProcess, *, rate: float, slow_ms: float, rng: random.Random) -> None:
        if not 0 <= rate < 1:
            raise ValueError("the fault rate must be in [0, 1)")
        self.sim = sim
        self.rate = rate
        self.slow_ms = slow_ms
        self.tally = FaultTally()
        self.phase = "start"
        self._rng = rng
        self._lock = threading.Lock()
        self._mixed = self._slow = self._storm = False
        self._harvested = 0  # requests counted by the simulator before its last clear
        self._faults_off = threading.Event()
        self._closed = threading.Event()
        self._slicer = threading.Thread(target=self._slow_slices, name="slow-answers", daemon=True)
        self._harvester = threading.Thread(target=self._harvest_often, name="request-log", daemon=True)
        # Each request fault's share, such that some fault hits 4/5 of `rate` of the requests
        # (the rules draw independently; the first matching one fails the request).
        self._per_kind = 1 - (1 - rate * len(REQUEST_FAULTS) / SHARES) ** (1 / len(REQUEST_FAULTS))

    def start(self) -> None:
        with self._lock:
            self._harvest()
            self.phase = "chaos"
            self._mixed = True
            self._apply()
        self._harvester.start()
        if self.rate > 0:
            self._slicer.start()

    def storm(self, seconds: float) -> None:
        """100% ErrorServerBusy (the SOAP fault form) for `seconds`; blocks meanwhile."""
        with self._lock:
            before = self._requests()
            self._storm = True
            self._apply()
        started = time.monotonic()
        self._faults_off.wait(seconds)
        with self._lock:
            self._storm = False
            self._apply()
            self.tally.storm_requests += self._requests() - before
            self.tally.storm_seconds += time.monotonic() - started

    def stop(self) -> None:
        """Every fault off: from here on the simulator answers every request at once."""
        self._faults_off.set()
        if self._slicer.is_alive():
            self._slicer.join(timeout=30)
        with self._lock:
            self._mixed = self._slow = self._storm = False
            self._apply()
            self.tally.stopped_at = time.time()
            self._harvest()
            self.phase = "drain"

    def close(self) -> None:
        """Count the last requests; the controller is done."""
        self._closed.set()
        if self._harvester.is_alive():
            self._harvester.join(timeout=30)
        with self._lock:
            self._harvest()

    def _slow_slices(self) -> None:
        slice_s = SLOW_PERIOD_S * self.rate / SHARES
        while not self._faults_off.is_set():
            lead = self._rng.uniform(0, SLOW_PERIOD_S - slice_s)
            if self._faults_off.wait(lead):
                return
            with self._lock:
                before = self._requests()
                self._slow = True
                self._apply()
            self._faults_off.wait(slice_s)
            with self._lock:
                self._slow = False
                self._apply()
                self.tally.slow_slices += 1
                self.tally.slow_requests += self._requests() - before
            self._faults_off.wait(SLOW_PERIOD_S - slice_s - lead)

    def _harvest_often(self) -> None:
        while not self._closed.wait(HARVEST_PERIOD_S):
            with self._lock:
                self._harvest()

    def _harvest(self) -> None:
        """Count the logged requests' outcomes in the current phase, then clear the log."""
        records = self.sim.control("GET", "requests/log")
        counted = sum(self.sim.request_counts().values())
        self.sim.control("DELETE", "requests")
        self._harvested += counted
        self.tally.outcomes.setdefault(self.phase, Counter()).update(outcome_of(r) for r in records)

    def _requests(self) -> int:
        """EWS requests so far, over every clear of the simulator's counters."""
        return self._harvested + sum(self.sim.request_counts().values())

    def _apply(self) -> None:
        """Clear the plan and install what is on now; the storm's rule first, so that it decides."""
        self.sim.control("DELETE", "faults")
        if self._storm:
            self.sim.control("POST", "faults", {"kind": FaultKind.SERVER_BUSY.value,
                                                "back_off_ms": STORM_BACK_OFF_MS})
        if self._mixed and self.rate > 0:
            count = round(WINDOW * self._per_kind)
            for kind in REQUEST_FAULTS:
                self.sim.control("POST", "faults", {
                    "kind": kind.value, "count": count, "window": WINDOW,
                    "seed": self._rng.randrange(2**31), "back_off_ms": MIXED_BACK_OFF_MS,
                })
        if self._slow:
            self.sim.control("POST", "faults", {"latency_ms": self.slow_ms})
