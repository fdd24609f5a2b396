"""The dramatiq actors: one per action, declared on a broker the caller configured.

Each actor hands its message to run_job; the runtime-specific part is only how a failure is
turned into dramatiq's retry or stop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import dramatiq
from dramatiq.middleware import CurrentMessage

from pipeline.contract import ACTIONS
from pipeline.contract.message import JOBS_QUEUE
from pipeline.errors import PermanentError, RetryableError
from pipeline.runtimes.broker import MAX_RETRIES
from pipeline.runtimes.enqueue import Enqueue, broker_enqueue
from pipeline.runtimes.log_privacy import redact_dramatiq_messages
from pipeline.runtimes.runner import GaveUp, Job, UnrecordableMessage, run_job
from pipeline.runtimes.runtime import Runtime

__all__ = ["JOBS_QUEUE", "JobFailed", "declare_actors"]


class JobFailed(Exception):
    """A job ended in a permanent failure (already recorded); stops its pipeline, never retried.

    `dead_letter` when the outcome could not be recorded at all, or the job gave up on a transient
    failure (for an operator to redrive): the message must then reach the broker's dead-letter
    queue (dramatiq's own brokers put every failed message there; the SQS broker only these, as
    the table holds the others).
    """

    def __init__(self, failure: PermanentError) -> None:
        super().__init__(f"{failure.code}")  # the code only: messages may quote the job's input
        self.code = failure.code
        self.dead_letter = isinstance(failure, UnrecordableMessage | GaveUp)


def declare_actors(
    broker: dramatiq.Broker, runtime: Callable[[], Runtime], queue_name: str = JOBS_QUEUE
) -> dict[str, dramatiq.Actor[Any, Any]]:
    """Declare one actor per action on `broker`; `runtime` gives the process's Runtime lazily.

    Follow-up jobs an action enqueues (a calendar sync) go through the same broker and queue.
    """
    enqueue = broker_enqueue(broker, queue_name)
    redact_dramatiq_messages()
    actors = {
        name: dramatiq.Actor(
            _perform_for(name, runtime, enqueue),
            broker=broker,
            actor_name=name,
            queue_name=queue_name,
            priority=0,
            # A permanent failure is expected and recorded: dramatiq logs it at INFO, without
            # the ERROR traceback it gives an unhandled exception.
            options={"throws": (JobFailed,)},
        )
        for name in ACTIONS
    }
    for actor in actors.values():
        # dramatiq's actor logs "Received args=... kwargs=..." at DEBUG: the job's mailboxes and
        # attendees, whatever level operators choose for the rest.
        actor.logger.setLevel(logging.INFO)
    return actors


def _perform_for(actor_name: str, runtime: Callable[[], Runtime], enqueue: Enqueue) -> Callable[..., None]:
    def perform(*args: Any, **kwargs: Any) -> None:
        # Positional arguments are not part of the contract: the runner refuses them as
        # INVALID_MESSAGE (a pipeline step receives the previous result unless pipe_ignore is set).
        message = CurrentMessage.get_current_message()
        if message is None:
            raise RuntimeError("the CurrentMessage middleware is not installed on this broker")
        retries = int(message.options.get("retries", 0))
        job = Job(
            message.message_id, actor_name, kwargs, final_attempt=retries >= MAX_RETRIES,
            attempt=retries + 1, args=args,
        )
        try:
            # The outcome lives in the results table; dramatiq has no result backend to keep it.
            run_job(runtime(), job, enqueue=enqueue)
        except RetryableError as failure:
            raise dramatiq.Retry(str(failure), delay=failure.delay_ms) from failure
        except PermanentError as failure:
            raise JobFailed(failure) from failure

    perform.__name__ = actor_name
    return perform
