"""Enqueue: how the callback and renewal functions hand work to the job queue.

They never run jobs themselves; they put dramatiq messages on the jobs queue, exactly as an
upstream app would. Tests inject a list-backed callable instead of a broker. dramatiq, the broker
and the store load when the dependencies are built (a handler's first invocation), not with
this module, which the handlers import at start.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import dramatiq

    from pipeline.store.base import ResultsStore

__all__ = [
    "DependencySlot",
    "Enqueue",
    "QueueingDependencies",
    "broker_enqueue",
    "queueing_dependencies_from_env",
]


class Enqueue(Protocol):
    """Put one job on the queue; returns its message id.

    A stable `message_id` makes a repeat harmless: SQS FIFO drops it within its de-duplication
    window, and the results table runs a message id at most once.
    """

    def __call__(self, actor_name: str, kwargs: dict[str, Any], *, message_id: str | None = None) -> str: ...


def broker_enqueue(broker: dramatiq.Broker, queue_name: str | None = None) -> Enqueue:
    """An Enqueue that sends dramatiq messages through `broker` (no actors need declaring), on
    `queue_name` (default: the jobs queue, pipeline.contract.message.JOBS_QUEUE)."""
    import dramatiq

    if queue_name is None:
        from pipeline.contract.message import JOBS_QUEUE

        queue_name = JOBS_QUEUE
    broker.declare_queue(queue_name)

    def enqueue(actor_name: str, kwargs: dict[str, Any], *, message_id: str | None = None) -> str:
        message: dramatiq.Message[Any] = dramatiq.Message(
            queue_name=queue_name, actor_name=actor_name, args=(), kwargs=kwargs, options={}
        )
        if message_id:
            message = message.copy(message_id=message_id)
        return str(broker.enqueue(message).message_id)

    return enqueue


@dataclass(frozen=True)
class QueueingDependencies:
    """What the callback and renewal functions work with: the table, the queue, the clock."""

    store: ResultsStore
    enqueue: Enqueue
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)


@cache
def queueing_dependencies_from_env() -> QueueingDependencies:
    """Built once per warm container from PIPELINE_* variables."""
    from pipeline.config import PipelineConfig
    from pipeline.runtimes.broker import build_broker
    from pipeline.store.factory import get_store

    config = PipelineConfig.from_env(os.environ)
    enqueue = broker_enqueue(build_broker(config.broker_url))
    return QueueingDependencies(store=get_store(config), enqueue=enqueue)


class DependencySlot:
    """A handler's dependencies: injected for local runs and tests, else from the environment."""

    def __init__(self) -> None:
        self._injected: QueueingDependencies | None = None

    def use(self, dependencies: QueueingDependencies | None) -> None:
        """Run the handler on these; None goes back to the environment's."""
        self._injected = dependencies

    def get(self) -> QueueingDependencies:
        return self._injected or queueing_dependencies_from_env()
