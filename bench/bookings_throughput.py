"""Bookings through every runtime: jobs/s and EWS requests per job, against the EWS simulator.

A booking is one job, create_event with send_invitations (PipelineClient.book): one CreateItem
that saves the event and sends its invitations. --two-jobs sends create_event | send_invite
instead (PipelineClient.create_then_invite), the path for apps that hold an event before inviting.
Each run enqueues all bookings first, then starts the consumers and times until the last job
has finished; it then checks every job record (succeeded) and every organiser's calendar (each
booking exactly once, invitations sent) through the simulator's control API.

Runtimes (each run in a fresh child process, so that no exchangelib pool, dramatiq global broker
or cached Lambda container carries over):
  stub    dramatiq StubBroker and Worker in one process
  redis   dramatiq RedisBroker (127.0.0.1:6379, db 14) and Worker
  amqp    dramatiq RabbitmqBroker (127.0.0.1:5672) and Worker
  sqs     SqsFifoBroker on a moto FIFO queue (one message group per mailbox) and Worker
  lambda  handlers.jobs.lambda_handler fed by emulated SQS event-source pollers (batches of 10)
          on the same kind of FIFO queue; one warm container shared by the pollers

Set-up: impersonation with Basic auth (the service account scheduler-imp acts as each organiser),
bookings spread over --mailboxes organisers of the demo's company, one required attendee and one
room each. The simulator runs as its own process (python -m infra.ewssim) with its per-request
latency set over /_sim/faults. moto for DynamoDB and Secrets Manager runs in this parent process,
which is idle while a run's child process works; moto for SQS runs as a process of its own (as
in AWS, separate services). So the workers, the simulator and each moto have a GIL of their own.
The table shows, per job, the CPU each of them used while the jobs ran (w/m/q/s: workers, moto,
moto for SQS, simulator), and the boto3 calls the runtime made.

    python bench/bookings_throughput.py [--bookings 500] [--latency-ms 0,50]
        [--runtimes stub,redis,amqp,sqs,lambda] [--threads 16] [--mailboxes 50] [--two-jobs]
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dramatiq
from bench_support import (
    AwsCallCounter,
    MotoServerProcess,
    SimulatorProcess,
    SqsEventSourcePoller,
    listening,
    process_cpu_seconds,
)
from dramatiq.broker import MessageProxy
from dramatiq.middleware import Middleware

from infra.demo import organisation as org
from infra.demo.local_stack import REGION, create_results_table, local_aws, put_secret
from pipeline.client import PipelineClient
from pipeline.config import PipelineConfig
from pipeline.contract import JobStatus
from pipeline.store.factory import get_store

RUNTIMES = ("stub", "redis", "amqp", "sqs", "lambda")
CPU_COLUMNS = ("workers", "moto", "moto-sqs", "simulator")
# Not the workers' "ews-jobs": tests on this machine's Redis and RabbitMQ flush that queue, and a
# benchmark must neither eat their messages nor lose its own to them.
BENCH_QUEUE = "ews-bench-jobs"
REDIS_URL = "redis://127.0.0.1:6379/14"
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
TABLE = "ews-pipeline-bench"
INTEGRATION_ID = "bench-impersonation"
SECRET_NAME = "bench/impersonation/service"


@dataclass(frozen=True)
class RunSpec:
    runtime: str
    latency_ms: float
    broker_url: str
    bookings: tuple[dict[str, Any], ...]
    threads: int
    aws_endpoint: str
    stall_seconds: float
    simulator_pid: int
    sqs_moto_pid: int
    two_jobs: bool = False  # create_event | send_invite instead of one create_event that invites


@dataclass(frozen=True)
class RunResult:
    seconds: float
    enqueue_seconds: float
    message_ids: tuple[str, ...]
    finished: int  # distinct jobs that finished (succeeded, or failed for good)
    deliveries: int  # times a job was handed to an actor or the handler, repeats included
    # CPU seconds spent while the jobs ran, by process (CPU_COLUMNS).
    cpu_seconds: dict[str, float]
    # boto3 calls ("service:Operation") made by this process while the jobs ran.
    aws_calls: dict[str, int]
    errors: tuple[str, ...] = ()


@dataclass
class Row:
    runtime: str
    latency_ms: float
    jobs: int
    seconds: float
    requests: dict[str, int]
    cpu_seconds: dict[str, float]
    aws_calls: dict[str, int]
    deliveries: int
    failures: list[str] = field(default_factory=list)


# -- child process: one runtime, one run ---------------------------------------------------------


class Progress(Middleware):
    """Counts finished jobs in a dramatiq worker and notes when the last one finished."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.finished_ids: set[str] = set()
        self.deliveries = 0
        self.last = time.monotonic()

    def after_process_message(self, broker: dramatiq.Broker, message: MessageProxy, *,
                              result: Any = None, exception: BaseException | None = None) -> None:
        with self.changed:
            self.deliveries += 1
            if not isinstance(exception, dramatiq.Retry):  # a retried job comes back later
                self.finished_ids.add(message.message_id)
            self.last = time.monotonic()
            self.changed.notify_all()

    def after_skip_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        self.after_process_message(broker, message, exception=RuntimeError("skipped"))


