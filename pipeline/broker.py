"""Pick and configure the dramatiq broker from PIPELINE_BROKER, before any actor is declared."""

from __future__ import annotations

from urllib.parse import urlparse

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    CurrentMessage,
    Middleware,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

# Retryable failures are retried this many times before the job is recorded as failed for good.
MAX_RETRIES = 8
MIN_BACKOFF_MS = 1_000
MAX_BACKOFF_MS = 5 * 60_000
# An EWS job that takes longer than this is stuck: TimeLimit interrupts it and it is retried.
JOB_TIME_LIMIT_MS = 5 * 60_000


def _only_requested_retries(retries: int, exception: BaseException) -> bool:
    """Retry only what the runner marked retryable (dramatiq.Retry); permanent failures never."""
    return isinstance(exception, dramatiq.Retry) and retries < MAX_RETRIES


def worker_middleware() -> list[Middleware]:
    """dramatiq's defaults, with retries limited to the failures the runner marks as transient."""
    return [
        AgeLimit(),
        TimeLimit(time_limit=JOB_TIME_LIMIT_MS),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        Retries(
            max_retries=MAX_RETRIES,
            min_backoff=MIN_BACKOFF_MS,
            max_backoff=MAX_BACKOFF_MS,
            retry_when=_only_requested_retries,
        ),
        CurrentMessage(),
    ]


def build_broker(url: str) -> dramatiq.Broker:
    """A broker for `stub://`, `redis://…`, `amqp://…` or `sqs://QUEUE`, made the global broker."""
    scheme = urlparse(url).scheme
    broker: dramatiq.Broker
    if scheme == "stub":
        broker = StubBroker(middleware=worker_middleware())
    elif scheme in ("redis", "rediss"):
        from dramatiq.brokers.redis import RedisBroker

        broker = RedisBroker(url=url, middleware=worker_middleware())
    elif scheme in ("amqp", "amqps"):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        broker = RabbitmqBroker(url=url, middleware=worker_middleware())
    elif scheme == "sqs":
        from pipeline.sqs_broker import SqsFifoBroker

        broker = SqsFifoBroker.from_url(url, middleware=worker_middleware())
    else:
        raise ValueError(
            f"PIPELINE_BROKER has an unsupported scheme {scheme!r}; use stub://, redis://, amqp:// or sqs://"
        )
    # dramatiq's actor decorator and Worker look the broker up globally; set it explicitly here
    # rather than letting an import pick a default.
    dramatiq.set_broker(broker)
    return broker
