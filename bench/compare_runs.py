"""One timed run of bench/compare.py, in a fresh child process: the baseline or the pipeline.

Each run warms up first (as many bookings as threads: connections, the exchangelib protocol and
version, the secret and the integration settings are then cached), clears the simulator's
request counts, and times the rest:

- baseline: bench/baseline.py's bookings on `threads` threads, an Account per booking;
- pipeline: the pipeline's real runtime in this one process, as bench/bookings_throughput.py
  runs it: a dramatiq StubBroker and Worker with `threads` threads, Runtime.from_config and the
  declared actors, bookings enqueued first with PipelineClient.book (whatever it sends today:
  create_event | send_invite, or one job), then timed from the worker's start to the last job.

Counted over the timed part only: the simulator's EWS requests (its control API), this process's
boto3 calls by operation and the wall time spent inside DynamoDB calls (summed over threads), and
this process's CPU time.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

__all__ = ["BENCH_QUEUE", "CPU_COLUMNS", "RunResult", "RunSpec", "TimedAwsCalls", "run_in_child"]

BENCH_QUEUE = "ews-compare-jobs"
CPU_COLUMNS = ("booking", "store", "simulator")  # this process, the table's, the simulator's


@dataclass(frozen=True)
class RunSpec:
    side: str  # "baseline" or "pipeline"
    store: str  # the pipeline's table: "moto" or "dynalite" ("" for the baseline)
    latency_ms: float
    warmup: tuple[dict[str, Any], ...]
    bookings: tuple[dict[str, Any], ...]
    threads: int
    ews_url: str
    sim_control_url: str
    aws_endpoint: str  # moto: Secrets Manager, and the table when store is "moto"
    table_endpoint: str
    table: str
    login: tuple[str, str]  # the baseline's service account (the pipeline reads its secret)
    simulator_pid: int
    store_pid: int  # moto's (the parent process, idle while a child runs) or dynalite's
    stall_seconds: float = 60.0


@dataclass(frozen=True)
class RunResult:
    bookings: int
    jobs: int  # jobs the pipeline ran for the timed bookings (the baseline: one call each)
    seconds: float
    ews_requests: dict[str, int]
    aws_calls: dict[str, int]  # "service:Operation" -> calls
    store_seconds: float  # wall time inside DynamoDB calls, all threads together
    cpu_seconds: dict[str, float]  # CPU_COLUMNS -> CPU seconds over the timed part
    failures: tuple[str, ...] = ()
    path: str = "baseline.book"  # how the bookings were sent (compare_runs.booking_path)
    settings_reads: int = 0  # GetItem of an integration's settings (counted in aws_calls too)


class TimedAwsCalls:
    """Every boto3 call of this process by service and operation, with DynamoDB's wall time."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.settings_reads = 0
        self.store_seconds = 0.0
        self._lock = threading.Lock()

    def install(self) -> None:
        from botocore.client import BaseClient

        original = getattr(BaseClient, "_make_api_call")  # noqa: B009 - private, untyped in stubs
        calls = self

        def timed(client: Any, operation_name: str, api_params: Any) -> Any:
            service = client.meta.service_model.service_name
            started = time.perf_counter()
            try:
                return original(client, operation_name, api_params)
            finally:
                spent = time.perf_counter() - started
                with calls._lock:
                    calls.counts[f"{service}:{operation_name}"] += 1
                    if service == "dynamodb":
                        calls.store_seconds += spent
                        if operation_name == "GetItem" and _is_settings(api_params):
                            calls.settings_reads += 1

        setattr(BaseClient, "_make_api_call", timed)  # noqa: B010

    def snapshot(self) -> tuple[Counter[str], float, int]:
        with self._lock:
            return self.counts.copy(), self.store_seconds, self.settings_reads


def _is_settings(api_params: Any) -> bool:
    from pipeline.store.dynamodb.keys import INTEGRATION_PREFIX

    key = api_params.get("Key", {}) if isinstance(api_params, dict) else {}
    return str(key.get("pk", {}).get("S", "")).startswith(INTEGRATION_PREFIX)


def _sim(spec: RunSpec, method: str, path: str) -> Any:
    request = urllib.request.Request(f"{spec.sim_control_url}/{path}", method=method)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


class CpuWindow:
    """CPU seconds of this process, the store's and the simulator's, from open to close()."""

    def __init__(self, spec: RunSpec) -> None:
        self._pids = {"booking": os.getpid(), "store": spec.store_pid, "simulator": spec.simulator_pid}
        self._start = self._sample()

    def _sample(self) -> dict[str, float]:
        from bench_support import process_cpu_seconds

        return {name: process_cpu_seconds(pid) for name, pid in self._pids.items()}

    def close(self) -> dict[str, float]:
        return {name: seconds - self._start[name] for name, seconds in self._sample().items()}


# -- the baseline ---------------------------------------------------------------------------------


def run_baseline(spec: RunSpec) -> RunResult:
    import baseline

    config = baseline.configuration(spec.ews_url, *spec.login, max_connections=spec.threads)
    warm = baseline.run_bookings(config, spec.warmup, threads=spec.threads)
    _sim(spec, "DELETE", "requests")
    window = CpuWindow(spec)
    run = baseline.run_bookings(config, spec.bookings, threads=spec.threads)
    cpu = window.close()
    requests = _sim(spec, "GET", "requests/counts")
    return RunResult(run.bookings, run.bookings, run.seconds, requests, {}, 0.0, cpu,
                     warm.errors + run.errors)


# -- the pipeline ---------------------------------------------------------------------------------


