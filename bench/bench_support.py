"""Pieces the booking benchmark runs on: the simulator as its own process, and Lambda's SQS poller.

- SimulatorProcess: `python -m infra.ewssim` in a child process (its own GIL), driven over its
  HTTP control surface (/_sim/): reset, seed, latency, request counts, mailbox contents; with
  tls=True it serves HTTPS (its Graph too: msal needs an https authority) and `ca_file` is its CA.
- SqsEventSourcePoller: what Lambda's event source mapping does for an SQS FIFO queue: receive
  batches of up to 10, hand them to the function as an SQS event, delete the records the
  function did not report in batchItemFailures. Several pollers emulate Lambda concurrency.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
# An idle poller waits this long before polling again, doubling up to the second figure.
EMPTY_POLL_PAUSE_S = (0.05, 0.4)

log = logging.getLogger(__name__)

__all__ = [
    "AwsCallCounter",
    "BatchCounts",
    "FakeLambdaContext",
    "MotoServerProcess",
    "SimulatorProcess",
    "SqsEventSourcePoller",
    "listening",
    "process_cpu_seconds",
    "sim_control",
]


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (Linux /proc), to see who is busy."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command name: field 3 is the state, so utime and stime (fields 14, 15) sit at 11, 12.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class AwsCallCounter:
    """Counts every boto3 API call in this process by service and operation.

    Installed on botocore's BaseClient, so that it sees the store's, the secrets' and the brokers'
    clients alike, whatever session built them. Benchmark instrumentation only.
    """

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def install(self) -> None:
        from botocore.client import BaseClient

        original = getattr(BaseClient, "_make_api_call")  # noqa: B009 - private, untyped in stubs
        counter = self

        def counted(client: Any, operation_name: str, api_params: Any) -> Any:
            with counter._lock:
                counter.counts[f"{client.meta.service_model.service_name}:{operation_name}"] += 1
            return original(client, operation_name, api_params)

        setattr(BaseClient, "_make_api_call", counted)  # noqa: B010

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return self.counts.copy()


def listening(host: str, port: int) -> bool:
    """True when something accepts TCP connections on host:port (Redis, RabbitMQ)."""
    with socket.socket() as probe:
        probe.settimeout(1.0)
        return probe.connect_ex((host, port)) == 0


class SimulatorProcess:
    """The EWS simulator as a separate process, so that it never shares a GIL with the workers."""

    def __init__(self, seed_file: Path, *, tls: bool = False) -> None:
        self._attach(subprocess.Popen(
            [sys.executable, "-m", "infra.ewssim", "--config", str(seed_file), "--port", "0",
             *(["--tls"] if tls else [])],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        ))

    def _attach(self, process: subprocess.Popen[str]) -> None:
        """Take a started simulator process: its URLs from the line it prints once its port is open
        (infra/ewssim/cli.py's announcement)."""
        self._process = process
        assert process.stdout is not None
        line = process.stdout.readline()
        if "ews_url=" not in line:
            process.kill()
            raise RuntimeError(f"simulator did not start: {line!r}")
        self.pid = process.pid
        self.ews_url = line.split("ews_url=")[1].split()[0]
        self.control_url = line.split("control=")[1].split()[0].rstrip("/")
        self.ca_file = line.split("ca_file=")[1].split()[0] if "ca_file=" in line else None
        self.base_url = self.control_url.removesuffix("/_sim")
        self.graph_url = f"{self.base_url}/v1.0"

    def control(self, method: str, path: str, body: Any = None) -> Any:
        """One call of the control surface; returns the decoded JSON answer."""
        return sim_control(self.control_url, self.ca_file, method, path, body)

    def reset(self, seed: dict[str, Any], latency_ms: float) -> None:
        """Forget every mailbox, fault and count; seed again; delay every EWS request by latency_ms."""
        self.control("POST", "reset")
        self.control("POST", "seed", seed)
        if latency_ms:
            self.control("POST", "faults", {"latency_ms": latency_ms})

    def request_counts(self) -> dict[str, int]:
        counts: dict[str, int] = self.control("GET", "requests/counts")
        return counts

    def graph_request_counts(self) -> dict[str, int]:
        """Graph requests by operation ("createEvent", ...; a $batch once, and each request in it)."""
        counts: dict[str, int] = self.control("GET", "graph/requests/counts")
        return counts

    def folder_items(self, smtp: str, folder: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.control("GET", f"mailboxes/{quote(smtp)}/{folder}")
        return items

    def close(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()


def sim_control(control_url: str, ca_file: str | None, method: str, path: str, body: Any = None) -> Any:
    """One call of a simulator's control surface (trusting its CA when it serves HTTPS)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{control_url}/{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    context = ssl.create_default_context(cafile=ca_file) if ca_file else None
    with urllib.request.urlopen(request, timeout=30, context=context) as response:
        return json.load(response)


class MotoServerProcess:
    """A moto server in a process of its own (`python -m moto.server`), for SQS.

    In AWS, SQS and DynamoDB are separate services; one local moto process for both would make
    them share one GIL, and moto's FIFO bookkeeping alone can fill a core.
    """

    def __init__(self, module: str = "moto.server") -> None:
        # `module` is the server's command: moto.server, or infra.moto_server_serialized where the
        # process serves DynamoDB and racing conditional writes must behave as DynamoDB's do.
        with socket.socket() as probe:  # a free port; moto's CLI does not report the one it got
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self._process = subprocess.Popen(
            [sys.executable, "-m", module, "-H", "127.0.0.1", "-p", str(port)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self.pid = self._process.pid
        self.endpoint = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while not listening("127.0.0.1", port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("moto server did not start")
            time.sleep(0.1)

    def close(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()


@dataclass
class FakeLambdaContext:
    """The attributes of a LambdaContext that Powertools reads."""

    function_name: str = "ews-pipeline-jobs"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:ews-pipeline-jobs"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    timeout_s: float = 300.0
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_s - (time.monotonic() - self.started)) * 1000))


@dataclass
class BatchCounts:
    """What the pollers have seen so far (shared by all of them)."""

    # SQS message ids deleted from the queue (succeeded, or failed for good and recorded). A set:
    # moto's ReceiveMessage is not atomic, so concurrent pollers can get the same message twice.
    acknowledged_ids: set[str] = field(default_factory=set)
    deliveries: int = 0  # records handed to the function, repeats included
    reported_failures: int = 0  # batchItemFailures: SQS will deliver them again
    invocations: int = 0
    last_acknowledged: float = field(default_factory=time.monotonic)  # when a record was last deleted
    handler_errors: list[str] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)


class SqsEventSourcePoller:
    """Emulates Lambda's SQS event source mapping on a FIFO queue with `concurrency` pollers.

    Like Lambda, a poller hands one batch to one invocation at a time and deletes what succeeded;
    a handler that raises fails the whole batch, which then returns after its visibility timeout.
    The queue's FIFO semantics (one group in flight at a time) come from SQS (here moto) itself.
    """

    def __init__(self, sqs_client: Any, queue_url: str, handler: Callable[[dict[str, Any], Any], Any], *,
                 concurrency: int, batch_size: int = 10, region: str = "us-east-1",
                 wait_seconds: int = 0) -> None:
        self.client = sqs_client
        self.queue_url = queue_url
        self.handler = handler
        self.batch_size = batch_size
        self.region = region
        # 0: short polls with a pause when empty (moto's own SQS re-scans the queue in a loop
        # while it long-polls and does not wake when a message group unlocks); more: long polls,
        # as Lambda's, for the harness's moto (infra.moto_sqs), whose long poll wakes on either.
        self.wait_seconds = wait_seconds
        self.counts = BatchCounts()
        self._stop = threading.Event()
        self._arn = sqs_client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        self._threads = [threading.Thread(target=self._poll, name=f"lambda-poller-{n}", daemon=True)
                         for n in range(concurrency)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _poll(self) -> None:
        pause = EMPTY_POLL_PAUSE_S[0]
        while not self._stop.is_set():
            received = self.client.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=self.batch_size,
                WaitTimeSeconds=self.wait_seconds,
                MessageSystemAttributeNames=["All"],
                ReceiveRequestAttemptId=uuid.uuid4().hex,
            ).get("Messages", [])
            if received:
                pause = EMPTY_POLL_PAUSE_S[0]
                self._invoke(received)
            elif not self.wait_seconds:
                self._stop.wait(pause)
                pause = min(pause * 2, EMPTY_POLL_PAUSE_S[1])

    def _invoke(self, received: list[dict[str, Any]]) -> None:
        event = {"Records": [self._record(message) for message in received]}
        try:
            response = self.handler(event, FakeLambdaContext())
            failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
        except Exception as exc:  # a failed invocation: the whole batch comes back later
            log.exception("invocation failed")
            with self.counts.changed:
                self.counts.handler_errors.append(repr(exc))
            return
        done = [message for message in received if message["MessageId"] not in failed]
        if done:
            self.client.delete_message_batch(QueueUrl=self.queue_url, Entries=[
                {"Id": str(n), "ReceiptHandle": message["ReceiptHandle"]} for n, message in enumerate(done)
            ])
        with self.counts.changed:
            self.counts.invocations += 1
            self.counts.deliveries += len(received)
            self.counts.acknowledged_ids.update(message["MessageId"] for message in done)
            self.counts.reported_failures += len(failed)
            if done:
                self.counts.last_acknowledged = time.monotonic()
            self.counts.changed.notify_all()

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        """One record of an SQS event, in the shape Lambda delivers it."""
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": dict(message.get("Attributes", {})),
            "messageAttributes": {},
            "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),
            "eventSource": "aws:sqs",
            "eventSourceARN": self._arn,
            "awsRegion": self.region,
        }
