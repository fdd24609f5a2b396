"""Real jobs through run_job, against moto and the simulator: what reaches the logs and metrics.

Logs are routed as inside Lambda (pipeline.* through the Powertools JSON handler) and metrics are
on; both land on the captured stdout, which every test reads back as JSON lines.
"""

from __future__ import annotations

import base64
import logging
import threading
import uuid
from typing import Any

import pytest

from infra.ewssim import FaultKind
from pipeline.actions.context import GatewayFactory
from pipeline.exchange.base import ExchangeGateway
from pipeline.integrations import IntegrationSettings
from pipeline.observability import logger
from pipeline.runtimes.runner import Job, run_job
from pipeline.runtimes.runtime import Runtime
from tests.integration.pipeline_support import PipelineHarness, pipeline
from tests.observability_support import Observed, Output, observed
from tests.seed import APP, PASSWORDS, smtp

__all__ = ["observed", "pipeline"]  # the fixtures, re-exported for pytest

ROTATED_PASSWORD = "svc-Rotated-7"


def secrets_in(text: str) -> list[str]:
    """Every seeded credential (and its Basic header form) that appears in `text`."""
    candidates = [*PASSWORDS.values(), APP["client_secret"], ROTATED_PASSWORD]
    candidates += [
        base64.b64encode(f"{smtp(user)}:{password}".encode()).decode() for user, password in PASSWORDS.items()
    ]
    return [secret for secret in candidates if secret in text]


def job_lines(output: Output, message_id: str) -> list[dict[str, Any]]:
    return [line for line in output.logs if line.get("correlation_id") == message_id]


def test_a_job_logs_json_under_its_message_id(pipeline: PipelineHarness, observed: Observed) -> None:
    # Given an integration
    integration_id = pipeline.install("delegate")
    observed.take()

    # When a job runs
    message_id = str(uuid.uuid4())
    outcome = pipeline.run("list_rooms", integration_id=integration_id, message_id=message_id)

    # Then every log line written meanwhile carries its correlation id and keys, the mailbox none
    output = observed.take()
    assert outcome.status.value == "succeeded"
    assert output.logs, "the job wrote no log line"
    assert job_lines(output, message_id) == output.logs
    for line in output.logs:
        assert (line["actor"], line["integration_id"], line["attempt"]) == ("list_rooms", integration_id, 1)
        assert line["service"] == "ews-pipeline"
    assert output.logs[-1]["message"] == "job succeeded"
    # And its metrics: one job, one EWS call per operation it made
    assert output.metric_points("JobsProcessed") == [
        {"action": "list_rooms", "outcome": "succeeded", "value": 1.0, "unit": "Count"}
    ]
    latency = output.metric_points("EwsLatency")
    assert {point["operation"] for point in latency} == {"GetRoomLists", "GetRooms"}
    assert all(point["unit"] == "Milliseconds" and point["value"] > 0 for point in latency)
    assert output.metric_points("Retries") == []


def test_a_transient_failure_counts_a_retry(pipeline: PipelineHarness, observed: Observed) -> None:
    integration_id = pipeline.install("delegate")
    pipeline.sim.faults.fail(FaultKind.SERVER_BUSY, operation="GetRoomLists", count=1, back_off_ms=1500)
    observed.take()

    outcome = pipeline.run("list_rooms", integration_id=integration_id)

    output = observed.take()
    assert outcome.status.value == "retrying"
    assert output.metric_points("JobsProcessed") == [
        {"action": "list_rooms", "outcome": "retrying", "value": 1.0, "unit": "Count"}
    ]
    assert output.metric_points("Retries") == [{"action": "list_rooms", "value": 1.0, "unit": "Count"}]
    # The failed call's latency is measured too.
    assert [point["operation"] for point in output.metric_points("EwsLatency")] == ["GetRoomLists"]
    [finished] = output.logs
    assert (finished["outcome"], finished["error_code"]) == ("retrying", "SERVER_BUSY")


def test_a_redelivered_job_is_a_duplicate(pipeline: PipelineHarness, observed: Observed) -> None:
    integration_id = pipeline.install("delegate")
    message_id = str(uuid.uuid4())
    pipeline.run("list_rooms", integration_id=integration_id, message_id=message_id)
    observed.take()

    pipeline.run("list_rooms", integration_id=integration_id, message_id=message_id)

    output = observed.take()
    assert [p["outcome"] for p in output.metric_points("JobsProcessed")] == ["duplicate"]
    assert output.metric_points("EwsLatency") == []


