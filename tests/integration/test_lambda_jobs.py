"""The Lambda job handler on SQS events built from real messages, against moto and the simulator.

Messages are sent by an SqsFifoBroker to a FIFO queue on the moto server and received as the
event source mapping receives them, so receipt handles are real and ChangeMessageVisibility,
de-duplication and the dead-letter queue behave as SQS does. The handler is handlers.jobs as
deployed, built from its environment (Runtime on moto DynamoDB and Secrets Manager).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import dramatiq
import pytest

from infra.ewssim import EwsSimulator, FaultKind
from pipeline.client import PipelineClient
from pipeline.contract import JobStatus
from pipeline.errors import ErrorCode
from pipeline.runtimes.actors import JOBS_QUEUE
from pipeline.runtimes.lambda_runtime import DEFAULT_MAX_RECEIVE_COUNT
from pipeline.store.base import ResultsStore
from pipeline.store.records import JobRecord
from tests.integration.event_support import ALICE, BOB, CAROL, MEETING_REQUEST, ROOM_A, booking, messages
from tests.integration.moto_server import moto_endpoint
from tests.integration.runtime_support import (
    AwsTestAccount,
    JobHandler,
    LambdaQueue,
    aws_credentials,
    deliver,
    failed_item_ids,
    install_integration,
    lambda_job_handler,
    sqs_event,
    wait_for,
)

__all__ = ["aws_credentials", "moto_endpoint"]  # fixtures, re-exported for pytest

# Small enough that a test waits for it, large enough to tell it from "visible at once".
BACK_OFF_MS = 2000
# The queue's maxReceiveCount here; the handler is told the same through its environment.
MAX_RECEIVE_COUNT = 3
FREE_BUSY_DAY = datetime(2026, 11, 4, tzinfo=UTC)


@dataclass
class LambdaSetup:
    sim: EwsSimulator
    queue: LambdaQueue
    handler: JobHandler
    store: ResultsStore
    integration_id: str

    @property
    def client(self) -> PipelineClient:
        return PipelineClient(self.queue.broker, queue_name=JOBS_QUEUE)

    def record(self, message_id: str) -> JobRecord:
        record = self.store.get_job(message_id)
        assert record is not None, f"no job record for {message_id}"
        return record


@pytest.fixture
def lambda_jobs(
    sim: EwsSimulator, moto_endpoint: str, aws_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LambdaSetup]:
    import handlers.jobs

    aws = AwsTestAccount(moto_endpoint)
    table = aws.new_table()
    queue = LambdaQueue.create(aws, max_receive_count=MAX_RECEIVE_COUNT)
    environ = aws.environ(table, queue.broker_url, PIPELINE_MAX_RECEIVE_COUNT=str(MAX_RECEIVE_COUNT))
    with lambda_job_handler(environ, monkeypatch) as handler:
        store = handlers.jobs._processor().runtime.store
        integration_id = install_integration(sim, aws, store)
        yield LambdaSetup(sim, queue, handler, store, integration_id)


def dramatiq_id(message: dict[str, Any]) -> str:
    """The job's message_id inside an event record's or a received message's body."""
    return str(json.loads(message["body"] if "body" in message else message["Body"])["message_id"])


def free_busy(integration_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "integration_id": integration_id,
        "mailboxes": [ALICE, BOB],
        "start": FREE_BUSY_DAY.isoformat(),
        "end": (FREE_BUSY_DAY + timedelta(days=1)).isoformat(),
        **overrides,
    }


def raw_message(actor_name: str, kwargs: dict[str, Any], message_id: str) -> dramatiq.Message[Any]:
    """A message that skipped the client's validation, as an app in another language might send."""
    return dramatiq.Message(queue_name=JOBS_QUEUE, actor_name=actor_name, args=(), kwargs=kwargs,
                            options={}, message_id=message_id)


