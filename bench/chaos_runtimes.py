"""The runtimes under chaos: per runtime, its local AWS, its broker and its consumer processes.

  redis   `python -m pipeline.cli worker` processes on Redis
  amqp    the same on RabbitMQ
  sqs     the same on an SQS FIFO queue (moto)
  lambda  bench/lambda_container.py processes: handlers.jobs.lambda_handler behind emulated SQS
          event-source pollers, on an SQS FIFO queue (moto)

Each runtime has a moto process of its own (its "AWS account": the results table, the secret and,
for sqs and lambda, the queues), started through infra.moto_server_serialized so that DynamoDB's
conditional writes are atomic as in AWS. Consumers run in ProcessPool: a SIGKILL of one is
followed by a new one at once, and one that exits by itself (a worker refusing to start while its
broker restarts) is started again within a second, as a supervisor would.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from bench_support import ROOT, MotoServerProcess, process_cpu_seconds
from chaos_brokers import BrokerServer

from infra.demo import organisation as org
from infra.demo.local_stack import REGION, create_results_table, put_secret
from infra.short_lease import short_lease_command
from pipeline.config import PipelineConfig
from pipeline.runtimes.lambda_runtime import DEFAULT_MAX_RECEIVE_COUNT
from pipeline.store.factory import get_store

__all__ = ["RUNTIMES", "ProcessPool", "RuntimeStack", "Timeouts", "broker_url"]

RUNTIMES = ("redis", "amqp", "sqs", "lambda")
BENCH = Path(__file__).resolve().parent
SECRET_NAME = "chaos/impersonation/service"
# The emulated event source mapping long-polls as Lambda's does; the harness's moto wakes a long
# poll when a message arrives or a message group unlocks (infra.moto_sqs).
LAMBDA_LONG_POLL_S = 5
# What a consumer logs once it consumes (pipeline.runtimes.worker, bench/lambda_container.py).
WORKER_READY = "worker started:"
LAMBDA_READY = "lambda container ready:"
FAKE_CREDENTIAL = "local"


@dataclass(frozen=True)
class Timeouts:
    """The pipeline's time settings for the run (environment of every consumer)."""

    job_s: int = 10  # PIPELINE_JOB_TIMEOUT, the shortest allowed: a dead worker's lease is job + 60 s
    ews_s: int = 2  # PIPELINE_EWS_TIMEOUT; slow answers come after ews_s + 1
    max_retry_wait_s: int = 5  # PIPELINE_MAX_RETRY_WAIT, below the job timeout
    retry_window_s: int | None = None  # PIPELINE_RETRY_WINDOW; None keeps the default (30 min)
    # The lease's margin past the job timeout in every consumer (infra.short_lease); None keeps the
    # pipeline's LEASE_MARGIN_SECONDS, so that a killed consumer's jobs are taken over a minute late.
    lease_margin_s: int | None = None

    @property
    def lambda_visibility_s(self) -> int:
        return 6 * self.job_s  # as template.yaml derives the queue's visibility from the job timeout


def broker_url(runtime: str, broker: BrokerServer | None, aws_endpoint: str, tag: str,
               timeouts: Timeouts) -> str:
    """PIPELINE_BROKER for a runtime: its own Redis namespace or SQS queue where it can have one."""
    if runtime == "redis":
        assert broker is not None
        # A dead worker's unacknowledged messages return once its heartbeat is 3 s old, checked
        # on every broker command (dramatiq's defaults: 60 s, one command in a thousand).
        return f"{broker.url}?namespace=ews-chaos-{tag}&heartbeat_timeout=3000&maintenance_chance=1000000"
    if runtime == "amqp":
        assert broker is not None
        return broker.url
    # Workers extend the visibility of what they hold, so a short one only bounds a killed
    # worker's messages; Lambda's queue follows the function timeout as in template.yaml.
    visibility = 5 if runtime == "sqs" else timeouts.lambda_visibility_s
    return (f"sqs://chaos-{runtime}-{tag}?endpoint={aws_endpoint}&region={REGION}&create=1&wait=1"
            f"&visibility_timeout={visibility}&max_receive_count={DEFAULT_MAX_RECEIVE_COUNT}")


def _cpu_or_nothing(process: subprocess.Popen[bytes]) -> float:
    try:
        return process_cpu_seconds(process.pid)
    except (OSError, IndexError, ValueError):  # already gone
        return 0.0


