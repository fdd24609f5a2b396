"""Parity: the same jobs through the Lambda handler and through a dramatiq worker on every broker
give the same table records (apart from timestamps) and the same mailboxes in the simulator.

The jobs: a booking pipeline (create_event | send_invite), a free/busy lookup, a room listing and
a booking for a mailbox that does not exist (a permanent failure). Each runtime gets a freshly
seeded simulator and a table of its own; message ids are fixed so records compare by id.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import dramatiq
import pytest

from infra.ewssim import EwsSimulator
from pipeline.client import PipelineClient
from pipeline.contract import JobStatus
from pipeline.errors import ErrorCode
from pipeline.runtimes.runtime import Runtime
from pipeline.runtimes.worker import WorkerProcess
from pipeline.store.base import ResultsStore
from tests.integration.brokers import amqp_url, redis_url, sqs_url
from tests.integration.event_support import ALICE, BOB, CAROL, MEETING_REQUEST, ROOM_A, booking
from tests.integration.moto_server import moto_endpoint
from tests.integration.runtime_support import (
    AwsTestAccount,
    LambdaQueue,
    aws_credentials,
    drain_through_lambda,
    fresh_simulator,
    install_integration,
    job_records,
    lambda_job_handler,
    redis_url_with_namespace,
    run_on_worker,
    use_fake_aws_credentials,
)
from tests.seed import smtp

__all__ = ["amqp_url", "aws_credentials", "moto_endpoint", "redis_url", "sqs_url"]  # fixtures

CREATE, INVITE, FREE_BUSY, ROOMS, UNKNOWN_MAILBOX = (
    "parity-create", "parity-invite", "parity-free-busy", "parity-rooms", "parity-unknown-mailbox"
)
MESSAGE_IDS = (CREATE, INVITE, FREE_BUSY, ROOMS, UNKNOWN_MAILBOX)
# Everyone whose mailbox the jobs can touch.
PEOPLE = (ALICE, BOB, CAROL, ROOM_A, smtp("svc"))
# The day before the booking: free/busy must not depend on whether create_event ran first, since
# the workers run jobs of different mailboxes in any order.
FREE_BUSY_DAY = datetime(2026, 11, 2, tzinfo=UTC)
# Differ on every run: Exchange ids, change keys, clocks.
VOLATILE_ITEM_FIELDS = frozenset({
    "item_id", "change_key", "folder_id", "created", "modified", "sent", "uid", "meeting_uid",
    "associated_calendar_item_id",
    "last_response_time", "appointment_reply_time",  # when the room answered (at once, as it got the request)
})
VOLATILE_RECORD_FIELDS = frozenset({
    "created_at", "updated_at", "started_at", "finished_at", "lease_expires_at", "expires_at",
    "run_started_at",
    "item_id", "change_key",  # in create_event's result
})


@dataclass(frozen=True)
class RunOutcome:
    """What one runtime left behind: job records and mailbox contents, without volatile fields."""

    records: dict[str, dict[str, Any]]
    mailboxes: dict[str, dict[str, list[dict[str, Any]]]]


def send_jobs(broker: dramatiq.Broker, integration_id: str) -> None:
    """Enqueue the parity jobs, as an upstream app does with PipelineClient."""
    client = PipelineClient(broker)
    create = client.message("create_event", booking(integration_id, "parity:1"), message_id=CREATE)
    invite = client.message(
        "send_invite", {"integration_id": integration_id, "mailbox": ALICE, "booking_key": "parity:1"},
        message_id=INVITE, pipe_ignore=True,
    )
    dramatiq.pipeline([create, invite], broker=broker).run()
    for message in (
        client.message("fetch_free_busy", {
            "integration_id": integration_id, "mailboxes": [ALICE, BOB, ROOM_A],
            "start": FREE_BUSY_DAY.isoformat(), "end": (FREE_BUSY_DAY + timedelta(days=1)).isoformat(),
        }, message_id=FREE_BUSY),
        client.message("list_rooms", {"integration_id": integration_id}, message_id=ROOMS),
        client.message("create_event", booking(integration_id, "parity:2", mailbox="nobody@example.com"),
                       message_id=UNKNOWN_MAILBOX),
    ):
        client.send(message)


def all_final(store: ResultsStore) -> bool:
    records = [store.get_job(message_id) for message_id in MESSAGE_IDS]
    return all(record is not None and record.status.is_final for record in records)


def outcome_of(store: ResultsStore, sim: EwsSimulator) -> RunOutcome:
    records = {
        message_id: without_volatile(dataclasses.asdict(record), VOLATILE_RECORD_FIELDS)
        for message_id, record in job_records(store, MESSAGE_IDS).items()
    }
    mailboxes = {
        person: {
            folder: sorted(
                (without_volatile(item, VOLATILE_ITEM_FIELDS) for item in sim.folder_items(person, folder)),
                key=repr,
            )
            for folder in ("calendar", "inbox")
        }
        for person in PEOPLE
    }
    return RunOutcome(records, mailboxes)


def without_volatile(value: Any, volatile: frozenset[str]) -> Any:
    """`value` with the volatile fields, at any depth, replaced by a marker of their presence."""
    if isinstance(value, dict):
        return {
            key: ("<volatile>" if key in volatile and item is not None else without_volatile(item, volatile))
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [without_volatile(item, volatile) for item in value]
    return value


def close_runtime(runtime: Runtime) -> None:
    close = getattr(runtime.gateways, "close_all", None)
    if close is not None:
        close()


# -- the reference: the Lambda handler fed from the SQS queue ---------------------------------------


@pytest.fixture(scope="module")
def lambda_outcome(simulator: EwsSimulator, moto_endpoint: str) -> RunOutcome:
    """What the Lambda handler leaves; its environment is gone again before the workers run."""
    import handlers.jobs

    with pytest.MonkeyPatch.context() as monkeypatch:
        use_fake_aws_credentials(monkeypatch)
        fresh_simulator(simulator)
        aws = AwsTestAccount(moto_endpoint)
        table = aws.new_table()
        queue = LambdaQueue.create(aws)
        with lambda_job_handler(aws.environ(table, queue.broker_url), monkeypatch) as handler:
            store = handlers.jobs._processor().runtime.store
            integration_id = install_integration(simulator, aws, store)
            send_jobs(queue.broker, integration_id)
            drain_through_lambda(queue, handler, lambda: all_final(store))
            return outcome_of(store, simulator)


def test_the_lambda_run_did_the_work(lambda_outcome: RunOutcome) -> None:
    # The reference must not be vacuous: every job ran, and its effects are in the mailboxes
    records = lambda_outcome.records
    assert {message_id: records[message_id]["status"] for message_id in MESSAGE_IDS} == {
        CREATE: JobStatus.SUCCEEDED, INVITE: JobStatus.SUCCEEDED, FREE_BUSY: JobStatus.SUCCEEDED,
        ROOMS: JobStatus.SUCCEEDED, UNKNOWN_MAILBOX: JobStatus.FAILED,
    }
    assert records[UNKNOWN_MAILBOX]["error_code"] is ErrorCode.UNKNOWN_MAILBOX
    assert all(record["attempts"] == 1 for record in records.values())
    calendar = lambda_outcome.mailboxes[ALICE]["calendar"]
    assert [item["subject"] for item in calendar] == ["Interview: Dana Diaz"]
    for person in (BOB, CAROL):
        inbox = lambda_outcome.mailboxes[person]["inbox"]
        assert [item["item_class"] for item in inbox] == [MEETING_REQUEST], person
    # The room (AutomateProcessing AutoAccept) accepted its request at once: it is no longer in the inbox.
    assert lambda_outcome.mailboxes[ROOM_A]["inbox"] == []
    assert [item["my_response_type"] for item in lambda_outcome.mailboxes[ROOM_A]["calendar"]] == ["Accept"]


# -- the same jobs on a dramatiq worker ------------------------------------------------------------


@pytest.mark.broker
@pytest.mark.parametrize("broker", ["stub", "redis", "rabbitmq", "sqs"])
def test_a_worker_leaves_the_same_records_and_mailboxes_as_lambda(
    broker: str,
    request: pytest.FixtureRequest,
    lambda_outcome: RunOutcome,
    simulator: EwsSimulator,
    moto_endpoint: str,
    aws_credentials: None,
) -> None:
    broker_url = {
        "stub": lambda: "stub://",
        # A namespace of its own: other tests and the benchmarks share the Redis server.
        "redis": lambda: redis_url_with_namespace(request.getfixturevalue("redis_url"), "ews-parity"),
        "rabbitmq": lambda: request.getfixturevalue("amqp_url"),
        "sqs": lambda: request.getfixturevalue("sqs_url"),
    }[broker]()
    # Given a fresh simulator and table, and a worker on the broker
    fresh_simulator(simulator)
    aws = AwsTestAccount(moto_endpoint)
    config = aws.config(aws.new_table(), broker_url)
    runtime = Runtime.from_config(config)
    integration_id = install_integration(simulator, aws, runtime.store)

    # When the same jobs are sent through it
    def send(process: WorkerProcess) -> None:
        send_jobs(process.broker, integration_id)

    try:
        run_on_worker(config, runtime, send, lambda: all_final(runtime.store))
        outcome = outcome_of(runtime.store, simulator)
    finally:
        close_runtime(runtime)

    # Then the table and the mailboxes are as the Lambda handler left them
    for message_id in MESSAGE_IDS:
        assert outcome.records[message_id] == lambda_outcome.records[message_id], message_id
    for person in PEOPLE:
        assert outcome.mailboxes[person] == lambda_outcome.mailboxes[person], person
