"""pipeline.observability on its own: log keys, outcomes, EMF lines, scrubbing, switches."""

from __future__ import annotations

import logging
from typing import Any, cast

import pytest
from aws_lambda_powertools.metrics import MetricUnit

from pipeline import observability
from pipeline.errors import ErrorCode, PermanentError, PipelineError, RetryableError
from pipeline.observability import (
    Outcome,
    emit_metric,
    job_outcome,
    logger,
    metrics_enabled,
    observe_ews_call,
    observe_job,
    set_metrics_enabled,
    tracer,
    tracing_enabled,
)
from tests.observability_support import Observed, observed

__all__ = ["observed"]  # the fixture, re-exported for pytest

log = logging.getLogger("pipeline.tests")


@pytest.mark.parametrize(
    ("failure", "final_attempt", "outcome"),
    [
        (PermanentError(ErrorCode.INVALID_KWARGS, "bad"), False, Outcome.FAILED),
        (RetryableError(ErrorCode.SERVER_BUSY, "busy", 1500), False, Outcome.RETRYING),
        (RetryableError(ErrorCode.SERVER_BUSY, "busy", 1500), True, Outcome.FAILED),
        (PermanentError(ErrorCode.DUPLICATE_DELIVERY, "held elsewhere"), False, Outcome.DUPLICATE),
    ],
)
def test_job_outcome(failure: PipelineError, final_attempt: bool, outcome: Outcome) -> None:
    assert job_outcome(failure, final_attempt) is outcome


def test_lines_during_a_job_carry_its_keys_and_none_after(observed: Observed) -> None:
    # Given a job in progress
    with observe_job("msg-1", "list_rooms", attempt=2, final_attempt=False) as job:
        job.add_integration("delegate-basic")
        log.info("inside")
    log.info("after")

    # Then every line inside carries the job's keys, and the line after carries none of them
    inside, finished, after = observed.take().logs
    for line in (inside, finished):
        assert line["correlation_id"] == "msg-1"
        assert (line["actor"], line["integration_id"], line["attempt"]) == ("list_rooms", "delegate-basic", 2)
        assert line["service"] == "ews-pipeline"
    assert (finished["message"], finished["outcome"]) == ("job succeeded", "succeeded")
    assert "correlation_id" not in after and "actor" not in after


def test_outer_keys_survive_a_job(observed: Observed) -> None:
    logger.thread_safe_append_keys(batch="b-1")
    try:
        with observe_job("msg-1", "list_rooms", attempt=1, final_attempt=False):
            pass
        log.info("after")
    finally:
        logger.thread_safe_clear_keys()
    finished, after = observed.take().logs
    assert finished["batch"] == after["batch"] == "b-1"
    assert "correlation_id" not in after


def test_a_retrying_job_counts_a_retry(observed: Observed) -> None:
    with pytest.raises(RetryableError), observe_job("msg-1", "create_event", attempt=1, final_attempt=False):
        raise RetryableError(ErrorCode.SERVER_BUSY, "busy", 1500)
    output = observed.take()
    assert output.metric_points("JobsProcessed") == [
        {"action": "create_event", "outcome": "retrying", "value": 1.0, "unit": "Count"}
    ]
    assert output.metric_points("Retries") == [{"action": "create_event", "value": 1.0, "unit": "Count"}]
    [finished] = output.logs
    assert (finished["level"], finished["error_code"]) == ("WARNING", "SERVER_BUSY")


def test_the_final_attempt_fails_without_a_retry(observed: Observed) -> None:
    with pytest.raises(RetryableError), observe_job("msg-1", "create_event", attempt=5, final_attempt=True):
        raise RetryableError(ErrorCode.SERVER_BUSY, "busy")
    output = observed.take()
    assert [p["outcome"] for p in output.metric_points("JobsProcessed")] == ["failed"]
    assert output.metric_points("Retries") == []


def test_a_duplicate_delivery(observed: Observed) -> None:
    with observe_job("msg-1", "send_invite", attempt=2, final_attempt=False) as job:
        job.mark_duplicate()
    assert [p["outcome"] for p in observed.take().metric_points("JobsProcessed")] == ["duplicate"]


def test_an_unknown_actor_name_mints_no_new_dimension(observed: Observed) -> None:
    with pytest.raises(PermanentError), observe_job("msg-1", "x" * 500, attempt=1, final_attempt=False):
        raise PermanentError(ErrorCode.UNKNOWN_ACTOR, "no such action")
    output = observed.take()
    assert [p["action"] for p in output.metric_points("JobsProcessed")] == ["unknown"]
    assert output.logs[0]["actor"] == "unknown"


def test_ews_latency_is_recorded_for_failed_calls_too(observed: Observed) -> None:
    with observe_ews_call("GetRooms"):
        pass
    with pytest.raises(RetryableError), observe_ews_call("CreateItem"):
        raise RetryableError(ErrorCode.SERVER_BUSY, "busy")
    points = observed.take().metric_points("EwsLatency")
    assert [(p["operation"], p["unit"]) for p in points] == [
        ("GetRooms", "Milliseconds"),
        ("CreateItem", "Milliseconds"),
    ]
    assert all(p["value"] >= 0 for p in points)


def test_a_broken_metric_never_raises(observed: Observed) -> None:
    emit_metric("JobsProcessed", MetricUnit.Count, cast(Any, "not a number"), action="list_rooms")
    output = observed.take()
    assert output.metric_points("JobsProcessed") == []
    [warning] = output.logs
    assert warning["message"] == "metric JobsProcessed was not emitted"


def test_metrics_switches(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # Outside Lambda and without PIPELINE_METRICS, metrics stay off (tests and local runs).
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    monkeypatch.delenv("PIPELINE_METRICS", raising=False)
    observability._metrics_default.cache_clear()
    try:
        assert not metrics_enabled()
        emit_metric("Retries", MetricUnit.Count, 1, action="list_rooms")
        assert capsys.readouterr().out == ""
        monkeypatch.setenv("PIPELINE_METRICS", "on")
        observability._metrics_default.cache_clear()
        assert metrics_enabled()
        # POWERTOOLS_METRICS_DISABLED wins over everything.
        monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
        set_metrics_enabled(True)
        assert not metrics_enabled()
    finally:
        set_metrics_enabled(None)
        observability._metrics_default.cache_clear()


def test_credentials_are_scrubbed_from_messages_and_tracebacks(observed: Observed) -> None:
    log.info("connecting with password=%s", "hunter2-Secret")
    try:
        raise ValueError('{"client_secret": "app-Secret-6"}')
    except ValueError:
        log.exception("failed")
    text = observed.take().text
    assert "hunter2-Secret" not in text and "app-Secret-6" not in text
    assert "password=***" in text


def test_the_tracer_is_off_outside_lambda() -> None:
    assert not tracing_enabled()
    assert tracer() is None  # nor is the X-Ray SDK imported (tests/unit/test_handler_imports.py)
    with observe_ews_call("GetRooms"):  # no X-Ray daemon, no error
        pass
