"""Enqueue: how the callback and renewal functions hand work to the job queue.

They never run jobs themselves; they put dramatiq messages on the jobs queue, exactly as an
upstream app would. Tests inject a list-backed callable instead of a broker.
"""

from __future__ import annotations

from typing import Any, Protocol

import dramatiq

from pipeline.contract.message import JOBS_QUEUE

__all__ = ["Enqueue", "broker_enqueue"]


class Enqueue(Protocol):
    """Put one job on the queue; returns its message id.

    A stable `message_id` makes a repeat harmless: SQS FIFO drops it within its de-duplication
    window, and the results table runs a message id at most once.
    """

    def __call__(self, actor_name: str, kwargs: dict[str, Any], *, message_id: str | None = None) -> str: ...


def broker_enqueue(broker: dramatiq.Broker, queue_name: str = JOBS_QUEUE) -> Enqueue:
    """An Enqueue that sends dramatiq messages through `broker` (no actors need declaring)."""
    broker.declare_queue(queue_name)

    def enqueue(actor_name: str, kwargs: dict[str, Any], *, message_id: str | None = None) -> str:
        message: dramatiq.Message[Any] = dramatiq.Message(
            queue_name=queue_name, actor_name=actor_name, args=(), kwargs=kwargs, options={}
        )
        if message_id:
            message = message.copy(message_id=message_id)
        return str(broker.enqueue(message).message_id)

    return enqueue