def wait_for(changed: threading.Condition, finished: Any, target: int, last: Any, stall: float) -> None:
    """Wait until finished() reaches target, or nothing has finished for `stall` seconds."""
    with changed:
        while finished() < target and time.monotonic() - last() < stall:
            changed.wait(timeout=1.0)


class Window:
    """CPU time of the busy processes, and this process's AWS calls, over the timed part.

    moto for DynamoDB and Secrets Manager runs in the parent process (os.getppid()), which does
    nothing else during a run; moto for SQS is a process of its own.
    """

    def __init__(self, spec: RunSpec, calls: AwsCallCounter) -> None:
        self._pids = {"workers": os.getpid(), "moto": os.getppid(), "moto-sqs": spec.sqs_moto_pid,
                      "simulator": spec.simulator_pid}
        self._calls = calls
        self._cpu = self._sample()
        self._calls_before = calls.snapshot()

    def _sample(self) -> dict[str, float]:
        return {name: process_cpu_seconds(pid) for name, pid in self._pids.items()}

    def close(self) -> tuple[dict[str, float], dict[str, int]]:
        cpu = {name: seconds - self._cpu[name] for name, seconds in self._sample().items()}
        return cpu, dict(self._calls.snapshot() - self._calls_before)


def enqueue(client: PipelineClient, bookings: tuple[dict[str, Any], ...], two_jobs: bool) -> tuple[str, ...]:
    ids: list[str] = []
    for kwargs in bookings:
        if two_jobs:
            pipeline = client.create_then_invite(kwargs)
            pipeline.run()
            ids.extend(message.message_id for message in pipeline.messages)
        else:
            ids.append(client.send(client.book(kwargs)).message_id)
    return tuple(ids)


def run_worker(spec: RunSpec, calls: AwsCallCounter) -> RunResult:
    """A dramatiq Worker with spec.threads threads on the runtime's broker."""
    from pipeline.runtimes.actors import declare_actors
    from pipeline.runtimes.broker import build_broker
    from pipeline.runtimes.runtime import Runtime

    config = PipelineConfig(table_name=TABLE, aws_endpoint_url=spec.aws_endpoint,
                            broker_url=spec.broker_url, worker_concurrency=spec.threads)
    broker = build_broker(spec.broker_url)
    runtime = Runtime.from_config(config)
    declare_actors(broker, lambda: runtime, queue_name=BENCH_QUEUE)
    progress = Progress()
    broker.add_middleware(progress)
    broker.flush_all()  # leftovers of an interrupted earlier run would skew the count
    client = PipelineClient(broker, queue_name=BENCH_QUEUE)
    started = time.monotonic()
    ids = enqueue(client, spec.bookings, spec.two_jobs)
    enqueued = time.monotonic()
    worker = dramatiq.Worker(broker, worker_threads=spec.threads)
    window = Window(spec, calls)
    worker.start()
    wait_for(progress.changed, lambda: len(progress.finished_ids), len(ids), lambda: progress.last,
             spec.stall_seconds)
    seconds = progress.last - enqueued
    cpu, aws = window.close()
    worker.stop(timeout=30_000)
    broker.close()
    return RunResult(seconds, enqueued - started, ids, len(progress.finished_ids), progress.deliveries,
                     cpu, aws)