def send_booking(setup: LambdaSetup, booking_key: str, *, message_id: str, invite_id: str) -> None:
    """The booking pipeline: create_event | send_invite (pipe_ignore), as PipelineClient.book sends it."""
    client = setup.client
    create = client.message("create_event", booking(setup.integration_id, booking_key), message_id=message_id)
    invite = client.message(
        "send_invite",
        {"integration_id": setup.integration_id, "mailbox": ALICE, "booking_key": booking_key},
        message_id=invite_id, pipe_ignore=True,
    )
    dramatiq.pipeline([create, invite], broker=setup.queue.broker).run()


def assert_failed(record: JobRecord, code: ErrorCode, *, retryable: bool) -> None:
    assert record.status is (JobStatus.RETRYING if retryable else JobStatus.FAILED), record
    assert (record.error_code, record.error_retryable) == (code, retryable), record


# -- a mixed batch -------------------------------------------------------------------------------


@dataclass
class MixedBatch:
    """One invocation with a success, two permanent failures, a transient one and garbage."""

    event: dict[str, Any]
    response: dict[str, Any]
    sqs_ids: dict[str, str]  # job message_id (or "garbage") -> SQS message id
    invoked_at: float


@pytest.fixture
def mixed_batch(lambda_jobs: LambdaSetup) -> MixedBatch:
    setup = lambda_jobs
    # Given one batch: a booking pipeline's create_event (alice's group), list_rooms hitting a
    # throttled server (the integration's group), an unknown integration, invalid kwargs and a
    # body that is not a dramatiq message, each in a message group of its own
    send_booking(setup, "mixed:1", message_id="create-1", invite_id="invite-1")
    setup.queue.broker.enqueue(setup.client.message("list_rooms", {"integration_id": setup.integration_id},
                                                    message_id="rooms-1"))
    setup.queue.broker.enqueue(setup.client.message("fetch_free_busy", free_busy("no-such-integration"),
                                                    message_id="unknown-1"))
    setup.queue.broker.enqueue(raw_message("fetch_free_busy", free_busy("kwargs-group", mailboxes=[]),
                                           message_id="invalid-1"))
    setup.queue.send_raw("not json", group_id="garbage")
    setup.sim.faults.fail(FaultKind.SERVER_BUSY, operation="GetRoomLists", count=1, back_off_ms=BACK_OFF_MS)

    received = setup.queue.receive()
    assert len(received) == 5, "the event source mapping would hand all five over in one batch"
    event = sqs_event(received, setup.queue.arn)
    sqs_ids = {
        ("garbage" if r["body"] == "not json" else dramatiq_id(r)): r["messageId"] for r in event["Records"]
    }

    # When the handler runs the batch and the event source mapping settles it
    invoked_at = time.monotonic()
    response = setup.handler(event)
    setup.queue.settle(event, response)
    return MixedBatch(event, response, sqs_ids, invoked_at)


def test_only_the_transient_failure_is_reported_for_redelivery(mixed_batch: MixedBatch) -> None:
    assert mixed_batch.response == {"batchItemFailures": [{"itemIdentifier": mixed_batch.sqs_ids["rooms-1"]}]}


def test_each_record_of_a_mixed_batch_gets_its_outcome(
    lambda_jobs: LambdaSetup, mixed_batch: MixedBatch
) -> None:
    setup = lambda_jobs
    created = setup.record("create-1")
    assert created.status is JobStatus.SUCCEEDED, created
    assert created.result is not None and created.result["created"] is True
    assert_failed(setup.record("rooms-1"), ErrorCode.SERVER_BUSY, retryable=True)
    assert_failed(setup.record("unknown-1"), ErrorCode.UNKNOWN_INTEGRATION, retryable=False)
    assert_failed(setup.record("invalid-1"), ErrorCode.INVALID_KWARGS, retryable=False)
    # The undecodable body has no message_id of its own: it is recorded under its SQS id
    garbage = setup.record(f"sqs:{mixed_batch.sqs_ids['garbage']}")
    assert_failed(garbage, ErrorCode.INVALID_MESSAGE, retryable=False)
    assert setup.queue.dead_letter_bodies() == ["not json"]
    assert [item["subject"] for item in setup.sim.calendar(ALICE)] == ["Interview: Dana Diaz"]


