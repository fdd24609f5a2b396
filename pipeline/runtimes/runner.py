"""run_job: the one place where a job message becomes a job record, an action call and an outcome.

The dramatiq actors and the Lambda handler both call it, so a job gives the same record whichever
runtime ran it. Everything that can go wrong leaves as a PipelineError; the caller only decides
how its runtime retries (dramatiq.Retry on a worker, a batch item failure in Lambda).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.actions import ACTION_FUNCTIONS
from pipeline.actions.context import ActionContext
from pipeline.contract import JobKwargs, JobStatus, MailboxJobKwargs, parse_kwargs
from pipeline.contract.common import INTEGRATION_ID_PATTERN
from pipeline.errors import ErrorCode, PermanentError, PipelineError, RetryableError
from pipeline.events.models import JobFailedData, PipelineEvent, make_event
from pipeline.integrations import IntegrationSettings, load_integration
from pipeline.observability import JobObservation, observe_job
from pipeline.runtimes.enqueue import Enqueue
from pipeline.runtimes.runtime import Runtime

log = logging.getLogger(__name__)

__all__ = ["Job", "run_job"]


@dataclass(frozen=True)
class Job:
    """One delivery of a job message."""

    message_id: str
    actor_name: str
    kwargs: Mapping[str, Any]
    # True when the runtime will not deliver this message again: a retryable failure is then
    # recorded as failed for good rather than left "retrying" forever.
    final_attempt: bool = False
    # Which delivery this is, counting from 1 (for logs).
    attempt: int = 1


def run_job(runtime: Runtime, job: Job, *, enqueue: Enqueue | None = None) -> dict[str, Any]:
    """Run one job and record its outcome; returns the action's result as JSON-ready data.

    A delivery of a job that already succeeded returns the recorded result without running the
    action again, so that a redelivered pipeline step still hands on to the next step. `enqueue`
    lets an action put follow-up jobs on the queue. The events the job wrote are published once
    it has ended (succeeded, or failed for good); those a sink misses stay pending for the sweep.
    """
    with observe_job(job.message_id, job.actor_name, job.attempt, job.final_attempt) as observation:
        written: list[PipelineEvent] = []
        try:
            return _run_observed(runtime, job, observation, enqueue, written)
        finally:
            if written and runtime.events is not None:
                runtime.events.publish(written)


def _run_observed(
    runtime: Runtime, job: Job, observation: JobObservation, enqueue: Enqueue | None,
    written: list[PipelineEvent],
) -> dict[str, Any]:
    store = runtime.store
    try:
        kwargs = parse_kwargs(job.actor_name, job.kwargs)
    except PermanentError as rejected:
        failed = _job_failed_event(runtime, job, rejected, _claimed_integration(job.kwargs), None)
        store.fail_job(
            job.message_id, rejected.code, rejected.message, retryable=False, now=runtime.clock(),
            actor_name=job.actor_name[:64], events=failed,
        )
        written.extend(failed)
        raise
    observation.add_integration(kwargs.integration_id)
    mailbox = kwargs.mailbox if isinstance(kwargs, MailboxJobKwargs) else None
    try:
        store.begin_job(job.message_id, job.actor_name, kwargs.integration_id, mailbox, runtime.clock())
    except PermanentError as duplicate:
        if duplicate.code is ErrorCode.DUPLICATE_DELIVERY:
            observation.mark_duplicate()
            return _recorded_outcome(runtime, job, duplicate)
        raise
    emitted: list[PipelineEvent] = []
    try:
        result = _perform(runtime, job, kwargs, enqueue, emitted)
    except PipelineError as failure:
        written.extend(emitted)
        _record_failure(runtime, job, failure, kwargs.integration_id, mailbox, written)
        raise
    except Exception as unexpected:
        # A bug or an unforeseen library error: recorded with its type only (its text could hold
        # anything) and retried, since it may be transient; the final attempt records it failed.
        log.exception("job %s (%s) raised unexpectedly", job.message_id, job.actor_name)
        written.extend(emitted)
        internal = RetryableError(ErrorCode.INTERNAL, f"unexpected {type(unexpected).__name__}")
        _record_failure(runtime, job, internal, kwargs.integration_id, mailbox, written)
        raise internal from unexpected
    written.extend(emitted)
    store.complete_job(job.message_id, result, runtime.clock())
    return result


def _perform(
    runtime: Runtime, job: Job, kwargs: JobKwargs, enqueue: Enqueue | None, emitted: list[PipelineEvent]
) -> dict[str, Any]:
    context = ActionContext(
        message_id=job.message_id,
        integration=_integration(runtime, kwargs.integration_id),
        store=runtime.store,
        gateways=runtime.gateways,
        config=runtime.config,
        clock=runtime.clock,
        enqueue=enqueue,
        emitted=emitted,
    )
    action = ACTION_FUNCTIONS[job.actor_name]
    outcome: dict[str, Any] = action(context, kwargs).model_dump(mode="json")
    return outcome


def _integration(runtime: Runtime, integration_id: str) -> IntegrationSettings:
    raw = runtime.store.get_integration(integration_id)
    if raw is None:
        raise PermanentError(ErrorCode.UNKNOWN_INTEGRATION, f"no integration named {integration_id!r}")
    return load_integration(raw)


def _record_failure(
    runtime: Runtime, job: Job, failure: PipelineError, integration_id: str, mailbox: str | None,
    written: list[PipelineEvent],
) -> None:
    will_retry = failure.retryable and not job.final_attempt
    failed = [] if will_retry else _job_failed_event(runtime, job, failure, integration_id, mailbox)
    try:
        runtime.store.fail_job(job.message_id, failure.code, failure.message, will_retry, runtime.clock(),
                               events=failed)
        written.extend(failed)
    except PermanentError as duplicate:
        # Another delivery finished the job meanwhile; its record stands.
        log.warning("job %s: outcome not recorded: %s", job.message_id, duplicate.message)


def _job_failed_event(
    runtime: Runtime, job: Job, failure: PipelineError, integration_id: str | None, mailbox: str | None,
) -> list[PipelineEvent]:
    """The job.failed event for a job that failed for good; none without an integration to tell."""
    if integration_id is None:
        return []
    data = JobFailedData(message_id=job.message_id, actor_name=job.actor_name[:64], mailbox=mailbox,
                         error_code=failure.code, error_message=failure.message)
    return [make_event(data, integration_id=integration_id, occurred_at=runtime.clock(),
                       cause=job.message_id)]


def _claimed_integration(kwargs: Mapping[str, Any]) -> str | None:
    """The integration a rejected job names, if it names one in a valid shape (else nobody to tell)."""
    claimed = kwargs.get("integration_id") if isinstance(kwargs, Mapping) else None
    return claimed if isinstance(claimed, str) and re.fullmatch(INTEGRATION_ID_PATTERN, claimed) else None


def _recorded_outcome(runtime: Runtime, job: Job, duplicate: PermanentError) -> dict[str, Any]:
    record = runtime.store.get_job(job.message_id)
    if record is not None and record.status is JobStatus.SUCCEEDED:
        log.info("job %s already succeeded; not running it again", job.message_id)
        return dict(record.result or {})
    raise duplicate