def run_lambda(spec: RunSpec, calls: AwsCallCounter) -> RunResult:
    """handlers.jobs.lambda_handler behind spec.threads emulated SQS event-source pollers."""
    import boto3
    from botocore.config import Config

    os.environ.update({
        "PIPELINE_BROKER": spec.broker_url, "PIPELINE_TABLE": TABLE,
        "AWS_ENDPOINT_URL": spec.aws_endpoint, "PIPELINE_CONCURRENCY": str(spec.threads),
        # Quiet: EMF metric lines and X-Ray would only clutter the table (no daemon runs here).
        "POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_TRACE_DISABLED": "true",
    })
    from handlers import jobs
    from pipeline.runtimes.sqs import SqsFifoBroker
    from pipeline.runtimes.sqs.connection import parse_sqs_url

    # A warm container: Lambda builds this in its init phase, which is not what is measured here
    # (the workers' Runtime is built before their clock starts, too).
    jobs._processor()
    sender = SqsFifoBroker.from_url(spec.broker_url)
    client = PipelineClient(sender, queue_name=BENCH_QUEUE)
    started = time.monotonic()
    ids = enqueue(client, spec.bookings, spec.two_jobs)
    enqueued = time.monotonic()
    sqs = boto3.client("sqs", endpoint_url=parse_sqs_url(spec.broker_url)[1]["endpoint_url"],
                       region_name=REGION,
                       config=Config(max_pool_connections=spec.threads + 4))
    pollers = SqsEventSourcePoller(sqs, sender.queue.url, jobs.lambda_handler, concurrency=spec.threads)
    counts = pollers.counts
    window = Window(spec, calls)
    pollers.start()
    wait_for(counts.changed, lambda: len(counts.acknowledged_ids), len(ids), lambda: counts.last_acknowledged,
             spec.stall_seconds)
    seconds = counts.last_acknowledged - enqueued
    cpu, aws = window.close()
    pollers.stop()
    return RunResult(seconds, enqueued - started, ids, len(counts.acknowledged_ids), counts.deliveries,
                     cpu, aws, tuple(counts.handler_errors[:3]))


def run_in_child(spec: RunSpec) -> RunResult:
    # Powertools prints its cold-start metric line even with metrics disabled; the parent's table
    # is this script's output, so the child's stdout is dropped (errors still go to stderr).
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the child's whole life
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    # The store's boto3 client keeps 10 connections, fewer than the threads here; urllib3 then
    # warns on every surplus connection it closes (one line per job). Noted in the README.
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    calls = AwsCallCounter()
    calls.install()  # before any boto3 client exists
    return run_lambda(spec, calls) if spec.runtime == "lambda" else run_worker(spec, calls)


# -- parent process: the simulator, local AWS, the runs and their checks ------------------------


def broker_url(runtime: str, sqs_endpoint: str) -> str:
    if runtime == "stub":
        return "stub://"
    if runtime == "redis":
        return REDIS_URL
    if runtime == "amqp":
        return AMQP_URL
    # A fresh FIFO queue (and dead-letter queue) per run; short polls so that a stop is prompt.
    name = f"bench-{runtime}-{uuid.uuid4().hex[:8]}"
    return f"sqs://{name}?endpoint={sqs_endpoint}&region={REGION}&create=1&wait=1&visibility_timeout=120"


def available(runtime: str) -> bool:
    if runtime == "redis":
        return listening("127.0.0.1", 6379)
    if runtime == "amqp":
        return listening("127.0.0.1", 5672)
    return True


