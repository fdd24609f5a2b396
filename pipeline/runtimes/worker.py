"""`ews-pipeline worker`: dramatiq workers for the broker in PIPELINE_BROKER.

SIGTERM or SIGINT stops the worker gracefully: jobs in progress run to completion (up to the
job time limit) and prefetched messages are handed back to the broker, so none is lost. A worker
killed outright loses nothing either: unacknowledged messages are redelivered by the broker, and
the results table plus the booking stamp keep their effects exactly-once.

With an events sink that publishes (PIPELINE_EVENTS_SINK eventbridge:// or dramatiq://), a
background sweep sends every PIPELINE_EVENTS_SWEEP_INTERVAL seconds the events whose inline
publish failed; it stops with the worker.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from types import FrameType

import dramatiq

from pipeline.config import PipelineConfig
from pipeline.events.publisher import EventPublisher
from pipeline.events.sweeper import EventSweeper
from pipeline.observability import configure_logging
from pipeline.runtimes.actors import JOBS_QUEUE, declare_actors
from pipeline.runtimes.broker import build_broker
from pipeline.runtimes.broker_check import check_broker
from pipeline.runtimes.runtime import Runtime

log = logging.getLogger(__name__)

__all__ = ["EXIT_BROKER_CONNECTION_LOST", "WorkerProcess", "run_worker", "wait_until_stopped"]

DRAMATIQ_WORKER_TIMEOUT_MS = 1000  # dramatiq.Worker's default


class WorkerProcess:
    """One process's broker, actors and dramatiq Worker, configured from a PipelineConfig.

    `queue_name` is the dramatiq queue the actors read (tests on a shared broker use their own).
    `worker_timeout_ms` is dramatiq's: how long an idle consumer waits between polls of the broker
    at most, and so how long a stop waits for each of its threads to notice; tests in one process
    shorten it.
    """

    def __init__(self, config: PipelineConfig, *, threads: int | None = None,
                 runtime: Runtime | None = None, queue_name: str = JOBS_QUEUE,
                 worker_timeout_ms: int = DRAMATIQ_WORKER_TIMEOUT_MS) -> None:
        self.config = config
        # The time limit is the job timeout that sizes the table's lease: a job past it is cut
        # short and retried, never still running when a redelivery takes it over.
        self.time_limit_ms = config.job_timeout_seconds * 1000
        self.broker = build_broker(config.broker_url, time_limit_ms=self.time_limit_ms, for_worker=True)
        self._runtime = runtime
        self.actors = declare_actors(self.broker, self.runtime, queue_name)
        # Only the jobs queue (and its delay queue): the broker also declares the events queue when
        # the events sink is on it, and that queue is the app's to consume, not this worker's.
        self.worker = dramatiq.Worker(
            self.broker, queues={queue_name}, worker_threads=threads or config.worker_concurrency,
            worker_timeout=worker_timeout_ms,
        )
        publishes = config.events_bus_name is not None or config.events_queue_name is not None
        self.sweeper = EventSweeper(
            self._events, interval_seconds=config.events_sweep_interval_seconds,
            age_seconds=config.events_sweep_age_seconds,
        ) if publishes else None

    def runtime(self) -> Runtime:
        # Built on first job, not at start: a worker that only drains a broken message should not
        # need AWS to be reachable first.
        if self._runtime is None:
            # Events for a dramatiq queue go through this worker's own broker: with stub:// a
            # broker of the sink's own would be one nothing can consume.
            self._runtime = Runtime.from_config(self.config, events_broker=self.broker)
        return self._runtime

    def _events(self) -> EventPublisher | None:
        return self.runtime().events

    def start(self) -> None:
        self.worker.start()
        if self.sweeper is not None:
            self.sweeper.start()

    def stop(self, timeout_ms: int | None = None) -> None:
        """Stop the event sweep, finish in-flight jobs (by default waiting up to the job time
        limit) and return prefetched messages to the broker."""
        if self.sweeper is not None:
            self.sweeper.stop()
        self.worker.stop(timeout=self.time_limit_ms if timeout_ms is None else timeout_ms)
        self.broker.close()


def run_worker(processes: int = 1, threads: int | None = None,
               config: PipelineConfig | None = None) -> int:
    """Run workers until SIGTERM/SIGINT; more than one process runs as child processes.

    `threads` defaults to PIPELINE_CONCURRENCY (worker_concurrency). Raises ValueError for a bad
    configuration and BrokerUnavailable when the broker cannot be reached (an SQS queue that does
    not exist, say) before anything starts.
    """
    config = config or PipelineConfig.from_env()
    threads = threads or config.worker_concurrency
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # The pipeline's own lines as structured JSON with the job's correlation id, as in Lambda.
    configure_logging()
    if processes > 1:
        return _run_children(processes, threads)
    process = WorkerProcess(config, threads=threads)
    check_broker(process.broker)
    stopping = threading.Event()
    _on_signals(lambda: stopping.set())
    process.start()
    log.info("worker started: %d threads on %s", threads, process.config.broker_url.split("://")[0])
    exit_code = wait_until_stopped(stopping, getattr(process.broker, "connection_lost", None))
    log.info("stopping: finishing in-flight jobs")
    process.stop()
    return exit_code


# sysexits' EX_TEMPFAIL: a supervisor (systemd Restart=on-failure, Kubernetes) starts a new worker.
EXIT_BROKER_CONNECTION_LOST = 75


def wait_until_stopped(stopping: threading.Event, connection_lost: threading.Event | None, *,
                       poll_seconds: float = 0.5) -> int:
    """Wait for SIGTERM/SIGINT (exit 0) or for a lost Redis connection (exit 75, see
    pipeline.runtimes.broker: the worker's held messages return only once it is gone)."""
    while not stopping.wait(poll_seconds):
        if connection_lost is not None and connection_lost.is_set():
            log.warning("lost the connection to Redis: exiting with %d for the supervisor to start a "
                        "fresh worker; the messages this one held return to the queue once its "
                        "heartbeat is older than heartbeat_timeout", EXIT_BROKER_CONNECTION_LOST)
            return EXIT_BROKER_CONNECTION_LOST
    return 0


def _run_children(processes: int, threads: int) -> int:
    command = [sys.executable, "-m", "pipeline.cli", "worker", "--processes", "1", "--threads", str(threads)]
    children = [subprocess.Popen(command) for _ in range(processes)]

    def stop_children() -> None:
        for child in children:
            child.send_signal(signal.SIGTERM)

    _on_signals(stop_children)
    return max(child.wait() for child in children)


def _on_signals(handler: Callable[[], object]) -> None:
    def handle(signum: int, frame: FrameType | None) -> None:
        handler()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
