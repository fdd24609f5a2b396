"""Retries and pipeline steps that survive a broker outage instead of vanishing in it.

dramatiq runs `after_process_message` hooks inside `Broker.emit_after`, which logs any exception
and carries on. Its Retries middleware retries a job by enqueueing a delayed copy from that hook,
and its Pipelines middleware enqueues the next step (create_event's send_invite) from it too. When
the broker refuses that enqueue (Redis restarting, RabbitMQ failing over, SQS unreachable), the
copy or the step is lost, the worker then acknowledges the original, and the job stays
"retrying" for ever or the booking is never invited. A chaos run lost jobs exactly so.

Here both middlewares enqueue through `EnqueueUntilAccepted`, which does what dramatiq's worker
already does for acknowledgements (`ConsumerThread.post_process_message` retries a
BrokerConnectionError until the connection recovers): it keeps trying while the broker is
unreachable, so the original is acknowledged only once its successor is on the queue. If the
worker dies meanwhile the original was never acknowledged and is delivered again; the runner's
claims make a rerun of work that already took effect a no-op. An enqueue the broker refuses for
any other reason fails the message, so the consumer rejects it into the dead-letter queue.

dramatiq's Redis consumer has the same gap of its own: it moves a delayed message (a retry whose
back-off is over) to its queue with `broker.enqueue` and acknowledges the delayed copy after, and
when that enqueue meets an outage the message is left in the worker's acknowledgement set, which
Redis hands back only once the worker is dead (bench/chaos.py found jobs stuck so). A worker's
Redis broker (pipeline.runtimes.broker) therefore enqueues through `enqueue_until_accepted` too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import dramatiq
from dramatiq.errors import BrokerConnectionError
from dramatiq.middleware import Pipelines, Retries

__all__ = [
    "DurablePipelines",
    "DurableRetries",
    "EnqueueUntilAccepted",
    "broker_unavailable_errors",
    "enqueue_until_accepted",
]

logger = logging.getLogger(__name__)

FIRST_WAIT_S = 0.5
LONGEST_WAIT_S = 5.0


def broker_unavailable_errors() -> tuple[type[BaseException], ...]:
    """What a broker's enqueue raises while the broker cannot be reached.

    RabbitmqBroker and this project's SQS broker wrap their network failures in dramatiq's
    BrokerConnectionError; RedisBroker lets redis-py's own errors through (BusyLoadingError, while
    Redis reloads its append-only file after a restart, is a ConnectionError).
    """
    errors: list[type[BaseException]] = [BrokerConnectionError]
    try:
        import redis.exceptions
    except ImportError:  # pragma: no cover - redis is installed with dramatiq[redis]
        pass
    else:
        errors += [redis.exceptions.ConnectionError, redis.exceptions.TimeoutError]
    return tuple(errors)


def enqueue_until_accepted(
    enqueue: Callable[..., dramatiq.Message[Any]], message: dramatiq.Message[Any], *, delay: int | None,
    sleep: Callable[[float], None] = time.sleep,
) -> dramatiq.Message[Any]:
    """`enqueue(message, delay=delay)`, tried again while the broker cannot be reached."""
    unavailable = broker_unavailable_errors()
    wait = FIRST_WAIT_S
    attempts = 0
    while True:
        try:
            enqueued = enqueue(message, delay=delay)
        except unavailable as exc:
            attempts += 1
            # The actor and message id only: the message's kwargs hold mailboxes and attendees.
            logger.warning("The broker did not take %s[%s] (%s, attempt %d); trying again in %.1f s.",
                           message.actor_name, message.message_id, type(exc).__name__, attempts, wait)
            sleep(wait)
            wait = min(wait * 2, LONGEST_WAIT_S)
            continue
        if attempts:
            logger.warning("The broker took %s[%s] after %d failed attempt(s).",
                           message.actor_name, message.message_id, attempts)
        return enqueued


class EnqueueUntilAccepted:
    """A broker whose `enqueue` waits out an outage of the real one; everything else passes through."""

    def __init__(self, broker: dramatiq.Broker, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self._broker = broker
        self._sleep = sleep

    def __getattr__(self, name: str) -> Any:
        return getattr(self._broker, name)

    def enqueue(self, message: dramatiq.Message[Any], *, delay: int | None = None) -> dramatiq.Message[Any]:
        return enqueue_until_accepted(self._broker.enqueue, message, delay=delay, sleep=self._sleep)


def _fail_on_refusal(message: Any, what: str, exc: Exception) -> None:
    """A broker that refuses a message outright will refuse it again: dead-letter the original."""
    logger.error("The broker refused the %s of %s[%s] (%s); the message is rejected into the "
                 "dead-letter queue.", what, message.actor_name, message.message_id, type(exc).__name__)
    message.fail()


class DurableRetries(Retries):
    """dramatiq's Retries, whose delayed copy is on the queue before the original is acknowledged."""

    def __init__(self, *, sleep: Callable[[float], None] = time.sleep, **retries_options: Any) -> None:
        super().__init__(**retries_options)
        self.sleep = sleep

    def after_process_message(self, broker: dramatiq.Broker, message: Any, *, result: Any | None = None,
                              exception: BaseException | None = None) -> None:
        try:
            super().after_process_message(EnqueueUntilAccepted(broker, sleep=self.sleep), message,
                                          result=result, exception=exception)
        except Exception as exc:
            _fail_on_refusal(message, "retry", exc)


class DurablePipelines(Pipelines):
    """dramatiq's Pipelines, whose next step is on the queue before the current one is acknowledged."""

    def __init__(self, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.sleep = sleep

    def after_process_message(self, broker: dramatiq.Broker, message: Any, *, result: Any | None = None,
                              exception: BaseException | None = None) -> None:
        try:
            super().after_process_message(EnqueueUntilAccepted(broker, sleep=self.sleep), message,
                                          result=result, exception=exception)
        except Exception as exc:
            _fail_on_refusal(message, "next step", exc)