class ProcessPool:
    """`count` copies of one command, killed on demand and always replaced.

    `ready_marker` is the line each process logs once it consumes; `cpu_seconds` adds up the CPU
    of the processes gone (killed or stopped) so far, read just before they went.
    """

    def __init__(self, name: str, command: list[str], env: dict[str, str], count: int, log: Path,
                 ready_marker: str) -> None:
        self.name = name
        self.command = command
        self.env = env
        self.count = count
        self.log = log
        self.ready_marker = ready_marker.encode()
        self.processes: list[subprocess.Popen[bytes]] = []
        self.kills: list[tuple[float, int]] = []  # (time.time(), pid)
        self.exits: list[tuple[int, int]] = []  # (pid, exit code) of processes that ended by themselves
        self.cpu_seconds = 0.0

    def _note_cpu(self, process: subprocess.Popen[bytes]) -> None:
        self.cpu_seconds += _cpu_or_nothing(process)

    def ready(self) -> bool:
        """Every process started so far has logged its ready line."""
        started = len(self.kills) + len(self.exits) + self.count
        try:
            return self.log.read_bytes().count(self.ready_marker) >= started
        except OSError:
            return False

    def live_cpu_seconds(self) -> float:
        """CPU of the processes gone so far and of those running now."""
        return self.cpu_seconds + sum(_cpu_or_nothing(p) for p in self.processes if p.poll() is None)

    def _spawn(self) -> subprocess.Popen[bytes]:
        out: IO[bytes] = self.log.open("ab")
        try:
            return subprocess.Popen(self.command, env=self.env, cwd=ROOT, stdout=out,
                                    stderr=subprocess.STDOUT)
        finally:
            out.close()

    def start(self) -> None:
        self.processes = [self._spawn() for _ in range(self.count)]

    def kill_one(self, rng: random.Random) -> int:
        """SIGKILL one live process at random and start its replacement; returns the pid killed."""
        live = [process for process in self.processes if process.poll() is None]
        victim = rng.choice(live or self.processes)
        self._note_cpu(victim)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        self.kills.append((time.time(), victim.pid))
        self.processes[self.processes.index(victim)] = self._spawn()
        return victim.pid

    def revive(self) -> None:
        """Start again every process that ended by itself."""
        for index, process in enumerate(self.processes):
            code = process.poll()
            if code is not None:
                self.exits.append((process.pid, code))
                self.processes[index] = self._spawn()

    def stop(self) -> None:
        self.terminate()
        self.wait()

    def terminate(self) -> None:
        """SIGTERM every live process (a graceful stop); wait() then waits for them."""
        for process in self.processes:
            if process.poll() is None:
                self._note_cpu(process)
                process.terminate()

    def wait(self) -> None:
        """Wait for every process to exit, killing those that take more than a minute."""
        deadline = time.monotonic() + 60
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass
class RuntimeStack:
    """One runtime's moto, table, integration, broker URL and consumers."""

    name: str
    tag: str
    aws: MotoServerProcess
    broker: BrokerServer | None
    broker_url: str
    table: str
    integration_id: str
    pool: ProcessPool
    broker_restarts: list[float] = field(default_factory=list)  # time.time() of each restart

    def close(self) -> None:
        self.pool.stop()
        self.aws.close()


def build_stack(runtime: str, broker: BrokerServer | None, ews_url: str, *, workers: int, threads: int,
                timeouts: Timeouts, logs: Path) -> RuntimeStack:
    """Start a runtime's moto, install its table and integration; its consumers start with start()."""
    tag = uuid.uuid4().hex[:6]
    aws = MotoServerProcess(module="infra.moto_server_serialized")
    table = f"ews-chaos-{runtime}"
    integration_id = f"chaos-{runtime}"
    create_results_table(aws.endpoint, table)
    put_secret(aws.endpoint, SECRET_NAME,
               {"username": org.address("scheduler-imp"), "password": org.PASSWORD, "domain": "CONTOSO"})
    get_store(PipelineConfig(table_name=table, aws_endpoint_url=aws.endpoint)).put_integration(
        integration_id, {
            "integration_id": integration_id, "connection_method": "impersonation", "auth_type": "basic",
            "ews_url": ews_url, "secret_name": SECRET_NAME, "service_mailbox": org.address("scheduler-imp"),
            "internal_domains": [org.DOMAIN],
        }, datetime.now(UTC))
    url = broker_url(runtime, broker, aws.endpoint, tag, timeouts)
    env = consumer_environment(url, table, aws.endpoint, threads, timeouts)
    if runtime == "lambda":
        command = [sys.executable, str(BENCH / "lambda_container.py"), "--pollers", str(threads),
                   "--wait-seconds", str(LAMBDA_LONG_POLL_S)]
        marker = LAMBDA_READY
    else:
        command = [sys.executable, "-m", "pipeline.cli", "worker", "--threads", str(threads)]
        marker = WORKER_READY
    if timeouts.lease_margin_s is not None:
        command = short_lease_command(timeouts.lease_margin_s, command)
    pool = ProcessPool(runtime, command, env, workers, logs / f"{runtime}.log", marker)
    return RuntimeStack(runtime, tag, aws, broker, url, table, integration_id, pool)


def consumer_environment(url: str, table: str, aws_endpoint: str, threads: int,
                         timeouts: Timeouts) -> dict[str, str]:
    env = {
        **os.environ,
        "PIPELINE_BROKER": url,
        "PIPELINE_TABLE": table,
        "PIPELINE_CONCURRENCY": str(threads),
        "PIPELINE_JOB_TIMEOUT": str(timeouts.job_s),
        "PIPELINE_EWS_TIMEOUT": str(timeouts.ews_s),
        "PIPELINE_MAX_RETRY_WAIT": str(timeouts.max_retry_wait_s),
        "PIPELINE_MAX_RECEIVE_COUNT": str(DEFAULT_MAX_RECEIVE_COUNT),
        "AWS_ENDPOINT_URL": aws_endpoint,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": FAKE_CREDENTIAL,
        "AWS_SECRET_ACCESS_KEY": FAKE_CREDENTIAL,
        "PYTHONPATH": str(ROOT),
        # The pipeline's lines at INFO: one per job outcome, and the worker's "worker started:"
        # that the pool waits for. Powertools: no EMF lines or X-Ray (no daemon here).
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    if timeouts.retry_window_s is not None:
        env["PIPELINE_RETRY_WINDOW"] = str(timeouts.retry_window_s)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "PIPELINE_EVENTS_SINK"):
        env.pop(name, None)
    return env
