"""Faults and latency on demand, seen through exchangelib: busy, 503, dropped connections, fail N of M."""

from __future__ import annotations

import time

import pytest
from exchangelib import FaultTolerance
from exchangelib.errors import ErrorMailboxStoreUnavailable, ErrorServerBusy, ErrorTimeoutExpired

from infra.ewssim import EwsSimulator, FaultKind, FaultPlan
from tests.integration.ewssim.conftest import build_account
from tests.seed import smtp


def resolve(sim: EwsSimulator, **options: object) -> str:
    account = build_account(sim, "alice", **options)  # type: ignore[arg-type]
    return str(account.protocol.resolve_names(["bob"])[0].email_address)


def test_server_busy_carries_back_off(sim: EwsSimulator) -> None:
    sim.faults.fail(FaultKind.SERVER_BUSY, count=1, back_off_ms=250)
    with pytest.raises(ErrorServerBusy) as caught:
        resolve(sim)
    # exchangelib read BackOffMilliseconds from the fault detail (seconds on its side).
    assert caught.value.back_off == 0.25
    record = sim.request_log()[-1]
    assert (record.status, record.code) == (500, "ErrorServerBusy")
    # The rule was for one request only.
    assert resolve(sim) == smtp("bob")
    assert sim.request_counts() == {"ResolveNames": 2}


def test_retry_policy_rides_out_server_busy(sim: EwsSimulator) -> None:
    sim.faults.fail(FaultKind.SERVER_BUSY, count=2, back_off_ms=20)
    assert resolve(sim, retry_policy=FaultTolerance(max_wait=10)) == smtp("bob")
    assert sim.request_counts() == {"ResolveNames": 3}
    assert [r.code for r in sim.request_log()] == ["ErrorServerBusy", "ErrorServerBusy", "NoError"]


def test_http_503(sim: EwsSimulator) -> None:
    sim.faults.fail("http_503", count=1)
    # exchangelib turns a 503 into ErrorServerBusy (retryable) and says why.
    with pytest.raises(ErrorServerBusy, match="HTTP 503"):
        resolve(sim)
    assert sim.request_log()[-1].status == 503


def test_dropped_connection(sim: EwsSimulator) -> None:
    sim.faults.fail(FaultKind.DROP, count=1)
    with pytest.raises(ErrorTimeoutExpired):
        resolve(sim)
    # Counted although no response was sent.
    assert sim.request_counts() == {"ResolveNames": 1}
    assert resolve(sim) == smtp("bob")


def test_fail_n_of_the_next_m(sim: EwsSimulator) -> None:
    sim.faults.fail(FaultKind.SOAP_FAULT, count=2, window=5, seed=7, code="ErrorMailboxStoreUnavailable")
    outcomes = []
    account = build_account(sim, "alice")
    for _ in range(6):
        try:
            account.protocol.resolve_names(["bob"])
            outcomes.append("ok")
        except ErrorMailboxStoreUnavailable:
            outcomes.append("fail")
    assert outcomes[:5].count("fail") == 2
    assert outcomes[5] == "ok"
    assert sim.request_counts() == {"ResolveNames": 6}


def test_fault_for_one_operation_only(sim: EwsSimulator) -> None:
    sim.faults.fail(FaultKind.SERVER_BUSY, operation="GetFolder")
    assert resolve(sim) == smtp("bob")
    with pytest.raises(ErrorServerBusy):
        _ = build_account(sim, "alice").calendar
    sim.faults.reset()
    assert build_account(sim, "alice").calendar.name == "Calendar"


def test_fixed_latency(sim: EwsSimulator) -> None:
    sim.faults.add_latency(60, operation="ResolveNames")
    started = time.monotonic()
    assert resolve(sim) == smtp("bob")
    # Only a lower bound: the sleep is certain, an upper bound would be a flaky timing assertion.
    assert time.monotonic() - started >= 0.06


def test_random_latency_stays_in_range() -> None:
    plan = FaultPlan()
    plan.add_latency(5, 15)
    delays = [plan.decide("GetItem").delay_s for _ in range(200)]
    assert all(0.005 <= d <= 0.015 for d in delays)
    assert len(set(delays)) > 1


def test_fault_rule_validation() -> None:
    with pytest.raises(ValueError):
        FaultPlan().fail(FaultKind.DROP, count=3, window=2)
    with pytest.raises(ValueError):
        FaultPlan().add_from_dict({"kind": "drop", "typo": 1})
    with pytest.raises(ValueError):
        FaultPlan().add_from_dict({"kind": "melt"})