@dataclass
class Finished:
    """Jobs a dramatiq worker finished (succeeded or failed for good), and the failures."""

    changed: threading.Condition = field(default_factory=threading.Condition)
    ids: set[str] = field(default_factory=set)
    failed: list[str] = field(default_factory=list)
    last: float = field(default_factory=time.monotonic)


def _middleware(finished: Finished) -> Any:
    import dramatiq
    from dramatiq.middleware import Middleware

    class Progress(Middleware):
        def after_process_message(self, broker: Any, message: Any, *, result: Any = None,
                                  exception: BaseException | None = None) -> None:
            if isinstance(exception, dramatiq.Retry):  # comes back later
                return
            with finished.changed:
                finished.ids.add(message.message_id)
                if exception is not None:
                    finished.failed.append(f"{message.actor_name} {message.message_id}: {exception!r}"[:300])
                finished.last = time.monotonic()
                finished.changed.notify_all()

        def after_skip_message(self, broker: Any, message: Any) -> None:
            self.after_process_message(broker, message, exception=RuntimeError("skipped"))

    return Progress()


def booking_path(client: Any, sample: dict[str, Any]) -> tuple[str, Any]:
    """How this tree books, as an app would: (a label, a function sending one booking's messages).

    PipelineClient.book as it is when it sends one message; else create_event with
    send_invitations (a booking in one job) when the contract has it; else book()'s
    create_event | send_invite pipeline.
    """
    import dramatiq

    from pipeline.contract import CreateEventKwargs

    def sent(booked: Any) -> list[Any]:
        if isinstance(booked, dramatiq.pipeline):
            booked.run()
            return list(booked.messages)
        return [client.send(booked)]

    if isinstance(client.book(sample), dramatiq.Message):  # built, not sent
        return "PipelineClient.book: 1 job", lambda kwargs: sent(client.book(kwargs))
    if "send_invitations" in CreateEventKwargs.model_fields:
        return ("create_event with send_invitations: 1 job",
                lambda kwargs: sent(client.message("create_event", {**kwargs, "send_invitations": True})))
    return "PipelineClient.book: create_event | send_invite", lambda kwargs: sent(client.book(kwargs))


def enqueue(send: Any, bookings: tuple[dict[str, Any], ...]) -> list[str]:
    """Send every booking; the message ids of all their jobs."""
    return [message.message_id for kwargs in bookings for message in send(kwargs)]


def _drain(broker: Any, threads: int, finished: Finished, target: int, stall: float) -> None:
    import dramatiq

    worker = dramatiq.Worker(broker, worker_threads=threads)
    worker.start()
    with finished.changed:
        while len(finished.ids) < target and time.monotonic() - finished.last < stall:
            finished.changed.wait(timeout=1.0)
    worker.stop(timeout=30_000)


def run_pipeline(spec: RunSpec, calls: TimedAwsCalls) -> RunResult:
    from pipeline.client import PipelineClient
    from pipeline.config import PipelineConfig
    from pipeline.runtimes.actors import declare_actors
    from pipeline.runtimes.broker import build_broker
    from pipeline.runtimes.runtime import Runtime

    if spec.store == "moto":
        endpoint: str | None = spec.aws_endpoint
    else:  # the table on dynalite, the secret on moto: botocore's per-service endpoint variables
        endpoint = None
        os.environ.pop("AWS_ENDPOINT_URL", None)
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = spec.table_endpoint
        os.environ["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = spec.aws_endpoint
    config = PipelineConfig(table_name=spec.table, aws_endpoint_url=endpoint, broker_url="stub://",
                            worker_concurrency=spec.threads)
    broker = build_broker("stub://")
    runtime = Runtime.from_config(config)
    declare_actors(broker, lambda: runtime, queue_name=BENCH_QUEUE)
    finished = Finished()
    broker.add_middleware(_middleware(finished))
    client = PipelineClient(broker, queue_name=BENCH_QUEUE)

    path, send = booking_path(client, spec.bookings[0])
    warm_ids = enqueue(send, spec.warmup)
    _drain(broker, spec.threads, finished, len(warm_ids), spec.stall_seconds)
    warm_failures = list(finished.failed)
    _sim(spec, "DELETE", "requests")
    ids = enqueue(send, spec.bookings)
    with finished.changed:
        finished.ids.clear()
        finished.failed.clear()
    aws_before, store_before, settings_before = calls.snapshot()
    window = CpuWindow(spec)
    started = time.monotonic()
    _drain(broker, spec.threads, finished, len(ids), spec.stall_seconds)
    seconds = finished.last - started
    cpu = window.close()
    aws_after, store_after, settings_after = calls.snapshot()
    requests = _sim(spec, "GET", "requests/counts")
    broker.close()
    failures = warm_failures + finished.failed
    if len(finished.ids) < len(ids):
        failures.append(f"only {len(finished.ids)} of {len(ids)} jobs finished "
                        f"(none for {spec.stall_seconds:.0f} s)")
    return RunResult(len(spec.bookings), len(ids), seconds, requests, dict(aws_after - aws_before),
                     store_after - store_before, cpu, tuple(failures), path,
                     settings_after - settings_before)


def run_in_child(spec: RunSpec) -> RunResult:
    """The child process's entry point (spawned, so that nothing of the parent carries over)."""
    import logging

    if spec.side == "pipeline":  # JSON log lines or metrics on stdout would clutter the parent's table
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the child's whole life
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    logging.getLogger("dramatiq").setLevel(logging.ERROR)  # a failure is counted, not logged per job
    if spec.side == "baseline":
        return run_baseline(spec)
    calls = TimedAwsCalls()
    calls.install()  # before any boto3 client exists
    return run_pipeline(spec, calls)
