"""Running the same job messages through the Lambda handler and through dramatiq workers.

Shared by the runtime tests (Lambda handler, parity, worker behaviour). Everything AWS lives on
the session's moto server, so the Lambda processor and the workers build their clients from the
environment exactly as they do when deployed:

    aws = AwsTestAccount(moto_endpoint)
    table = aws.new_table()
    queue = LambdaQueue.create(aws, max_receive_count=3)
    with lambda_job_handler(aws.environ(table, queue.broker_url)) as handler:
        queue.broker.enqueue(message)
        event, response = deliver(queue, handler)

Worker runs go through pipeline.runtimes.worker.WorkerProcess with run_on_worker().
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlparse

import boto3
import dramatiq
import pytest
import redis
from dramatiq.brokers.stub import StubBroker
from exchangelib.protocol import close_connections

from infra.ewssim import EwsSimulator
from pipeline.config import PipelineConfig
from pipeline.runtimes.actors import JOBS_QUEUE
from pipeline.runtimes.runtime import Runtime, utc_now
from pipeline.runtimes.sqs import SqsFifoBroker
from pipeline.runtimes.worker import WorkerProcess
from pipeline.store.base import ResultsStore
from pipeline.store.dynamodb.keys import create_table
from pipeline.store.records import JobRecord
from tests.integration.ews_support import integration, seed_secrets
from tests.integration.moto_server import FAKE_KEY_ID, FAKE_SECRET, REGION
from tests.integration.worker_support import delete_queue
from tests.seed import standard_org

__all__ = [
    "WAIT_S",
    "AwsTestAccount",
    "FakeLambdaContext",
    "JobHandler",
    "LambdaQueue",
    "aws_credentials",
    "clear_shared_broker",
    "deliver",
    "drain_through_lambda",
    "failed_item_ids",
    "fresh_simulator",
    "install_integration",
    "job_records",
    "lambda_job_handler",
    "redis_url_with_namespace",
    "run_on_worker",
    "sqs_event",
    "use_fake_aws_credentials",
    "wait_for",
]

# The deadline for waiting on a condition; the tests normally get there in well under a second.
WAIT_S = 20
# What the event source mapping hides a received batch for: longer than any test, so that a
# message that comes back sooner proves the handler changed its visibility.
ESM_VISIBILITY_TIMEOUT_S = 120

JobHandler = Callable[[dict[str, Any]], dict[str, Any]]


def wait_for(condition: Callable[[], bool], *, timeout: float = WAIT_S, what: str = "condition") -> None:
    """Poll until `condition()` holds; fail the test when `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout} s")
        time.sleep(0.02)


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and the region for every boto3 client the code under test builds itself."""
    use_fake_aws_credentials(monkeypatch)


def use_fake_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the aws_credentials fixture does, for fixtures of a wider scope."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    # Clients are given the moto endpoint explicitly; a stray one from the shell must not win.
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


# -- AWS on the moto server --------------------------------------------------------------------


@dataclass(frozen=True)
class AwsTestAccount:
    """The session's moto server: fresh tables, secrets and queues for one test each."""

    endpoint: str

    def client(self, service: str) -> Any:
        return _moto_client(self.endpoint, service)

    def new_table(self) -> str:
        """A results table of its own (name), so that runs never see each other's records."""
        name = f"ews-pipeline-{uuid.uuid4().hex[:10]}"
        create_table(self.client("dynamodb"), name)
        return name

    def config(self, table_name: str, broker_url: str = "stub://", **overrides: Any) -> PipelineConfig:
        return PipelineConfig(
            table_name=table_name, aws_region=REGION, aws_endpoint_url=self.endpoint,
            broker_url=broker_url, worker_concurrency=4, **overrides,
        )

    def environ(self, table_name: str, broker_url: str, **extra: str) -> dict[str, str]:
        """The Lambda function's environment variables, as the deployed template sets them."""
        return {
            "PIPELINE_TABLE": table_name,
            "PIPELINE_BROKER": broker_url,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": REGION,
            **extra,
        }


@cache
def _moto_client(endpoint: str, service: str) -> Any:
    # One per service for the session: building a boto3 client loads its service model (tenths
    # of a second), and the tests' own clients are only used from the test's thread.
    session: Any = boto3.session.Session()  # typed per service name; the name is a variable here
    return session.client(
        service, endpoint_url=endpoint, region_name=REGION,
        aws_access_key_id=FAKE_KEY_ID, aws_secret_access_key=FAKE_SECRET,
    )


def install_integration(
    sim: EwsSimulator, aws: AwsTestAccount, store: ResultsStore, method: str = "delegate",
    auth: str = "basic", **overrides: Any,
) -> str:
    """Store an integration's settings and put its secrets in Secrets Manager; returns its id.

    `overrides` are settings (backend="graph", graph_url=sim.graph_url, integration_id=...)."""
    settings = integration(sim, method, auth, **overrides)
    seed_secrets(aws.client("secretsmanager"), settings.integration_id, method, auth)
    raw = settings.model_dump(mode="json", exclude_none=True)
    store.put_integration(settings.integration_id, raw, utc_now())
    return settings.integration_id


def fresh_simulator(sim: EwsSimulator) -> None:
    """Forget every mailbox's items and counters and seed the standard organisation again."""
    sim.backend.reset()
    sim.backend.seed(standard_org())
    # Pooled sessions outlive a reset; start each run on new connections.
    close_connections()


def job_records(store: ResultsStore, message_ids: Sequence[str]) -> dict[str, JobRecord]:
    """The job records of these messages (a missing one fails the test)."""
    records: dict[str, JobRecord] = {}
    for message_id in message_ids:
        record = store.get_job(message_id)
        assert record is not None, f"no job record for {message_id}"
        records[message_id] = record
    return records


# -- the Lambda path ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FakeLambdaContext:
    """The parts of LambdaContext that Powertools' Logger reads."""

    function_name: str = "ews-pipeline-jobs"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:ews-pipeline-jobs"
    aws_request_id: str = "test-request"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


@dataclass
class LambdaQueue:
    """The jobs FIFO queue (and its dead-letter queue), seen as the event source mapping sees it.

    `broker` is an SqsFifoBroker on it, so that messages are encoded, grouped and de-duplicated
    exactly as upstream apps and the handler itself send them.
    """

    aws: AwsTestAccount
    broker: SqsFifoBroker
    url: str
    arn: str

    @classmethod
    def create(cls, aws: AwsTestAccount, *, max_receive_count: int = 9) -> LambdaQueue:
        name = f"jobs-{uuid.uuid4().hex[:10]}"
        broker = SqsFifoBroker(
            name, sqs_client=aws.client("sqs"), create_queues=True, max_receive_count=max_receive_count,
            wait_time_seconds=0,
        )
        broker.declare_queue(JOBS_QUEUE)
        url = broker.queue.url
        arn = broker.queue.attributes("QueueArn")["QueueArn"]
        return cls(aws, broker, url, arn)

    @property
    def broker_url(self) -> str:
        """PIPELINE_BROKER for the Lambda function: the existing queue, on moto."""
        return f"sqs://{self.broker.queue.name}?endpoint={self.aws.endpoint}&region={REGION}"

    @property
    def client(self) -> Any:
        return self.broker.client

    def send_raw(self, body: str, *, group_id: str, deduplication_id: str | None = None) -> None:
        """A body that did not come from dramatiq (another language's bug, a stray test message)."""
        self.broker.queue.send(body, group_id=group_id, deduplication_id=deduplication_id or uuid.uuid4().hex)

    def receive(self, max_messages: int = 10) -> list[dict[str, Any]]:
        """ReceiveMessage as the event source mapping calls it: every system attribute."""
        response = self.client.receive_message(
            QueueUrl=self.url, MaxNumberOfMessages=max_messages, WaitTimeSeconds=0,
            VisibilityTimeout=ESM_VISIBILITY_TIMEOUT_S, MessageSystemAttributeNames=["All"],
        )
        messages: list[dict[str, Any]] = response.get("Messages", [])
        return messages

    def settle(self, event: dict[str, Any], response: Mapping[str, Any]) -> None:
        """Delete the records the handler did not report as failed, as the event source mapping does."""
        failed = failed_item_ids(response)
        for record in event["Records"]:
            if record["messageId"] not in failed:
                self.client.delete_message(QueueUrl=self.url, ReceiptHandle=record["receiptHandle"])

    def dead_letter_bodies(self) -> list[str]:
        dead_letter_url = self.broker.queue.dead_letter_url
        assert dead_letter_url is not None
        received = self.broker.queue.receive(10, wait_seconds=0, visibility_timeout=60, url=dead_letter_url)
        return [message["body"] for message in received]

    def counts(self) -> dict[str, int]:
        names = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")
        return {name: int(value) for name, value in self.broker.queue.attributes(*names).items()}


def sqs_event(messages: Sequence[Mapping[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The Lambda event the SQS event source mapping builds from received messages."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": dict(message.get("Attributes", {})),
                "messageAttributes": {},
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            }
            for message in messages
        ]
    }


def failed_item_ids(response: Mapping[str, Any]) -> set[str]:
    return {item["itemIdentifier"] for item in response["batchItemFailures"]}


@contextmanager
def lambda_job_handler(
    environ: Mapping[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[JobHandler]:
    """handlers.jobs.lambda_handler in a cold container with this environment."""
    import handlers.jobs

    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    # The processor is built once per container; each test is a new container.
    handlers.jobs._processor.cache_clear()

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        return dict(handlers.jobs.lambda_handler(event, FakeLambdaContext()))

    try:
        yield invoke
    finally:
        if handlers.jobs._processor.cache_info().currsize:
            # Every backend's pooled connections (BackendGateways, or a bare EwsConnector).
            close = getattr(handlers.jobs._processor().runtime.gateways, "close_all", None)
            if close is not None:
                close()
        handlers.jobs._processor.cache_clear()


def deliver(queue: LambdaQueue, handler: JobHandler) -> tuple[dict[str, Any], dict[str, Any]]:
    """One poll of the event source mapping: receive a batch, invoke the handler, settle the batch."""
    event = sqs_event(queue.receive(), queue.arn)
    if not event["Records"]:
        return event, {"batchItemFailures": []}
    response = handler(event)
    queue.settle(event, response)
    return event, response


def drain_through_lambda(queue: LambdaQueue, handler: JobHandler, done: Callable[[], bool]) -> None:
    """Feed the queue to the handler until `done()` and the queue is empty (pipelines included)."""
    def drained() -> bool:
        deliver(queue, handler)
        return done() and sum(queue.counts().values()) == 0

    wait_for(drained, what="the Lambda queue drained")


# -- dramatiq workers --------------------------------------------------------------------------


def run_on_worker(
    config: PipelineConfig,
    runtime: Runtime,
    send: Callable[[WorkerProcess], None],
    done: Callable[[], bool],
) -> None:
    """Start a WorkerProcess on config.broker_url, `send` the jobs through its broker, wait until
    `done()` and the broker's queue is empty, then stop the worker.

    Redis and RabbitMQ are shared servers: the queues are emptied before and after, so that no
    run sees another's messages or leaves dead letters behind. Give a Redis URL a namespace of
    its own (`?namespace=...`, see redis_url_with_namespace), or its whole database is flushed.
    """
    clear_shared_broker(config.broker_url)
    process = WorkerProcess(config, threads=4, runtime=runtime)
    process.start()
    try:
        send(process)
        wait_for(done, what=f"jobs done on {type(process.broker).__name__}")
        _join(process.broker)
        process.worker.join()
    finally:
        process.stop(timeout_ms=WAIT_S * 1000)
        clear_shared_broker(config.broker_url)


def clear_shared_broker(broker_url: str) -> None:
    """Flush the Redis database, or delete the jobs queues (with their delay and dead-letter
    queues) on RabbitMQ; nothing to do for stub:// and for sqs:// (a fresh queue per test)."""
    parsed = urlparse(broker_url)
    if parsed.scheme in ("redis", "rediss"):
        query = dict(parse_qsl(parsed.query))
        namespace = query.pop("namespace", None)
        client = redis.Redis.from_url(parsed._replace(query=urlencode(query)).geturl())
        try:
            if namespace is None:
                client.flushdb()
            else:
                stale = list(client.scan_iter(match=f"{namespace}:*"))
                if stale:
                    client.delete(*stale)
        finally:
            client.close()
    elif parsed.scheme in ("amqp", "amqps"):
        delete_queue(broker_url, JOBS_QUEUE)


def redis_url_with_namespace(url: str, prefix: str) -> str:
    """`url` with a RedisBroker namespace no other run shares (its keys are `<namespace>:...`)."""
    parsed = urlparse(url)
    query = [*parse_qsl(parsed.query), ("namespace", f"{prefix}-{uuid.uuid4().hex[:8]}")]
    return parsed._replace(query=urlencode(query)).geturl()


def _join(broker: dramatiq.Broker) -> None:
    timeout_ms = WAIT_S * 1000
    if isinstance(broker, StubBroker):
        # A permanent failure is dead-lettered on purpose; that must not fail the join.
        broker.join(JOBS_QUEUE, timeout=timeout_ms, fail_fast=False)
    else:
        broker.join(JOBS_QUEUE, timeout=timeout_ms)