def test_permanent_failures_are_not_delivered_again(
    lambda_jobs: LambdaSetup, mixed_batch: MixedBatch
) -> None:
    setup = lambda_jobs
    # Then only the pipeline's next step is on the queue at once (rooms-1 waits out its back-off)
    assert [dramatiq_id(m) for m in setup.queue.receive()] == ["invite-1"]
    # and nothing else is left on it but those two, both in flight
    assert setup.queue.counts() == {"ApproximateNumberOfMessages": 0,
                                    "ApproximateNumberOfMessagesNotVisible": 2}
    assert setup.record("unknown-1").attempts == 1
    assert setup.record("invalid-1").attempts == 0  # rejected before it began


def test_a_transient_failure_comes_back_after_the_servers_back_off(
    lambda_jobs: LambdaSetup, mixed_batch: MixedBatch
) -> None:
    setup = lambda_jobs
    # The event source mapping hid the batch for two minutes; the handler shortened the throttled
    # record's hiding to BackOffMilliseconds, so it is back after about two seconds
    returned: list[dict[str, Any]] = []

    def rooms_returned() -> bool:
        returned.extend(m for m in setup.queue.receive() if dramatiq_id(m) == "rooms-1")
        return bool(returned)

    wait_for(rooms_returned, what="rooms-1 redelivered")
    assert time.monotonic() - mixed_batch.invoked_at >= BACK_OFF_MS / 1000
    [again] = returned
    assert again["Attributes"]["ApproximateReceiveCount"] == "2"

    # And the retry succeeds as the job's second attempt
    response = setup.handler(sqs_event(returned, setup.queue.arn))
    assert response == {"batchItemFailures": []}
    record = setup.record("rooms-1")
    assert (record.status, record.attempts) == (JobStatus.SUCCEEDED, 2)
    assert record.result is not None and len(record.result["room_lists"]) == 2


def test_a_successful_pipeline_step_enqueues_the_next(
    lambda_jobs: LambdaSetup, mixed_batch: MixedBatch
) -> None:
    setup = lambda_jobs
    # When the send_invite the handler enqueued is delivered in its turn
    event, response = deliver(setup.queue, setup.handler)
    assert [dramatiq_id(r) for r in event["Records"]] == ["invite-1"]
    assert event["Records"][0]["attributes"]["MessageGroupId"] == ALICE
    assert response == {"batchItemFailures": []}

    # Then the invitations went out once, from alice's event
    invited = setup.record("invite-1")
    assert invited.status is JobStatus.SUCCEEDED, invited
    assert invited.result is not None and set(invited.result["sent_to"]) == {BOB, CAROL, ROOM_A}
    for person in (BOB, CAROL, ROOM_A):
        assert len(messages(setup.sim, person, MEETING_REQUEST)) == 1, person


def test_a_redelivered_pipeline_step_does_not_write_again(lambda_jobs: LambdaSetup) -> None:
    setup = lambda_jobs
    send_booking(setup, "again:1", message_id="create-2", invite_id="invite-2")
    first = setup.queue.receive()
    # Given the step ran, but its invocation's outcome was lost (the message comes back)
    assert setup.handler(sqs_event(first, setup.queue.arn)) == {"batchItemFailures": []}
    setup.queue.client.change_message_visibility(
        QueueUrl=setup.queue.url, ReceiptHandle=first[0]["ReceiptHandle"], VisibilityTimeout=0
    )
    counts_before = Counter(setup.sim.request_counts())

    # When it is delivered again, ahead of the next step it enqueued
    event, response = deliver(setup.queue, setup.handler)

    # Then the event is not written again, the next step runs once, and nothing is left over
    assert [dramatiq_id(r) for r in event["Records"]] == ["create-2", "invite-2"]
    assert response == {"batchItemFailures": []}
    assert Counter(setup.sim.request_counts()) - counts_before == {"UpdateItem": 1}
    assert [setup.record(job).attempts for job in ("create-2", "invite-2")] == [1, 1]
    assert len(messages(setup.sim, BOB, MEETING_REQUEST)) == 1
    assert setup.queue.receive() == []


