"""Shared by the event sink and stream tests: sample events, where EventBridge delivers them, a
dramatiq consumer as an upstream app writes one, and a TCP proxy that takes a sink down and up.

    target = BusTarget.create(aws)                  # a bus whose rule forwards to an SQS queue
    publisher = EventPublisher(store, EventBridgeSink(target.bus_name, client))
    publisher.publish(events)
    delivered = target.receive(len(events))         # the envelopes, as apps get them
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

import dramatiq
import pytest

from pipeline.errors import ErrorCode
from pipeline.events.models import (
    AttendeeClass,
    AttendeeRespondedData,
    BookingCreatedData,
    EventData,
    JobFailedData,
    PipelineEvent,
    make_event,
    typed_event,
)
from pipeline.events.sinks import EVENT_ACTOR_NAME, EVENT_SOURCE
from pipeline.exchange.calendar_items import ResponseType
from pipeline.runtimes.broker import build_broker
from pipeline.store.dynamodb import DynamoDbStore
from tests.integration.runtime_support import AwsTestAccount, wait_for
from tests.seed import smtp

ALICE, BOB = smtp("alice"), smtp("bob")
# Personal data the events carry and that no log line may show.
PERSONAL = (ALICE, BOB, "Dana Diaz")
START = datetime(2026, 11, 3, 14, 0, tzinfo=UTC)


def sample_events(count: int, integration_id: str = "acme") -> list[PipelineEvent]:
    """`count` events of three types, with personal data in them, one second apart, oldest first."""
    events = []
    for n in range(count):
        booking_key = f"interview-{n}:slot-1"
        data: EventData
        if n % 3 == 0:
            data = BookingCreatedData(mailbox=ALICE, calendar_mailbox=ALICE, item_id=f"AAMk-{n}",
                                      start=START, end=START + timedelta(hours=1))
        elif n % 3 == 1:
            data = AttendeeRespondedData(attendee=BOB, attendee_class=AttendeeClass.INTERNAL,
                                         response=ResponseType.DECLINED, previous_response=ResponseType.NONE)
        else:
            data = JobFailedData(message_id=f"m-{n}", actor_name="send_invite", mailbox=ALICE,
                                 error_code=ErrorCode.ACCESS_DENIED, error_message="Dana Diaz's calendar")
        events.append(make_event(data, integration_id=integration_id, booking_key=booking_key,
                                 occurred_at=START + timedelta(seconds=n), cause=f"m-{n}"))
    return events


@dataclass(frozen=True)
class BusTarget:
    """An EventBridge bus on the moto server whose rule sends every pipeline event to an SQS queue."""

    aws: AwsTestAccount
    bus_name: str
    queue_url: str

    @classmethod
    def create(cls, aws: AwsTestAccount) -> BusTarget:
        name = f"ews-events-{uuid.uuid4().hex[:8]}"
        events, sqs = aws.client("events"), aws.client("sqs")
        events.create_event_bus(Name=name)
        queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"]
        # What docs/events.md tells apps to set up: a rule on the source, a queue as its target.
        events.put_rule(Name=f"{name}-all", EventBusName=name,
                        EventPattern=json.dumps({"source": [EVENT_SOURCE]}))
        events.put_targets(Rule=f"{name}-all", EventBusName=name, Targets=[{"Id": "app", "Arn": queue_arn}])
        return cls(aws, name, queue_url)

    def receive(self, count: int, *, settle_s: float = 0.5) -> list[dict[str, Any]]:
        """The EventBridge events that reached the queue: wait for `count`, then `settle_s` more to
        catch any extra one."""
        received: list[dict[str, Any]] = []

        def poll() -> bool:
            reply = self.aws.client("sqs").receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            for message in reply.get("Messages", []):
                received.append(json.loads(message["Body"]))
                self.aws.client("sqs").delete_message(QueueUrl=self.queue_url,
                                                      ReceiptHandle=message["ReceiptHandle"])
            return len(received) >= count

        wait_for(poll, what=f"{count} events on the app's queue")
        deadline = time.monotonic() + settle_s
        while time.monotonic() < deadline:
            poll()
            time.sleep(0.05)
        return received


def delivered_ids(received: list[dict[str, Any]]) -> list[str]:
    """The event ids of what EventBridge delivered, each checked against its type's model."""
    ids = []
    for delivery in received:
        assert delivery["source"] == EVENT_SOURCE
        event = typed_event(delivery["detail"])
        assert delivery["detail-type"] == delivery["detail"]["type"]
        ids.append(str(event.event_id))  # type: ignore[attr-defined]
    return ids


@dataclass
class QueueConsumer:
    """An upstream app's worker: an `ews_event` actor on the events queue, on its own broker."""

    broker_url: str
    queue_name: str
    received: list[dict[str, Any]] = field(default_factory=list)

    @contextmanager
    def running(self) -> Iterator[QueueConsumer]:
        broker = build_broker(self.broker_url, make_global=False)
        lock = threading.Lock()

        def ews_event(event: dict[str, Any]) -> None:
            typed_event(event)  # what an app would do first: validate against the event's type
            with lock:
                self.received.append(event)

        dramatiq.actor(actor_name=EVENT_ACTOR_NAME, queue_name=self.queue_name, broker=broker)(ews_event)
        worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=100)
        worker.start()
        try:
            yield self
        finally:
            worker.stop(timeout=5_000)
            broker.close()

    def ids(self) -> list[str]:
        return [str(event["event_id"]) for event in self.received]


def at_port(url: str, port: int) -> str:
    """`url` (credentials, path and query kept) pointed at 127.0.0.1:`port`."""
    parsed = urlparse(url)
    credentials = parsed.netloc.rpartition("@")[0]
    return parsed._replace(netloc=f"{credentials + '@' if credentials else ''}127.0.0.1:{port}").geturl()


def assert_no_personal_data(text: str) -> None:
    """Fail when log output shows any of the sample events' personal data."""
    leaked = [value for value in PERSONAL if value.lower() in text.lower()]
    assert not leaked, f"personal data in the logs: {leaked}"


# Fixtures shared by the sink and stream tests (their modules import moto_endpoint and
# aws_credentials, which these build on).


@pytest.fixture
def aws(moto_endpoint: str, aws_credentials: None) -> AwsTestAccount:
    return AwsTestAccount(moto_endpoint)


@pytest.fixture
def table(aws: AwsTestAccount) -> str:
    return aws.new_table()


@pytest.fixture
def store(aws: AwsTestAccount, table: str) -> DynamoDbStore:
    return DynamoDbStore(aws.client("dynamodb"), table)


@pytest.fixture
def target(aws: AwsTestAccount) -> BusTarget:
    return BusTarget.create(aws)
