"""Shared by the worker tests: a results table and secrets on the moto server, integrations on the
simulator, booking jobs, worker processes, and what the simulator's mailboxes hold afterwards.

    stack = build_stack(sim, moto_endpoint)
    integration_id = stack.install("personal")
    env = stack.worker_environment(broker_url)       # for `python -m pipeline.cli worker`
    records = stack.wait_until_final(message_ids)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import redis
from dramatiq.brokers.rabbitmq import RabbitmqBroker

from infra.ewssim import EwsSimulator
from infra.short_lease import short_lease_command
from pipeline.client import PipelineClient
from pipeline.config import PipelineConfig
from pipeline.store.dynamodb import DynamoDbStore
from pipeline.store.dynamodb.keys import create_table
from pipeline.store.records import JobRecord, JobStatus
from tests.integration.ews_support import integration, seed_secrets
from tests.integration.moto_server import FAKE_KEY_ID, FAKE_SECRET, REGION
from tests.seed import smtp

ALICE, BOB, CAROL, ROOM_A = smtp("alice"), smtp("bob"), smtp("carol"), smtp("room-a")
MEETING_REQUEST = "IPM.Schedule.Meeting.Request"
# The extended property the pipeline stamps a booking's key in (pipeline.exchange.ews.booking_stamp).
BOOKING_KEY_PROPERTY = "BookingKey"
REPO_ROOT = Path(__file__).resolve().parents[2]
# The deadline of a wait; tests normally get there in a few seconds.
WAIT_S = 60.0
# The shortest job timeout PipelineConfig accepts: it sizes the lease a killed worker's jobs hold.
SHORT_JOB_TIMEOUT_S = 10
# Both must stay below the job timeout (PipelineConfig checks it).
SHORT_EWS_TIMEOUT_S = 5
SHORT_RETRY_WAIT_S = 5
# An in-process WorkerProcess's dramatiq worker timeout: an idle consumer polls its broker this
# often, and a stop waits about this long per thread to notice (dramatiq's default is 1000 ms).
WORKER_TIMEOUT_MS = 200


class DeadlineExceeded(AssertionError):
    """A wait ran past its deadline; the message says what was still missing."""


def wait_for(condition: Callable[[], object], *, timeout: float = WAIT_S, interval: float = 0.1,
             what: str = "condition") -> object:
    """Poll `condition()` until it returns something truthy (returned), or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise DeadlineExceeded(f"{what} not reached within {timeout:.0f} s")
        time.sleep(interval)


@dataclass(frozen=True)
class JobState:
    """The part of a job record that tests poll."""

    actor_name: str
    status: JobStatus
    attempts: int
    started_at: datetime | None