@pytest.mark.parametrize(("method", "auth"), [("delegate", "basic"), ("delegate", "ntlm"),
                                              ("impersonation", "oauth2")])
def test_no_secret_reaches_the_output(
    pipeline: PipelineHarness, observed: Observed, method: str, auth: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # oauthlib refuses http:// token URLs; the simulator's HTTP endpoint stands in for the authority.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    integration_id = pipeline.install(method, auth)

    outcome = pipeline.run("list_rooms", integration_id=integration_id)

    output = observed.take()
    assert outcome.status.value == "succeeded"
    assert [p["outcome"] for p in output.metric_points("JobsProcessed")] == ["succeeded"]
    assert secrets_in(output.text) == []


def test_refused_credentials_are_logged_under_the_job_without_them(
    pipeline: PipelineHarness, observed: Observed
) -> None:
    # Given the service account's password changed in Exchange but not in Secrets Manager
    integration_id = pipeline.install("delegate", "basic")
    pipeline.sim.backend.directory.get(smtp("svc")).password = ROTATED_PASSWORD
    observed.take()

    # When a job runs (a 401, one secret refresh, a 401 again)
    message_id = str(uuid.uuid4())
    refused = pipeline.run("list_rooms", integration_id=integration_id, message_id=message_id)

    # Then the refresh and the failure are logged under the job, with no credential anywhere
    output = observed.take()
    assert refused.error is not None and refused.error.code.value == "AUTH_FAILED"
    lines = job_lines(output, message_id)
    assert lines == output.logs
    assert any("refreshing the secret once" in line["message"] for line in lines)
    assert (lines[-1]["outcome"], lines[-1]["error_code"]) == ("failed", "AUTH_FAILED")
    assert [p["outcome"] for p in output.metric_points("JobsProcessed")] == ["failed"]
    assert len(output.metric_points("EwsLatency")) == 2  # the first try and the one after the refresh
    assert secrets_in(output.text) == []


class _ThreadNameFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.thread_name = record.threadName  # an extra attribute: the JSON formatter writes it out
        return True


class _MeetingGateways:
    """Holds each job at gateway creation until the other job is there too: both run at once."""

    def __init__(self, inner: GatewayFactory, parties: int) -> None:
        self._inner = inner
        self._barrier = threading.Barrier(parties)

    def gateway(self, settings: IntegrationSettings, mailbox: str | None = None) -> ExchangeGateway:
        # A deadlock guard, not a timing assertion: the other job normally arrives at once.
        self._barrier.wait(timeout=60)
        return self._inner.gateway(settings, mailbox)


def test_concurrent_jobs_keep_their_own_correlation_ids(
    pipeline: PipelineHarness, observed: Observed
) -> None:
    # Given two jobs of different actions that run on two threads at the same time
    integration_id = pipeline.install("delegate")
    runtime = Runtime(
        config=pipeline.runtime.config,
        store=pipeline.runtime.store,
        gateways=_MeetingGateways(pipeline.runtime.gateways, parties=2),
    )
    jobs = {
        "thread-rooms": Job(str(uuid.uuid4()), "list_rooms", {"integration_id": integration_id}),
        "thread-check": Job(str(uuid.uuid4()), "check_connection", {"integration_id": integration_id,
                                                                    "mailbox": smtp("alice")}),
    }
    failures: list[BaseException] = []

    def run(job: Job) -> None:
        try:
            run_job(runtime, job)
        except Exception as failure:  # reported below, not lost in the thread
            failures.append(failure)

    observed.take()
    # The thread's name goes on every line, so each line can be traced to the thread that wrote it.
    name_thread = _ThreadNameFilter()
    logger.logger_handler.addFilter(name_thread)
    try:
        threads = [threading.Thread(target=run, args=(job,), name=name) for name, job in jobs.items()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        logger.logger_handler.removeFilter(name_thread)

    # Then every line a thread wrote carries that thread's job, and each job finished once
    assert failures == []
    output = observed.take()
    assert {line["thread_name"] for line in output.logs} == set(jobs)
    for line in output.logs:
        job = jobs[line["thread_name"]]
        assert (line["correlation_id"], line["actor"]) == (job.message_id, job.actor_name)
    finished = sorted((line["actor"], line["outcome"]) for line in output.logs if "outcome" in line)
    assert finished == [("check_connection", "succeeded"), ("list_rooms", "succeeded")]
    counted = sorted(point["action"] for point in output.metric_points("JobsProcessed"))
    assert counted == ["check_connection", "list_rooms"]
