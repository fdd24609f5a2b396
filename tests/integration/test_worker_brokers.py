"""The worker (`ews-pipeline worker`'s WorkerProcess) on real Redis, RabbitMQ and SQS (moto server),
running jobs against the simulator over HTTP: successes, a throttled request retried no sooner
than the server's BackOffMilliseconds, and a permanent error that is never retried."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime

import pytest

from infra.ewssim import EwsSimulator
from pipeline.client import PipelineClient
from pipeline.errors import ErrorCode
from pipeline.runtimes.broker import MIN_BACKOFF_MS
from pipeline.runtimes.runtime import Runtime
from pipeline.runtimes.worker import WorkerProcess
from pipeline.store.records import JobStatus
from tests.integration.brokers import amqp_url, redis_url, sqs_url  # noqa: F401
from tests.integration.moto_server import FAKE_KEY_ID, FAKE_SECRET, REGION, moto_endpoint  # noqa: F401
from tests.integration.worker_support import (
    ALICE,
    BOB,
    CAROL,
    ROOM_A,
    WORKER_TIMEOUT_MS,
    WorkerStack,
    as_json,
    book,
    booked_events,
    booking,
    build_stack,
    delete_queue,
    free_busy,
    invitations,
    own_queue_name,
    send,
)

BROKERS = ["redis", "rabbitmq", "sqs"]
THROTTLE_BACK_OFF_MS = 1500


@pytest.fixture
def stack(sim: EwsSimulator, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> WorkerStack:  # noqa: F811
    # The in-process Runtime builds its boto3 clients from the environment.
    for name, value in {"AWS_ACCESS_KEY_ID": FAKE_KEY_ID, "AWS_SECRET_ACCESS_KEY": FAKE_SECRET,
                        "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return build_stack(sim, moto_endpoint)


@pytest.fixture(params=BROKERS)
def broker_url(request: pytest.FixtureRequest) -> str:
    fixture = {"redis": "redis_url", "rabbitmq": "amqp_url", "sqs": "sqs_url"}[request.param]
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
def worker(stack: WorkerStack, broker_url: str) -> Iterator[WorkerProcess]:
    """A started worker with 4 threads on a queue of the test's own; stopped gracefully after."""
    config = stack.config(broker_url, worker_concurrency=4)
    runtime = Runtime.from_config(config)
    queue_name = own_queue_name()
    process = WorkerProcess(config, threads=4, runtime=runtime, queue_name=queue_name,
                            worker_timeout_ms=WORKER_TIMEOUT_MS)
    process.start()
    yield process
    process.stop(timeout_ms=20_000)
    delete_queue(broker_url, queue_name)
    runtime.gateways.close_all()  # type: ignore[attr-defined]


@pytest.fixture
def client(worker: WorkerProcess) -> PipelineClient:
    queue_name = next(iter(worker.actors.values())).queue_name
    return PipelineClient(worker.broker, queue_name=queue_name)


def test_bookings_and_free_busy_jobs_run_to_success(
    stack: WorkerStack, worker: WorkerProcess, client: PipelineClient
) -> None:
    integration_id = stack.install("personal")
    bookings = {"b-alice": (ALICE, [BOB, ROOM_A]), "b-bob": (BOB, [CAROL]), "b-carol": (CAROL, [ALICE, BOB])}
    message_ids: list[str] = []
    for slot, (key, (organiser, attendees)) in enumerate(bookings.items()):
        message_ids += book(client, booking(integration_id, organiser, key, attendees, slot=slot))
    free_busy_ids = [send(client, "fetch_free_busy", free_busy(integration_id, [ALICE, BOB, CAROL])),
                     send(client, "fetch_free_busy", free_busy(integration_id, [BOB]))]

    records = stack.wait_until_final([*message_ids, *free_busy_ids])

    first_time = all(r.status is JobStatus.SUCCEEDED and r.attempts == 1 for r in records.values())
    assert first_time, as_json(records)
    assert booked_events(stack.sim, [ALICE, BOB, CAROL]) == {key: 1 for key in bookings}
    for key, (_, attendees) in bookings.items():
        for attendee in attendees:
            assert invitations(stack.sim, attendee)[f"Booking {key}"] == 1, (key, attendee)
    everyone = records[free_busy_ids[0]].result
    assert everyone is not None
    looked_up = [(m["email"], m["error"]) for m in everyone["mailboxes"]]
    assert looked_up == [(ALICE, None), (BOB, None), (CAROL, None)]


def test_a_throttled_request_is_retried_after_the_servers_back_off(
    stack: WorkerStack, worker: WorkerProcess, client: PipelineClient
) -> None:
    integration_id = stack.install("personal")
    stack.sim.faults.fail("server_busy", operation="CreateItem", count=1, back_off_ms=THROTTLE_BACK_OFF_MS)

    create_id, invite_id = book(client, booking(integration_id, ALICE, "throttled", [BOB]))
    records = stack.wait_until_final([create_id, invite_id])

    created, invited = records[create_id], records[invite_id]
    assert created.status is JobStatus.SUCCEEDED and created.attempts == 2, as_json(records)
    assert invited.status is JobStatus.SUCCEEDED and invited.attempts == 1, as_json(records)
    throttled, served = stack.sim.request_log("CreateItem")
    assert (throttled.code, served.code) == ("ErrorServerBusy", "NoError")
    waited = datetime.fromisoformat(served.time) - datetime.fromisoformat(throttled.time)
    assert waited.total_seconds() * 1000 >= THROTTLE_BACK_OFF_MS
    assert booked_events(stack.sim, [ALICE]) == {"throttled": 1}
    assert invitations(stack.sim, BOB) == {"Booking throttled": 1}


def test_a_permanent_error_is_recorded_once_and_never_retried(
    stack: WorkerStack, worker: WorkerProcess, client: PipelineClient
) -> None:
    # In the standard organisation svc may only see bob's free/busy: Exchange denies the write.
    integration_id = stack.install("delegate")
    create_id, invite_id = book(client, booking(integration_id, BOB, "denied", [CAROL]))

    [failed] = stack.wait_until_final([create_id]).values()
    # A retry would come after at least the minimum back-off: give it that chance twice over.
    time.sleep(2 * MIN_BACKOFF_MS / 1000)

    failed = stack.store.get_job(create_id) or failed
    assert failed.status is JobStatus.FAILED and failed.attempts == 1
    assert failed.error_code is ErrorCode.ACCESS_DENIED
    assert failed.error_retryable is False
    assert stack.sim.request_counts() == {"CreateItem": 1}
    # The pipeline stops at the failed step: send_invite is never enqueued.
    assert stack.store.get_job(invite_id) is None