@dataclass
class WorkerStack:
    """The AWS side (one fresh table, secrets) on the moto server, and the seeded simulator."""

    sim: EwsSimulator
    aws_endpoint: str
    table_name: str
    store: DynamoDbStore
    dynamodb: Any
    secrets_client: Any

    def config(self, broker_url: str, **overrides: Any) -> PipelineConfig:
        """What a worker in this process reads from its environment."""
        return PipelineConfig(
            table_name=self.table_name,
            aws_region=REGION,
            aws_endpoint_url=self.aws_endpoint,
            broker_url=broker_url,
            **overrides,
        )

    def worker_environment(self, broker_url: str, *, threads: int = 4) -> dict[str, str]:
        """The environment of a `python -m pipeline.cli worker` process on this stack.

        The job timeout is the shortest allowed, so that the lease of a job held by a killed
        worker lapses soon and a restarted worker can take the job over.
        """
        env = {
            **os.environ,
            "PIPELINE_BROKER": broker_url,
            "PIPELINE_TABLE": self.table_name,
            "PIPELINE_CONCURRENCY": str(threads),
            "PIPELINE_JOB_TIMEOUT": str(SHORT_JOB_TIMEOUT_S),
            "PIPELINE_EWS_TIMEOUT": str(SHORT_EWS_TIMEOUT_S),
            "PIPELINE_MAX_RETRY_WAIT": str(SHORT_RETRY_WAIT_S),
            "AWS_ENDPOINT_URL": self.aws_endpoint,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": FAKE_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": FAKE_SECRET,
            "OAUTHLIB_INSECURE_TRANSPORT": "1",
            "PYTHONPATH": str(REPO_ROOT),
        }
        # A worker must not pick up a real profile or session from this machine.
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            env.pop(name, None)
        return env

    def install(self, method: str = "personal", auth: str = "basic", *, integration_id: str | None = None,
                **overrides: Any) -> str:
        """Store an integration's settings in the table and its secrets in Secrets Manager."""
        integration_id = integration_id or f"{method}-{uuid.uuid4().hex[:8]}"
        settings = integration(self.sim, method, auth, integration_id=integration_id, **overrides)
        seed_secrets(self.secrets_client, integration_id, method, auth)
        raw = settings.model_dump(mode="json", exclude_none=True)
        self.store.put_integration(integration_id, raw, datetime.now(UTC))
        return integration_id

    def job_states(self) -> dict[str, JobState]:
        """Every job record in the table, in one scan (cheap enough to poll)."""
        states: dict[str, JobState] = {}
        pages = self.dynamodb.get_paginator("scan").paginate(
            TableName=self.table_name,
            FilterExpression="begins_with(pk, :job)",
            ProjectionExpression="message_id, actor_name, #status, attempts, started_at",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":job": {"S": "JOB#"}},
        )
        for page in pages:
            for item in page["Items"]:
                started = item.get("started_at", {}).get("S")
                states[item["message_id"]["S"]] = JobState(
                    actor_name=item["actor_name"]["S"],
                    status=JobStatus(item["status"]["S"]),
                    attempts=int(item["attempts"]["N"]),
                    started_at=datetime.fromisoformat(started) if started else None,
                )
        return states

    def records(self, message_ids: Iterable[str]) -> dict[str, JobRecord | None]:
        return {message_id: self.store.get_job(message_id) for message_id in message_ids}

    def count_final(self, message_ids: Iterable[str], status: JobStatus | None = None) -> int:
        """How many of these jobs have reached a final status (or exactly `status`)."""
        return sum(
            1
            for record in self.records(message_ids).values()
            if record is not None and (record.status is status if status else record.status.is_final)
        )

    def wait_until_final(self, message_ids: Iterable[str], *,
                         timeout: float = WAIT_S) -> dict[str, JobRecord]:
        """Every job's record once all of them are final; fails naming the stragglers otherwise."""
        wanted = list(message_ids)
        deadline = time.monotonic() + timeout
        while True:
            records = self.records(wanted)
            pending = {m: r.status.value if r else "missing" for m, r in records.items()
                       if r is None or not r.status.is_final}
            if not pending:
                return {m: r for m, r in records.items() if r is not None}
            if time.monotonic() > deadline:
                raise DeadlineExceeded(f"{len(pending)} of {len(wanted)} jobs not final within "
                                       f"{timeout:.0f} s: {sorted(Counter(pending.values()).items())}")
            time.sleep(0.2)


def build_stack(sim: EwsSimulator, aws_endpoint: str) -> WorkerStack:
    """A fresh results table (its own name, so tests never see each other's records) and secrets."""
    session = boto3.session.Session(
        aws_access_key_id=FAKE_KEY_ID, aws_secret_access_key=FAKE_SECRET, region_name=REGION
    )
    dynamodb = session.client("dynamodb", endpoint_url=aws_endpoint)
    table_name = f"ews-worker-{uuid.uuid4().hex[:8]}"
    create_table(dynamodb, table_name)
    secrets = session.client("secretsmanager", endpoint_url=aws_endpoint)
    return WorkerStack(sim, aws_endpoint, table_name, DynamoDbStore(dynamodb, table_name), dynamodb, secrets)


# -- jobs -------------------------------------------------------------------------------------------


def booking(integration_id: str, organiser: str, booking_key: str, attendees: Iterable[str],
            *, slot: int = 0) -> dict[str, Any]:
    """create_event kwargs; the subject names the booking key, so its invitations can be told apart."""
    start = datetime(2026, 11, 3, 8, tzinfo=UTC) + timedelta(minutes=30 * slot)
    return {
        "integration_id": integration_id,
        "mailbox": organiser,
        "booking_key": booking_key,
        "subject": f"Booking {booking_key}",
        "start": start.isoformat(),
        "end": (start + timedelta(minutes=30)).isoformat(),
        "required_attendees": [{"email": email} for email in attendees],
    }


def follow_up(integration_id: str, organiser: str, booking_key: str, **extra: Any) -> dict[str, Any]:
    """send_invite / update_event / cancel_event kwargs for a booking."""
    return {"integration_id": integration_id, "mailbox": organiser, "booking_key": booking_key, **extra}


def free_busy(integration_id: str, mailboxes: Iterable[str]) -> dict[str, Any]:
    return {
        "integration_id": integration_id,
        "mailboxes": list(mailboxes),
        "start": "2026-11-02T00:00:00Z",
        "end": "2026-11-07T00:00:00Z",
    }