# -- FIFO message groups -------------------------------------------------------------------------


def test_a_transient_failure_holds_back_its_group_but_not_the_others(lambda_jobs: LambdaSetup) -> None:
    setup = lambda_jobs
    client = setup.client
    # Given alice's two bookings (group alice) interleaved with two integration-wide jobs
    # (group of the integration), and a throttled server for alice's first CreateItem
    sends = [
        client.message("create_event", booking(setup.integration_id, "fifo:1"), message_id="a-1"),
        client.message("list_rooms", {"integration_id": setup.integration_id}, message_id="b-1"),
        client.message("create_event", booking(setup.integration_id, "fifo:2"), message_id="a-2"),
        client.message("fetch_free_busy", free_busy(setup.integration_id), message_id="b-2"),
    ]
    for message in sends:
        setup.queue.broker.enqueue(message)
    setup.sim.faults.fail(FaultKind.SERVER_BUSY, operation="CreateItem", count=1, back_off_ms=BACK_OFF_MS)

    # When one invocation gets all four
    event, response = deliver(setup.queue, setup.handler)
    sqs_ids = {dramatiq_id(r): r["messageId"] for r in event["Records"]}
    assert list(sqs_ids) == ["a-1", "b-1", "a-2", "b-2"]

    # Then alice's later booking is reported failed without running; the other group succeeds
    assert response["batchItemFailures"] == [{"itemIdentifier": sqs_ids["a-1"]},
                                             {"itemIdentifier": sqs_ids["a-2"]}]
    assert_failed(setup.record("a-1"), ErrorCode.SERVER_BUSY, retryable=True)
    assert setup.store.get_job("a-2") is None
    assert all(setup.record(job).status is JobStatus.SUCCEEDED for job in ("b-1", "b-2"))
    assert setup.sim.calendar(ALICE) == []

    # And after the back-off alice's group comes back whole and in order, and both bookings land
    retried: list[str] = []

    def group_back() -> bool:
        event, response = deliver(setup.queue, setup.handler)
        assert response == {"batchItemFailures": []}
        retried.extend(dramatiq_id(r) for r in event["Records"])
        return len(retried) >= 2

    wait_for(group_back, what="alice's group redelivered")
    assert retried == ["a-1", "a-2"]
    assert [setup.record(job).attempts for job in ("a-1", "a-2")] == [2, 1]
    assert sorted(item["subject"] for item in setup.sim.calendar(ALICE)) == ["Interview: Dana Diaz"] * 2


# -- the last receive ----------------------------------------------------------------------------


def test_a_transient_failure_on_the_last_receive_is_recorded_failed_and_dead_lettered(
    lambda_jobs: LambdaSetup,
) -> None:
    setup = lambda_jobs
    # Given a server that stays busy
    setup.queue.broker.enqueue(setup.client.message("list_rooms", {"integration_id": setup.integration_id},
                                                    message_id="rooms-last"))
    setup.sim.faults.fail(FaultKind.SERVER_BUSY, operation="GetRoomLists", back_off_ms=BACK_OFF_MS)

    # When every receive up to the queue's maxReceiveCount fails (each redelivered at once here,
    # instead of after its back-off, to keep the test short)
    for receive in range(1, MAX_RECEIVE_COUNT + 1):
        event, response = deliver(setup.queue, setup.handler)
        [record] = event["Records"]
        assert record["attributes"]["ApproximateReceiveCount"] == str(receive)
        if receive < MAX_RECEIVE_COUNT:
            assert failed_item_ids(response) == {record["messageId"]}
            assert_failed(setup.record("rooms-last"), ErrorCode.SERVER_BUSY, retryable=True)
            setup.queue.client.change_message_visibility(
                QueueUrl=setup.queue.url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0
            )
        else:  # the handler gives up itself: recorded, copied to the DLQ, acknowledged
            assert failed_item_ids(response) == set()

    # Then the last one is recorded failed for good, and SQS moves the message to the DLQ
    last = setup.record("rooms-last")
    assert_failed(last, ErrorCode.SERVER_BUSY, retryable=False)
    assert last.attempts == MAX_RECEIVE_COUNT
    assert setup.queue.receive() == []
    assert [json.loads(body)["message_id"] for body in setup.queue.dead_letter_bodies()] == ["rooms-last"]


