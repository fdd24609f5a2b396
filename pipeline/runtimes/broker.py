"""Pick and configure the dramatiq broker from PIPELINE_BROKER, before any actor is declared."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlparse

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    CurrentMessage,
    Interrupt,
    Middleware,
    ShutdownNotifications,
    TimeLimit,
)

from pipeline.runtimes.durable_enqueue import DurablePipelines, DurableRetries, enqueue_until_accepted

if TYPE_CHECKING:
    from dramatiq.brokers.redis import RedisBroker

# A safety net only: the retry policy (pipeline.runtimes.retry_policy) fails a job for good once
# its retry window has passed, long before this many retries (at least 2.5 s each... 5 min).
MAX_RETRIES = 99
MIN_BACKOFF_MS = 1_000
MAX_BACKOFF_MS = 5 * 60_000
# An EWS job that takes longer than this is stuck: TimeLimit interrupts it and it is retried.
JOB_TIME_LIMIT_MS = 5 * 60_000


# RedisBroker options an operator may set in the redis:// URL's query (redis-py would reject them):
# a namespace keeps deployments apart on one server; a dead worker's unacknowledged messages are
# requeued once its heartbeat is `heartbeat_timeout` ms old, checked on `maintenance_chance` of
# every million broker commands.
_REDIS_BROKER_OPTIONS = {"namespace": str, "heartbeat_timeout": int, "maintenance_chance": int}


def _only_requested_retries(retries: int, exception: BaseException) -> bool:
    """Retry what the runner marked retryable (dramatiq.Retry) and jobs cut short by the time limit
    or a shutdown (their record is left running, so the retry resumes it once its lease lapses);
    permanent failures never."""
    return isinstance(exception, dramatiq.Retry | Interrupt) and retries < MAX_RETRIES


def worker_middleware(time_limit_ms: int = JOB_TIME_LIMIT_MS) -> list[Middleware]:
    """dramatiq's defaults, with retries limited to the failures the runner marks as transient, and
    retries and pipeline steps that wait out a broker outage (pipeline.runtimes.durable_enqueue).

    `time_limit_ms` must not exceed the job timeout that sizes the results table's lease, or a job
    could still run when a redelivery takes it over.
    """
    return [
        AgeLimit(),
        TimeLimit(time_limit=time_limit_ms),
        ShutdownNotifications(),
        Callbacks(),
        DurablePipelines(),
        DurableRetries(
            max_retries=MAX_RETRIES,
            min_backoff=MIN_BACKOFF_MS,
            max_backoff=MAX_BACKOFF_MS,
            retry_when=_only_requested_retries,
        ),
        CurrentMessage(),
    ]


def build_broker(url: str, *, time_limit_ms: int = JOB_TIME_LIMIT_MS,
                 make_global: bool = True, for_worker: bool = False) -> dramatiq.Broker:
    """A broker for `stub://`, `redis://…`, `amqp://…` or `sqs://QUEUE`, made the global broker
    unless `make_global` is False (a second broker of a process, e.g. the events sink's).

    `for_worker`: the broker a worker consumes from. On Redis its enqueue waits out an outage
    (pipeline.runtimes.durable_enqueue), since the consumer itself enqueues due delayed messages;
    an upstream app's broker keeps failing fast, so the app learns its send did not happen.

    A redis:// URL may carry `namespace`, `heartbeat_timeout` (ms) and `maintenance_chance` in its
    query, for dramatiq's RedisBroker.
    """
    scheme = urlparse(url).scheme
    middleware = worker_middleware(time_limit_ms)
    broker: dramatiq.Broker
    if scheme == "stub":
        broker = StubBroker(middleware=middleware)
    elif scheme in ("redis", "rediss"):
        from dramatiq.brokers.redis import RedisBroker  # redis-py only where Redis is used

        connection_url, options = _redis_broker_options(url)
        redis_broker = _worker_redis_broker() if for_worker else RedisBroker
        broker = redis_broker(url=connection_url, middleware=middleware, **options)
    elif scheme in ("amqp", "amqps"):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        broker = RabbitmqBroker(url=url, middleware=middleware)
    elif scheme == "sqs":
        from pipeline.runtimes.sqs import SqsFifoBroker

        broker = SqsFifoBroker.from_url(url, middleware=middleware)
    else:
        raise ValueError(
            f"PIPELINE_BROKER has an unsupported scheme {scheme!r}; use stub://, redis://, amqp:// or sqs://"
        )
    # dramatiq's actor decorator and Worker look the broker up globally; set it explicitly here
    # rather than letting an import pick a default.
    if make_global:
        dramatiq.set_broker(broker)
    return broker


def _redis_broker_options(url: str) -> tuple[str, dict[str, Any]]:
    """Split RedisBroker's own options off a redis:// URL's query; the rest is redis-py's."""
    parsed = urlparse(url)
    options: dict[str, Any] = {}
    connection_query: list[tuple[str, str]] = []
    for key, value in parse_qsl(parsed.query, keep_blank_values=True):
        if key in _REDIS_BROKER_OPTIONS:
            options[key] = _REDIS_BROKER_OPTIONS[key](value)
        else:
            connection_query.append((key, value))
    return parsed._replace(query=urlencode(connection_query)).geturl(), options



def _worker_redis_broker() -> type[RedisBroker]:
    """RedisBroker for a worker, closing two gaps dramatiq's consumer has under a Redis outage.

    - Its enqueue waits out an outage: the consumer moves due delayed messages (retries whose
      back-off is over) with `broker.enqueue`, and one that failed was left behind.
    - It reports a lost connection in `connection_lost`. dramatiq's ConsumerThread then drops
      the delayed and prefetched messages it holds in memory, though Redis still counts them as
      this worker's (its acknowledgement sets) and hands them back only once the worker's
      heartbeat is `heartbeat_timeout` old. So the worker exits for its supervisor to start a
      fresh one (run_worker), and the messages come back instead of waiting for the next deploy.
    """
    import threading

    from dramatiq.brokers.redis import RedisBroker

    class WorkerRedisBroker(RedisBroker):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.connection_lost = threading.Event()

        def enqueue(self, message: dramatiq.Message[Any], *,
                    delay: int | None = None) -> dramatiq.Message[Any]:
            return enqueue_until_accepted(super().enqueue, message, delay=delay)

        @property
        def consumer_class(self) -> type[Any]:
            lost = self.connection_lost
            base: type[Any] = super().consumer_class

            class ReportingConsumer(base):
                def __next__(self) -> Any:
                    try:
                        return super().__next__()
                    except Exception:
                        # Any failure here makes the ConsumerThread drop this consumer and the
                        # messages it prefetched (ConnectionClosed, or BusyLoadingError while
                        # Redis reloads its append-only file).
                        lost.set()
                        raise

            return ReportingConsumer

    return WorkerRedisBroker