def book(client: PipelineClient, kwargs: Mapping[str, Any]) -> list[str]:
    """Enqueue create_event | send_invite (the two-job path); returns both message ids (the second
    is fixed up front)."""
    pipeline = client.create_then_invite(kwargs)
    pipeline.run()
    return [message.message_id for message in pipeline.messages]


def book_in_one_job(client: PipelineClient, kwargs: Mapping[str, Any]) -> list[str]:
    """Enqueue a booking as one job (create_event with send_invitations); returns its message id."""
    return [client.send(client.book(kwargs)).message_id]


def send(client: PipelineClient, action: str, kwargs: Mapping[str, Any]) -> str:
    return client.send(client.message(action, kwargs)).message_id


# -- what Exchange holds ----------------------------------------------------------------------------


def booked_events(sim: EwsSimulator, mailboxes: Iterable[str]) -> Counter[str]:
    """Booking key -> how many calendar items (over these mailboxes' calendars) carry its stamp."""
    found: Counter[str] = Counter()
    for mailbox in mailboxes:
        for item in sim.calendar(mailbox):
            # Only the organiser's copy: an attendee's calendar holds a copy of the same stamp.
            if item["organizer"] != item["mailbox"]:
                continue
            found.update(value for key, value in item["extended_properties"].items()
                         if f"PropertyName={BOOKING_KEY_PROPERTY}" in key.split("|"))
    return found


def invitations(sim: EwsSimulator, attendee: str) -> Counter[str]:
    """Subject -> how many meeting requests an attendee received: in the inbox, or in Deleted Items
    once answered (a room's Resource Booking Attendant answers each request at once)."""
    received = [*sim.inbox(attendee), *sim.folder_items(attendee, "deleteditems")]
    return Counter(item["subject"] for item in received if item.get("item_class") == MEETING_REQUEST)


def requests_by_caller(sim: EwsSimulator, caller: str) -> list[str]:
    """The EWS operations one caller made, in the order the simulator received them."""
    return [record.operation for record in sim.request_log() if record.caller == caller]


# -- worker processes -------------------------------------------------------------------------------


def spawn_worker(env: Mapping[str, str], log_path: Path, *, threads: int = 4,
                 lease_margin_s: int | None = None) -> subprocess.Popen[bytes]:
    """`python -m pipeline.cli worker` (what `ews-pipeline worker` runs), logging to log_path.

    With `lease_margin_s`, its jobs' lease is the job timeout plus that margin instead of
    LEASE_MARGIN_SECONDS (infra.short_lease), so that a takeover after a SIGKILL comes sooner.
    """
    command = [sys.executable, "-m", "pipeline.cli", "worker", "--threads", str(threads)]
    if lease_margin_s is not None:
        command = short_lease_command(lease_margin_s, command)
    log = log_path.open("ab")
    try:
        return subprocess.Popen(command, env=dict(env), cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
    finally:
        log.close()  # the child holds its own descriptor


def stop_worker(process: subprocess.Popen[bytes], *, timeout: float = WAIT_S) -> int:
    """SIGTERM (graceful stop) and wait for the exit code; kill it if it hangs past the deadline."""
    if process.poll() is None:
        process.terminate()
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


def log_tail(log_path: Path, lines: int = 40) -> str:
    """The end of a worker's log, for a failing assertion's message."""
    if not log_path.exists():
        return "(no log)"
    return "\n".join(log_path.read_text(errors="replace").splitlines()[-lines:])


def own_queue_name() -> str:
    """A dramatiq queue of the test's own, so that runs sharing a Redis or RabbitMQ never meet."""
    return f"ews-test-{uuid.uuid4().hex[:8]}"


def delete_queue(broker_url: str, queue_name: str) -> None:
    """Remove a test's queue (with its delay and dead-letter queues) from a shared Redis or RabbitMQ,
    through a broker of its own (a stopped worker's broker is closed)."""
    scheme = broker_url.split("://", 1)[0]
    if scheme in ("amqp", "amqps"):
        cleaner = RabbitmqBroker(url=broker_url)
        try:
            for name in (queue_name, f"{queue_name}.DQ", f"{queue_name}.XQ"):
                cleaner.channel.queue_delete(name)
        finally:
            cleaner.close()
    elif scheme in ("redis", "rediss"):
        client = redis.Redis.from_url(broker_url)
        try:
            # dramatiq's default namespace; the message hashes and acks sets are named after the queue.
            for key in client.scan_iter(f"dramatiq:*{queue_name}*"):
                client.delete(key)
        finally:
            client.close()




def as_json(records: Mapping[str, JobRecord]) -> str:
    """Records in a readable form for assertion messages."""
    readable = {m: (r.actor_name, r.status.value, r.attempts, r.error_code) for m, r in records.items()}
    return json.dumps(readable, default=str, indent=1)
