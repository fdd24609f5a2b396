"""Retries on SQS FIFO: the failed message stays on the queue and comes back after its back-off.

dramatiq's Retries middleware retries by enqueueing a delayed copy of the message. A FIFO queue
cannot do that: it has no per-message DelaySeconds, and a copy would go to the back of its
message group, so a mailbox's later jobs would overtake the retried one. On this broker a retry is
SQS redelivery instead: the consumer leaves the message on the queue with its visibility timeout
set to the back-off, and the queue's RedrivePolicy (maxReceiveCount) moves it to the dead-letter
queue once it has been received too often. The Lambda path retries in exactly the same way.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from dramatiq import Retry
from dramatiq.common import compute_backoff
from dramatiq.middleware import Interrupt, Middleware, Retries, default_middleware

if TYPE_CHECKING:
    from dramatiq import Broker
    from dramatiq.broker import MessageProxy

__all__ = [
    "MAX_VISIBILITY_TIMEOUT_S",
    "SqsRedelivery",
    "fifo_middleware",
    "visibility_timeout_for",
]

# SQS refuses a visibility timeout above 12 hours, counted from when the message was received.
MAX_VISIBILITY_TIMEOUT_S = 43_200
DEFAULT_MIN_BACKOFF_MS = 15_000
DEFAULT_MAX_BACKOFF_MS = MAX_VISIBILITY_TIMEOUT_S * 1000


def visibility_timeout_for(delay_ms: int, *, received_seconds_ago: float = 0.0) -> int:
    """Whole seconds of visibility timeout for a back-off, within what SQS accepts right now."""
    ceiling = max(0, MAX_VISIBILITY_TIMEOUT_S - math.ceil(received_seconds_ago))
    return max(0, min(math.ceil(max(delay_ms, 0) / 1000), ceiling))


class SqsRedelivery(Middleware):
    """Marks a retryable failure for SQS redelivery after a back-off, instead of re-enqueueing it.

    Retryable means the actor raised ``dramatiq.Retry`` (the runner's transient errors; its
    ``delay`` carries the server's BackOffMilliseconds) or was interrupted (time limit, shutdown).
    Any other exception is permanent: the message is acknowledged, i.e. deleted, because the runner
    has already recorded the failure in the results table. The number of attempts is capped by the
    queue's maxReceiveCount, not by ``max_retries``: SQS counts receives, and only SQS can move a
    message to the dead-letter queue atomically.
    """

    def __init__(self, *, min_backoff: int | None = None, max_backoff: int | None = None) -> None:
        self.min_backoff = min_backoff or DEFAULT_MIN_BACKOFF_MS
        self.max_backoff = min(max_backoff or DEFAULT_MAX_BACKOFF_MS, DEFAULT_MAX_BACKOFF_MS)

    @property
    def actor_options(self) -> set[str]:
        # The same options as Retries, so actors declared for Redis or RabbitMQ also declare here;
        # min_backoff and max_backoff are honoured, the others are capped by maxReceiveCount.
        return {"max_retries", "min_backoff", "max_backoff", "retry_when", "throws", "on_retry_exhausted"}

    def after_process_message(
        self,
        broker: Broker,
        message: MessageProxy,
        *,
        result: Any | None = None,
        exception: BaseException | None = None,
    ) -> None:
        """Record the back-off on an SQS message whose failure is retryable."""
        from pipeline.runtimes.sqs.consumer import SqsMessageProxy  # the consumer imports this module

        if exception is None or not isinstance(message, SqsMessageProxy):
            return
        if getattr(exception, "dead_letter", False):
            # actors.JobFailed for a message whose outcome the table could not hold: failing it
            # makes the consumer nack it into the dead-letter queue instead of deleting it.
            message.fail()
            return
        if isinstance(exception, Retry) and exception.delay is not None:
            delay = int(exception.delay)
        elif isinstance(exception, Retry | Interrupt):
            options = {**broker.get_actor(message.actor_name).options, **message.options}
            min_backoff = options.get("min_backoff", self.min_backoff)
            max_backoff = min(options.get("max_backoff", self.max_backoff), self.max_backoff)
            _, delay = compute_backoff(options.get("retries", 0), factor=min_backoff, max_backoff=max_backoff)
        else:
            return
        message.redeliver_after_ms = delay


def fifo_middleware(middleware: list[Middleware] | None) -> tuple[list[Middleware], Retries | None]:
    """The given middleware (dramatiq's defaults if None) with Retries replaced by SqsRedelivery.

    Everything else (Pipelines, Callbacks, CurrentMessage, TimeLimit, ShutdownNotifications,
    AgeLimit, ...) is kept in its place. The replaced Retries is returned so its back-off bounds
    and max_retries can shape the redelivery and the queue's maxReceiveCount.
    """
    given = [m() for m in default_middleware] if middleware is None else list(middleware)
    retries = next((m for m in given if isinstance(m, Retries)), None)
    redelivery = SqsRedelivery(
        min_backoff=retries.min_backoff if retries else None,
        max_backoff=retries.max_backoff if retries else None,
    )
    result: list[Middleware] = []
    for m in given:
        if isinstance(m, Retries):
            if not any(isinstance(r, SqsRedelivery) for r in result):
                result.append(redelivery)
        else:
            result.append(m)
    if not any(isinstance(m, SqsRedelivery) for m in result):
        result.append(redelivery)
    return result, retries
