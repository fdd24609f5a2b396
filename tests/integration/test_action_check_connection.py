"""check_connection through run_job: each step reported; a failing step ends the report, not the job."""

from __future__ import annotations

from typing import Any

import pytest

from infra.ewssim import EwsSimulator, FaultKind
from pipeline.contract import JobStatus
from tests.integration.ews_support import put_secret
from tests.integration.pipeline_support import METHOD_AUTH_PAIRS, PipelineHarness, pipeline
from tests.seed import PASSWORDS, smtp

__all__ = ["pipeline"]  # the fixture, re-exported for pytest

STEPS = ["resolve_endpoint", "authenticate", "connection_method", "room_lists"]


@pytest.fixture(autouse=True)
def _local_oauth(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


def check(pipeline: PipelineHarness, integration_id: str, mailbox: str = "alice") -> dict[str, Any]:
    outcome = pipeline.run("check_connection", integration_id=integration_id, mailbox=smtp(mailbox))
    # A diagnostic: whatever it found, the job itself succeeds with the report.
    assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    assert outcome.result is not None
    return outcome.result


def step_outcomes(report: dict[str, Any]) -> list[tuple[str, bool, str | None]]:
    return [(step["name"], step["ok"], step["error_code"]) for step in report["steps"]]


@pytest.mark.parametrize(("method", "auth"), METHOD_AUTH_PAIRS)
def test_every_connection_method_and_auth_type_passes_every_step(
    pipeline: PipelineHarness, sim: EwsSimulator, method: str, auth: str
) -> None:
    integration_id = pipeline.install(method, auth)

    report = check(pipeline, integration_id)

    assert report["ok"] is True
    assert step_outcomes(report) == [(name, True, None) for name in STEPS]
    endpoint, version, connection, rooms = (step["detail"] for step in report["steps"])
    assert endpoint == sim.ews_url
    assert "15.2.1118" in version
    assert smtp("alice") in connection or method == "dedicated"
    assert rooms == "2 room list(s): Building 1, Building 2"
    # A configured URL needs no request; then one request per remaining step.
    assert sim.request_counts() == {"ConvertId": 1, "GetFolder": 1, "GetRoomLists": 1}


def test_the_connection_method_is_proved_as_the_integration_would_act(
    pipeline: PipelineHarness, sim: EwsSimulator
) -> None:
    integration_id = pipeline.install("impersonation")

    check(pipeline, integration_id, "carol")

    [probe] = sim.request_log("GetFolder")
    assert (probe.caller, probe.impersonated, probe.code) == (smtp("svc-imp"), smtp("carol"), "NoError")


def test_autodiscover_resolves_the_endpoint(pipeline: PipelineHarness, sim: EwsSimulator) -> None:
    integration_id = pipeline.install("delegate", ews_url=None, autodiscover_url=sim.autodiscover_url)

    report = check(pipeline, integration_id)

    assert report["ok"] is True
    assert report["steps"][0]["detail"].lower() == sim.ews_url.lower()


def test_no_rights_on_the_mailbox_stops_at_the_connection_method(
    pipeline: PipelineHarness, sim: EwsSimulator
) -> None:
    # svc may only see bob's free/busy: it cannot book into his calendar as a delegate.
    integration_id = pipeline.install("delegate")

    report = check(pipeline, integration_id, "bob")

    assert report["ok"] is False
    assert step_outcomes(report) == [
        ("resolve_endpoint", True, None),
        ("authenticate", True, None),
        ("connection_method", False, "ACCESS_DENIED"),
    ]  # the room lists step is skipped
    assert "GetRoomLists" not in sim.request_counts()


def test_impersonation_without_the_right_is_reported(pipeline: PipelineHarness) -> None:
    integration_id = pipeline.install("impersonation")
    # The secret names svc, which holds no ApplicationImpersonation right.
    put_secret(pipeline.secrets_client, f"ews/{integration_id}/service",
               {"username": smtp("svc"), "password": PASSWORDS["svc"]})

    report = check(pipeline, integration_id)

    assert step_outcomes(report)[2:] == [("connection_method", False, "IMPERSONATION_DENIED")]


def test_an_unknown_mailbox_is_reported(pipeline: PipelineHarness) -> None:
    integration_id = pipeline.install("delegate")

    report = check(pipeline, integration_id, "nobody")

    assert step_outcomes(report)[2:] == [("connection_method", False, "UNKNOWN_MAILBOX")]


def test_wrong_credentials_stop_at_authenticate(pipeline: PipelineHarness, sim: EwsSimulator) -> None:
    integration_id = pipeline.install("dedicated", "ntlm")
    put_secret(pipeline.secrets_client, f"ews/{integration_id}/service",
               {"username": smtp("svc"), "password": "not-the-password"})

    report = check(pipeline, integration_id)

    assert step_outcomes(report) == [("resolve_endpoint", True, None), ("authenticate", False, "AUTH_FAILED")]
    assert "not-the-password" not in report["steps"][1]["detail"]


def test_a_busy_server_retries_the_job_rather_than_reporting(
    pipeline: PipelineHarness, sim: EwsSimulator
) -> None:
    integration_id = pipeline.install("delegate")
    sim.faults.fail(FaultKind.SERVER_BUSY, operation="GetFolder", count=1, back_off_ms=1500)

    outcome = pipeline.run("check_connection", integration_id=integration_id, mailbox=smtp("alice"))

    assert outcome.status is JobStatus.RETRYING and outcome.error is not None
    assert (outcome.error.code, outcome.error.retryable) == ("SERVER_BUSY", True)
