"""run_job: the one place where a job message becomes a job record, an action call and an outcome.

The dramatiq actors and the Lambda handler both call it, so a job gives the same record whichever
runtime ran it. Everything that can go wrong leaves as a PipelineError; the caller only decides
how its runtime retries (dramatiq.Retry on a worker, a batch item failure in Lambda).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pipeline.actions import ACTION_FUNCTIONS
from pipeline.actions.context import ActionContext
from pipeline.contract import JobKwargs, JobStatus, MailboxJobKwargs, parse_kwargs
from pipeline.contract.common import INTEGRATION_ID_PATTERN
from pipeline.contract.message import MESSAGE_ID_MAX_LENGTH
from pipeline.errors import ErrorCode, PermanentError, PipelineError, RetryableError
from pipeline.events.models import JobFailedData, PipelineEvent, make_event
from pipeline.integrations import IntegrationSettings, load_integration
from pipeline.observability import JobObservation, observe_job
from pipeline.runtimes.enqueue import Enqueue
from pipeline.runtimes.runtime import Runtime
from pipeline.store.base import JobFinished
from pipeline.store.records import JobCompletion, JobRecord

log = logging.getLogger(__name__)

__all__ = ["GaveUp", "Job", "UnrecordableMessage", "run_job"]


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
    # Positional arguments: never part of the contract (a pipeline step without pipe_ignore).
    args: tuple[Any, ...] = ()


class GaveUp(PermanentError):
    """A transient failure that outlasted the retry window (or the runtime's last delivery): the
    job is recorded failed, and the message goes to the dead-letter queue, so that an operator can
    redrive it once Exchange is well again."""


class UnrecordableMessage(PermanentError):
    """A message whose outcome the results table cannot hold (its id is not a valid key, or the
    write is refused): the runtime must put it in the dead-letter queue, where nothing is lost."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.INVALID_MESSAGE, message)


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
    _check_envelope(job)
    try:
        if job.args:
            raise PermanentError(
                ErrorCode.INVALID_MESSAGE,
                f"{len(job.args)} positional argument(s): jobs take keyword arguments only "
                "(a pipeline step must set pipe_ignore)",
            )
        kwargs = parse_kwargs(job.actor_name, job.kwargs)
    except PermanentError as rejected:
        failed = _job_failed_event(runtime, job, rejected, _claimed_integration(job.kwargs), None)
        code, reason = rejected.code, rejected.message
        _recorded(lambda: store.fail_job(
            job.message_id, code, reason, retryable=False, now=runtime.clock(),
            actor_name=job.actor_name[:64], events=failed,
        ))
        written.extend(failed)
        raise
    observation.add_integration(kwargs.integration_id)
    mailbox = kwargs.mailbox if isinstance(kwargs, MailboxJobKwargs) else None
    try:
        record = store.begin_job(job.message_id, job.actor_name, kwargs.integration_id, mailbox,
                                 runtime.clock())
    except PermanentError as duplicate:
        if duplicate.code is ErrorCode.DUPLICATE_DELIVERY:
            observation.mark_duplicate()
            return _recorded_outcome(runtime, job, duplicate)
        raise
    if record.attempts > 1 and runtime.retry_policy.expired(record.first_attempt_at, runtime.clock()):
        # A delivery arriving after the retry window (a worker died on its last try): give up
        # without running, as the retry that brought it would have been refused.
        expired = RetryableError(ErrorCode.TIMEOUT, "the job's retry window passed before it could run")
        raise _record_failure(runtime, job, record, expired, kwargs.integration_id, mailbox, written)
    emitted: list[PipelineEvent] = []
    finished: list[JobCompletion] = []
    try:
        result = _perform(runtime, job, record, kwargs, enqueue, emitted, finished)
    except PipelineError as failure:
        written.extend(emitted)
        if failure.code is ErrorCode.DUPLICATE_DELIVERY:
            # The action's last write recorded the job's success, and its condition found the
            # job taken over by another delivery: that delivery's record stands; nothing was written.
            raise
        recorded = _record_failure(runtime, job, record, failure, kwargs.integration_id, mailbox, written)
        if recorded is failure:
            raise  # failed for good as it was raised: its own traceback, no cause to add
        raise recorded from failure
    except Exception as unexpected:
        # A bug or an unforeseen library error: recorded with its type only (its text could hold
        # anything) and retried, since it may be transient; the final attempt records it failed.
        log.exception("job %s (%s) raised unexpectedly", job.message_id, job.actor_name)
        written.extend(emitted)
        internal = RetryableError(ErrorCode.INTERNAL, f"unexpected {type(unexpected).__name__}")
        raise _record_failure(runtime, job, record, internal, kwargs.integration_id, mailbox,
                              written) from unexpected
    written.extend(emitted)
    if not finished:  # else the action's last write recorded the success already
        store.complete_job(job.message_id, result, runtime.clock())
    return result


def _perform(
    runtime: Runtime, job: Job, record: JobRecord, kwargs: JobKwargs, enqueue: Enqueue | None,
    emitted: list[PipelineEvent], finished: list[JobCompletion],
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
        attempts=record.attempts,
        finished=finished,
    )
    action = ACTION_FUNCTIONS[job.actor_name]
    outcome: dict[str, Any] = action(context, kwargs).model_dump(mode="json")
    return outcome


def _integration(runtime: Runtime, integration_id: str) -> IntegrationSettings:
    # A copy read a few seconds ago at most (PIPELINE_SETTINGS_CACHE_SECONDS): most jobs read nothing.
    record = runtime.store.current_integration(integration_id, runtime.clock())
    if record is None:
        raise PermanentError(ErrorCode.UNKNOWN_INTEGRATION, f"no integration named {integration_id!r}")
    return load_integration(record.settings)


def _record_failure(
    runtime: Runtime, job: Job, record: JobRecord, failure: PipelineError, integration_id: str,
    mailbox: str | None, written: list[PipelineEvent],
) -> PipelineError:
    """Record the failure and return what the runtime must raise: a RetryableError carrying the
    retry policy's delay while the retry window lasts, else a PermanentError (failed for good)."""
    now = runtime.clock()
    policy = runtime.retry_policy
    if failure.retryable:
        delay_ms = policy.delay_ms(record.attempts, getattr(failure, "delay_ms", None))
        if not job.final_attempt and not policy.gives_up(record.first_attempt_at, now, delay_ms):
            _store_failure(runtime, job, failure.code, failure.message, True, [])
            return RetryableError(failure.code, failure.message, delay_ms=delay_ms)
        minutes = (now - record.first_attempt_at).total_seconds() / 60
        failure = GaveUp(
            failure.code, f"{failure.message} (gave up after {record.attempts} attempt(s) in "
            f"{minutes:.0f} min)",
        )
    failed = _job_failed_event(runtime, job, failure, integration_id, mailbox, record.first_attempt_at)
    if _store_failure(runtime, job, failure.code, failure.message, False, failed):
        written.extend(failed)
    return failure


def _store_failure(runtime: Runtime, job: Job, code: ErrorCode, message: str, retrying: bool,
                   events: list[PipelineEvent]) -> bool:
    """fail_job; False when another delivery finished the job meanwhile (its record stands)."""
    try:
        _recorded(lambda: runtime.store.fail_job(job.message_id, code, message, retrying, runtime.clock(),
                                                 events=events))
        return True
    except PermanentError as duplicate:
        if duplicate.code is not ErrorCode.DUPLICATE_DELIVERY:
            raise
        log.warning("job %s: outcome not recorded: %s", job.message_id, duplicate.message)
        return False


def _recorded(write: Callable[[], object]) -> None:
    """Run a write of the job's outcome; a write the table refuses for good (a key or an item it
    cannot hold) makes the message unrecordable, for the dead-letter queue."""
    try:
        write()
    except PermanentError as refused:
        if refused.code is ErrorCode.DUPLICATE_DELIVERY:
            raise
        raise UnrecordableMessage(f"the outcome cannot be recorded ({refused.code.value})") from refused


def _check_envelope(job: Job) -> None:
    """The message id keys the record, and it and the action name are stored: both must be text
    the table can hold (JSON can carry lone surrogates, which no UTF-8 store takes)."""
    if not 1 <= len(job.message_id) <= MESSAGE_ID_MAX_LENGTH:
        raise UnrecordableMessage(
            f"message_id must be 1 to {MESSAGE_ID_MAX_LENGTH} characters, not {len(job.message_id)}"
        )
    for name, value in (("message_id", job.message_id), ("actor_name", job.actor_name)):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise UnrecordableMessage(f"{name} is not valid Unicode text (a lone surrogate)") from None


def _job_failed_event(
    runtime: Runtime, job: Job, failure: PipelineError, integration_id: str | None, mailbox: str | None,
    run: datetime | None = None,
) -> list[PipelineEvent]:
    """The job.failed event for a job that failed for good; none without an integration to tell.
    Each run of a redriven job that fails again is a new fact, with an id of its own."""
    if integration_id is None:
        return []
    data = JobFailedData(message_id=job.message_id, actor_name=job.actor_name[:64], mailbox=mailbox,
                         error_code=failure.code, error_message=failure.message)
    return [make_event(data, integration_id=integration_id, occurred_at=runtime.clock(),
                       cause=f"{job.message_id}|{run.isoformat() if run else ''}")]


def _claimed_integration(kwargs: Mapping[str, Any]) -> str | None:
    """The integration a rejected job names, if it names one in a valid shape (else nobody to tell)."""
    claimed = kwargs.get("integration_id") if isinstance(kwargs, Mapping) else None
    return claimed if isinstance(claimed, str) and re.fullmatch(INTEGRATION_ID_PATTERN, claimed) else None


def _recorded_outcome(runtime: Runtime, job: Job, duplicate: PermanentError) -> dict[str, Any]:
    # begin_job hands the record it found over with the error: no second read.
    record = duplicate.record if isinstance(duplicate, JobFinished) else runtime.store.get_job(job.message_id)
    if record is not None and record.status is JobStatus.SUCCEEDED:
        log.info("job %s already succeeded; not running it again", job.message_id)
        return dict(record.result or {})
    raise duplicate