def make_bookings(tag: str, count: int, mailboxes: int) -> tuple[dict[str, Any], ...]:
    """Bookings round-robin over the first `mailboxes` staff members; other staff attend."""
    staff = org.staff()
    organisers, attendees = staff[:mailboxes], staff[mailboxes:]
    rooms = [org.address(room) for building in org.ROOMS.values() for room in building]
    first = datetime(2030, 1, 7, 9, tzinfo=UTC)
    bookings = []
    for number in range(count):
        start = first + timedelta(minutes=30 * number)
        bookings.append({
            "integration_id": INTEGRATION_ID,
            "mailbox": organisers[number % len(organisers)],
            "booking_key": f"{tag}-{number:05d}",
            "subject": f"Interview {number}",
            "body": "Benchmark booking.",
            "start": start.isoformat(),
            "end": (start + timedelta(minutes=30)).isoformat(),
            "required_attendees": [{"email": attendees[number % len(attendees)]}],
            "rooms": [rooms[number % len(rooms)]],
        })
    return tuple(bookings)


def install_integration(aws_endpoint: str, ews_url: str) -> None:
    """Impersonation with Basic auth: scheduler-imp (ApplicationImpersonation) acts as each organiser."""
    create_results_table(aws_endpoint, TABLE)
    put_secret(aws_endpoint, SECRET_NAME,
               {"username": org.address("scheduler-imp"), "password": org.PASSWORD, "domain": "CONTOSO"})
    store = get_store(PipelineConfig(table_name=TABLE, aws_endpoint_url=aws_endpoint))
    store.put_integration(INTEGRATION_ID, {
        "integration_id": INTEGRATION_ID, "connection_method": "impersonation", "auth_type": "basic",
        "ews_url": ews_url, "secret_name": SECRET_NAME, "service_mailbox": org.address("scheduler-imp"),
        "internal_domains": [org.DOMAIN],
    }, datetime.now(UTC))


def verify(sim: SimulatorProcess, aws_endpoint: str, spec: RunSpec, result: RunResult) -> list[str]:
    """Every job succeeded; every booking is in its organiser's calendar exactly once, invited."""
    problems = [f"runtime error: {error}" for error in result.errors]
    if result.finished < len(result.message_ids):
        problems.append(f"only {result.finished} of {len(result.message_ids)} jobs finished "
                        f"(none for {spec.stall_seconds:.0f} s)")
    store = get_store(PipelineConfig(table_name=TABLE, aws_endpoint_url=aws_endpoint))
    with ThreadPoolExecutor(8) as pool:
        records = list(pool.map(store.get_job, result.message_ids))
    statuses = Counter(record.status if record else None for record in records)
    for status, count in statuses.items():
        if status is not JobStatus.SUCCEEDED:
            problems.append(f"{count} job(s) {status or 'without a record'}")
    wanted = {booking["booking_key"]: booking["mailbox"] for booking in spec.bookings}
    found: Counter[str] = Counter()
    uninvited = 0
    for organiser in sorted(set(wanted.values())):
        for item in sim.folder_items(organiser, "calendar"):
            keys = [value for value in item.get("extended_properties", {}).values() if value in wanted]
            found.update(keys)
            uninvited += bool(keys) and not item.get("meeting_request_was_sent")
    missing = [key for key in wanted if found[key] == 0]
    doubled = [key for key in wanted if found[key] > 1]
    if missing:
        problems.append(f"{len(missing)} booking(s) missing from calendars, e.g. {missing[0]}")
    if doubled:
        problems.append(f"{len(doubled)} booking(s) in a calendar more than once, e.g. {doubled[0]}")
    if uninvited:
        problems.append(f"{uninvited} event(s) without meeting requests sent")
    return problems