def test_json_that_is_not_a_dramatiq_message_is_dead_lettered_once(lambda_jobs: LambdaSetup) -> None:
    setup = lambda_jobs
    setup.queue.send_raw('{"message_id": "x"}', group_id="garbage", deduplication_id="half-a-message")
    event = sqs_event(setup.queue.receive(), setup.queue.arn)

    # When it is handled, and handled again (as if the first invocation had died after recording it)
    responses = [setup.handler(event), setup.handler(event)]

    # Then neither invocation asks SQS for it again, and the dead-letter queue holds it once
    assert responses == [{"batchItemFailures": []}] * 2
    record = setup.record(f"sqs:{event['Records'][0]['messageId']}")
    assert_failed(record, ErrorCode.INVALID_MESSAGE, retryable=False)
    assert setup.queue.dead_letter_bodies() == ['{"message_id": "x"}']


# -- held back behind a failing job --------------------------------------------------------------


def test_a_job_held_back_behind_its_groups_failing_one_is_never_dead_lettered(
    sim: EwsSimulator, moto_endpoint: str, aws_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import handlers.jobs

    # Given the deployed queue's maxReceiveCount (a safety net far above the retry window's
    # attempts), and alice's second booking queued behind a first one the server keeps refusing
    aws = AwsTestAccount(moto_endpoint)
    queue = LambdaQueue.create(aws, max_receive_count=DEFAULT_MAX_RECEIVE_COUNT)
    environ = aws.environ(aws.new_table(), queue.broker_url,
                          PIPELINE_MAX_RECEIVE_COUNT=str(DEFAULT_MAX_RECEIVE_COUNT))
    with lambda_job_handler(environ, monkeypatch) as handler:
        store = handlers.jobs._processor().runtime.store
        integration_id = install_integration(sim, aws, store)
        client = PipelineClient(queue.broker, queue_name=JOBS_QUEUE)
        for key, message_id in (("held:1", "h-1"), ("held:2", "h-2")):
            queue.broker.enqueue(client.message("create_event", booking(integration_id, key),
                                                message_id=message_id))
        sim.faults.fail(FaultKind.HTTP_503, operation="CreateItem")

        # When the first fails more often than the old maxReceiveCount (9) allowed, each time
        # with the second received beside it and held back
        for receive in range(1, 13):
            event, response = deliver(queue, handler)
            assert [dramatiq_id(r) for r in event["Records"]] == ["h-1", "h-2"], receive
            assert len(failed_item_ids(response)) == 2
            for record in event["Records"]:
                queue.client.change_message_visibility(
                    QueueUrl=queue.url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0)

        # Then the second never ran, has no record, and is not in the dead-letter queue
        assert store.get_job("h-2") is None
        assert queue.dead_letter_bodies() == []
        attempts = store.get_job("h-1")
        assert attempts is not None and attempts.attempts == 12  # runs counted, not receives

        # And once Exchange is well, both run in order, once each
        sim.faults.reset()
        event, response = deliver(queue, handler)
        assert response == {"batchItemFailures": []}
        statuses = [getattr(store.get_job(m), "status", None) for m in ("h-1", "h-2")]
        assert statuses == [JobStatus.SUCCEEDED] * 2
