"""Defects a fault run found (issue 9): messages that were lost, a redrive that did nothing, and
personal data in dramatiq's log lines. Each test failed before its fix."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker

from infra.ewssim import EwsSimulator, FaultKind
from pipeline.contract import JobStatus
from pipeline.errors import ErrorCode, PermanentError
from pipeline.events.models import EventType
from pipeline.runtimes.actors import declare_actors
from pipeline.runtimes.broker import worker_middleware
from pipeline.runtimes.runner import GaveUp, Job, UnrecordableMessage, run_job
from tests.integration.event_support import ALICE, BOB, booking, stamped
from tests.integration.pipeline_support import PipelineHarness, pipeline

__all__ = ["pipeline"]  # the fixture, re-exported for pytest


@pytest.mark.parametrize("length", [129, 700, 3000])
def test_a_message_id_too_long_to_be_a_key_is_refused_for_the_dead_letter_queue(
    pipeline: PipelineHarness, length: int
) -> None:
    integration_id = pipeline.install("delegate")
    job = Job("m" * length, "create_event", booking(integration_id))

    with pytest.raises(UnrecordableMessage) as raised:
        run_job(pipeline.runtime, job)

    assert raised.value.code is ErrorCode.INVALID_MESSAGE
    assert stamped(pipeline.sim, ALICE, "interview-1:slot-1") == []  # nothing ran


def test_positional_arguments_are_refused_and_recorded(pipeline: PipelineHarness) -> None:
    integration_id = pipeline.install("delegate")
    job = Job("with-args", "create_event", booking(integration_id), args=({"created": True},))

    with pytest.raises(PermanentError):
        run_job(pipeline.runtime, job)

    record = pipeline.store.get_job("with-args")
    assert record is not None and record.status is JobStatus.FAILED
    assert record.error_code is ErrorCode.INVALID_MESSAGE and "pipe_ignore" in (record.error_message or "")
    assert stamped(pipeline.sim, ALICE, "interview-1:slot-1") == []


def test_a_redriven_job_runs_again_once_and_keeps_its_effects_exactly_once(
    pipeline: PipelineHarness, sim: EwsSimulator
) -> None:
    integration_id = pipeline.install("delegate")
    sim.faults.fail(FaultKind.SERVER_BUSY, operation="CreateItem", count=1, back_off_ms=1000)
    last_try = Job("redriven", "create_event", booking(integration_id), final_attempt=True)
    with pytest.raises(GaveUp):
        run_job(pipeline.runtime, last_try)
    failed = pipeline.store.get_job("redriven")
    assert failed is not None and failed.status is JobStatus.FAILED

    # The operator moves it back from the dead-letter queue: the same message, delivered again.
    run_job(pipeline.runtime, Job("redriven", "create_event", booking(integration_id)))
    run_job(pipeline.runtime, Job("redriven", "create_event", booking(integration_id)))  # a duplicate

    record = pipeline.store.get_job("redriven")
    assert record is not None and record.status is JobStatus.SUCCEEDED
    assert (record.attempts, record.redrives) == (1, 1)
    assert len(stamped(sim, ALICE, "interview-1:slot-1")) == 1
    failures = [e for e in pipeline.store.list_pending_events(limit=100) if e.type is EventType.JOB_FAILED]
    assert len(failures) == 1  # the give-up was told once; the redrive's success is not a failure


def test_dramatiq_logs_a_permanent_failure_without_the_jobs_kwargs(
    pipeline: PipelineHarness, caplog: pytest.LogCaptureFixture
) -> None:
    broker = StubBroker(middleware=worker_middleware())
    broker.emit_after("process_boot")
    actors = declare_actors(broker, lambda: pipeline.runtime)
    worker = dramatiq.Worker(broker, worker_threads=1)
    kwargs: dict[str, Any] = {**booking("no-such-integration"), "required_attendees": [{"email": BOB}]}
    caplog.set_level(logging.DEBUG)
    worker.start()
    try:
        actors["create_event"].send_with_options(kwargs=kwargs, message_id=str(uuid.uuid4()))
        broker.join(actors["create_event"].queue_name, fail_fast=False)
        worker.join()
    finally:
        worker.stop()

    assert len(broker.dead_letters) == 1  # the failed message is kept, as dramatiq does
    ours = [r for r in caplog.records if r.name.startswith(("dramatiq", "pipeline"))]
    text = "\n".join(r.getMessage() + (str(r.exc_info[1]) if r.exc_info else "") for r in ours)
    assert "create_event[" in text  # dramatiq's line names the job by actor and message id...
    assert ALICE not in text and BOB not in text and "Dana Diaz" not in text  # ...not by its kwargs
    errors = [r for r in ours if r.name.startswith("dramatiq") and r.levelno >= logging.ERROR]
    assert errors == []  # an expected, recorded failure is not an unhandled exception


def test_a_permanent_failure_is_raised_as_itself_not_as_its_own_cause(pipeline: PipelineHarness) -> None:
    # `raise failure from failure` made the exception its own cause: code walking the chain (a
    # log formatter, a leak check) looped forever.
    job = Job("no-integration", "create_event", booking("no-such-integration"))

    with pytest.raises(PermanentError) as raised:
        run_job(pipeline.runtime, job)

    assert raised.value.code is ErrorCode.UNKNOWN_INTEGRATION
    assert raised.value.__cause__ is not raised.value