def print_row(row: Row, bookings: int) -> None:
    jobs = max(row.jobs, 1)
    jobs_per_s = row.jobs / row.seconds if row.seconds else 0.0
    cpu = "/".join(f"{row.cpu_seconds.get(name, 0) * 1000 / jobs:.0f}" for name in CPU_COLUMNS)
    print(f"{row.runtime:<7} {row.latency_ms:>5.0f} ms {row.jobs:>6} {row.seconds:>8.1f} {jobs_per_s:>8.1f} "
          f"{sum(row.requests.values()) / jobs:>8.2f} {sum(row.aws_calls.values()) / jobs:>8.1f} "
          f"{cpu:>19} {row.deliveries - row.jobs:>6} {len(row.failures):>4}", flush=True)
    ews = ", ".join(f"{op} {n / bookings:.2f}" for op, n in sorted(row.requests.items()) if n)
    aws = ", ".join(f"{op} {n / jobs:.2f}" for op, n in sorted(row.aws_calls.items()) if n)
    print(f"        EWS per booking: {ews}", flush=True)
    print(f"        AWS per job: {aws}", flush=True)
    for problem in row.failures:
        print(f"        ! {problem}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bookings", type=int, default=500, help="bookings per run")
    parser.add_argument("--two-jobs", action="store_true",
                        help="book with create_event | send_invite (2 jobs) instead of one job")
    parser.add_argument("--latency-ms", default="0,50", help="simulator latency per EWS request, a list")
    parser.add_argument("--runtimes", default=",".join(RUNTIMES), help="a list of " + ",".join(RUNTIMES))
    parser.add_argument("--threads", type=int, default=16,
                        help="worker threads, or concurrent Lambda pollers (default 16)")
    parser.add_argument("--mailboxes", type=int, default=50, help="organiser mailboxes (FIFO groups)")
    parser.add_argument("--stall-seconds", type=float, default=60.0,
                        help="give a run up when no job has finished for this long")
    args = parser.parse_args(argv)
    runtimes = [name.strip() for name in args.runtimes.split(",") if name.strip()]
    if unknown := set(runtimes) - set(RUNTIMES):
        parser.error(f"unknown runtimes {sorted(unknown)}")
    if not 1 <= args.mailboxes < org.STAFF_COUNT:
        parser.error(f"--mailboxes must be between 1 and {org.STAFF_COUNT - 1}")
    latencies = [float(value) for value in args.latency_ms.split(",") if value.strip()]
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto logs every call otherwise
    seed = org.organisation()
    failures = 0
    with tempfile.TemporaryDirectory() as folder, local_aws() as aws_endpoint:
        seed_file = Path(folder) / "seed.json"
        seed_file.write_text(json.dumps(seed))
        sim = SimulatorProcess(seed_file)
        sqs_moto = MotoServerProcess()
        try:
            install_integration(aws_endpoint, sim.ews_url)
            jobs = "2 jobs (create_event | send_invite)" if args.two_jobs else "1 job (send_invitations)"
            print(f"{args.bookings} bookings x {jobs} over {args.mailboxes} organisers; impersonation + "
                  f"Basic; {args.threads} worker threads (dramatiq) / concurrent pollers (Lambda, batch 10); "
                  f"{os.cpu_count()} CPUs")
            print(f"{'runtime':<7} {'latency':>8} {'jobs':>6} {'seconds':>8} {'jobs/s':>8} {'EWS/job':>8} "
                  f"{'AWS/job':>8} {'CPU ms/job w/m/q/s':>19} {'repeat':>6} {'errs':>4}", flush=True)
            for latency in latencies:
                for runtime in runtimes:
                    if not available(runtime):
                        print(f"{runtime:<7} skipped: its broker is not running here", flush=True)
                        continue
                    tag = f"{runtime}-{latency:.0f}ms-{uuid.uuid4().hex[:6]}"
                    spec = RunSpec(runtime, latency, broker_url(runtime, sqs_moto.endpoint),
                                   make_bookings(tag, args.bookings, args.mailboxes), args.threads,
                                   aws_endpoint, args.stall_seconds, sim.pid, sqs_moto.pid,
                                   args.two_jobs)
                    sim.reset(seed, latency)
                    # spawn, not fork: this process runs moto's server threads.
                    context = multiprocessing.get_context("spawn")
                    with ProcessPoolExecutor(1, mp_context=context) as pool:
                        result = pool.submit(run_in_child, spec).result()
                    row = Row(runtime, latency, len(result.message_ids), result.seconds,
                              sim.request_counts(), result.cpu_seconds, result.aws_calls,
                              result.deliveries, verify(sim, aws_endpoint, spec, result))
                    failures += bool(row.failures)
                    print_row(row, args.bookings)
        finally:
            sqs_moto.close()
            sim.close()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
