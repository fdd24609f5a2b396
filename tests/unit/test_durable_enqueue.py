"""Retries and pipeline steps wait out an unreachable broker, and dead-letter what it refuses.

The brokers here are dramatiq's StubBroker with its enqueue made to fail as a real broker's does
(ConnectionClosed while unreachable, ValueError for a message it will never take); the outage
itself, on real Redis, RabbitMQ and SQS, is tests/integration/test_broker_outage.py.
"""

from __future__ import annotations

from typing import Any

import dramatiq
import pytest
from dramatiq.broker import MessageProxy
from dramatiq.brokers.stub import StubBroker
from dramatiq.errors import ConnectionClosed

from pipeline.runtimes.durable_enqueue import DurablePipelines, DurableRetries, EnqueueUntilAccepted


class FlakyBroker(StubBroker):
    """Unreachable for its first `outage` enqueues; then refuses with `refusal`, if given."""

    def __init__(self, outage: int = 0, refusal: Exception | None = None) -> None:
        super().__init__(middleware=[])
        self.outage = outage
        self.refusal = refusal
        self.enqueued: list[tuple[str, int | None]] = []

    def enqueue(self, message: dramatiq.Message[Any], *, delay: int | None = None) -> dramatiq.Message[Any]:
        if self.outage:
            self.outage -= 1
            raise ConnectionClosed(OSError("connection refused"))
        if self.refusal is not None:
            raise self.refusal
        self.enqueued.append((message.actor_name, delay))
        return message


def _declare(broker: StubBroker) -> tuple[dramatiq.Actor[Any, Any], dramatiq.Actor[Any, Any]]:
    first = dramatiq.Actor(lambda: None, actor_name="create_event", queue_name="default", priority=0,
                           broker=broker, options={})
    second = dramatiq.Actor(lambda: None, actor_name="send_invite", queue_name="default", priority=0,
                            broker=broker, options={})
    return first, second


def test_an_enqueue_is_tried_again_until_the_broker_takes_it() -> None:
    broker = FlakyBroker(outage=4)
    waits: list[float] = []
    first, _ = _declare(broker)
    EnqueueUntilAccepted(broker, sleep=waits.append).enqueue(first.message(), delay=250)
    assert broker.enqueued == [("create_event", 250)]
    assert waits == [0.5, 1.0, 2.0, 4.0]


def test_the_wait_between_attempts_stops_growing_at_five_seconds() -> None:
    broker = FlakyBroker(outage=7)
    waits: list[float] = []
    first, _ = _declare(broker)
    EnqueueUntilAccepted(broker, sleep=waits.append).enqueue(first.message())
    assert waits[-3:] == [5.0, 5.0, 5.0]


def test_a_retry_waits_out_an_outage() -> None:
    broker = FlakyBroker(outage=2)
    first, _ = _declare(broker)
    message = MessageProxy(first.message())
    waits: list[float] = []
    DurableRetries(max_retries=3, sleep=waits.append).after_process_message(
        broker, message, exception=dramatiq.Retry(delay=10))
    assert not message.failed
    assert broker.enqueued == [("create_event", 10)]
    assert waits == [0.5, 1.0]


def test_a_retry_the_broker_refuses_fails_the_message_into_the_dead_letter_queue() -> None:
    broker = FlakyBroker(refusal=ValueError("delay too long"))
    first, _ = _declare(broker)
    message = MessageProxy(first.message())
    DurableRetries(max_retries=3).after_process_message(broker, message, exception=dramatiq.Retry(delay=10))
    assert message.failed
    assert broker.enqueued == []


def test_a_next_step_the_broker_refuses_fails_the_step_before_into_the_dead_letter_queue() -> None:
    broker = FlakyBroker(refusal=ValueError("message too large"))
    first, second = _declare(broker)
    piped = first.message_with_options(pipe_target=second.message_with_options(pipe_ignore=True).asdict())
    message = MessageProxy(piped)
    DurablePipelines().after_process_message(broker, message, result=None)
    assert message.failed


@pytest.mark.parametrize("outage", [0, 3])
def test_the_next_step_is_enqueued_once_whatever_the_outage(outage: int) -> None:
    broker = FlakyBroker(outage=outage)
    first, second = _declare(broker)
    piped = first.message_with_options(pipe_target=second.message_with_options(pipe_ignore=True).asdict())
    message = MessageProxy(piped)
    DurablePipelines(sleep=lambda _seconds: None).after_process_message(broker, message, result=None)
    assert not message.failed
    assert broker.enqueued == [("send_invite", None)]


def test_a_worker_stops_with_0_on_a_signal_and_with_75_when_it_lost_its_broker() -> None:
    from threading import Event

    from pipeline.runtimes.worker import EXIT_BROKER_CONNECTION_LOST, wait_until_stopped

    signalled, lost = Event(), Event()
    signalled.set()
    assert wait_until_stopped(signalled, lost, poll_seconds=0.01) == 0
    lost.set()
    assert wait_until_stopped(Event(), lost, poll_seconds=0.01) == EXIT_BROKER_CONNECTION_LOST == 75
