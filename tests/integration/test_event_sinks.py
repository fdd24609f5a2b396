"""Events through both sinks: EventBridge (moto server, a rule forwarding to SQS) and a dramatiq
queue on the real Redis and RabbitMQ, including the sink being down: the events stay pending in
the results table and the sweep, or the worker's background sweep, delivers exactly them later."""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import jsonschema
import pytest
from moto.server import ThreadedMotoServer

from pipeline.aws_clients import aws_client
from pipeline.config import PipelineConfig
from pipeline.contract.booking import ResponseType
from pipeline.contract.schema_export import event_schema_file
from pipeline.events.models import CalendarAttendee, CalendarEventChangedData, PipelineEvent, make_event
from pipeline.events.publisher import EventPublisher, build_event_publisher
from pipeline.events.sinks import EVENTBRIDGE_CLIENT_OPTIONS, DramatiqQueueSink, EventBridgeSink
from pipeline.runtimes.broker import build_broker
from pipeline.runtimes.runtime import Runtime
from pipeline.runtimes.worker import WorkerProcess
from pipeline.store.dynamodb import DynamoDbStore
from tests.integration.brokers import amqp_url, redis_url  # noqa: F401
from tests.integration.event_sink_support import (
    START,
    BusTarget,
    QueueConsumer,
    assert_no_personal_data,
    at_port,
    aws,
    delivered_ids,
    sample_events,
    store,
    table,
    target,
)
from tests.integration.moto_server import moto_endpoint  # noqa: F401
from tests.integration.runtime_support import (
    AwsTestAccount,
    aws_credentials,  # noqa: F401
    clear_shared_broker,
    redis_url_with_namespace,
    wait_for,
)
from tests.integration.tcp_proxy import TcpProxy, free_port
from tests.integration.worker_support import WORKER_TIMEOUT_MS, delete_queue, own_queue_name

__all__ = ["aws", "store", "table", "target"]  # the shared fixtures, re-exported for pytest

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def pending_ids(store: DynamoDbStore) -> set[str]:
    return {event.event_id for event in store.list_pending_events(limit=1000)}


def published(store: DynamoDbStore, events: list[PipelineEvent]) -> bool:
    return all((found := store.get_event(event.event_id)) is not None and found[1] for event in events)


# -- EventBridge -------------------------------------------------------------------------------


def test_eventbridge_delivers_every_event_once_as_its_envelope_in_batches_of_ten(
    aws: AwsTestAccount, table: str, store: DynamoDbStore, target: BusTarget,
) -> None:
    # Given 25 pending events and the publisher PIPELINE_EVENTS_SINK=eventbridge://BUS builds
    events = sample_events(25)
    store.put_events(events)
    config = aws.config(table, events_sink=f"eventbridge://{target.bus_name}")
    publisher = build_event_publisher(config, store)
    assert isinstance(publisher, EventPublisher) and isinstance(publisher.sink, EventBridgeSink)
    batches: list[int] = []
    publisher.sink.client.meta.events.register(
        "provide-client-params.events.PutEvents", lambda params, **_: batches.append(len(params["Entries"])))

    # When they are published
    publisher.publish(events)

    # Then the app's queue got each one once, as the envelope the outbox holds
    received = target.receive(len(events))
    assert sorted(delivered_ids(received)) == sorted(event.event_id for event in events)
    assert batches == [10, 10, 5]
    envelopes = {event.event_id: event.model_dump(mode="json") for event in events}
    for delivery in received:
        detail = delivery["detail"]
        assert detail == envelopes[detail["event_id"]]
        schema = json.loads((SCHEMAS / event_schema_file(detail["type"], detail["version"])).read_text())
        jsonschema.validate(detail, schema)
    assert pending_ids(store) == set()
    assert published(store, events)


def test_eventbridge_counts_only_the_entries_it_accepted(
    aws: AwsTestAccount, table: str, store: DynamoDbStore, target: BusTarget,
) -> None:
    events = sample_events(12)
    store.put_events(events)
    config = aws.config(table, events_sink=f"eventbridge://{target.bus_name}")
    publisher = build_event_publisher(config, store)
    assert publisher is not None
    victim = events[4]

    def corrupt(params: dict[str, Any], **_: Any) -> None:
        # One entry goes out malformed, so that EventBridge refuses it alone (FailedEntryCount 1).
        for entry in params["Entries"]:
            if victim.event_id in entry["Detail"]:
                entry["Detail"] = "{not json"

    client = publisher.sink.client  # type: ignore[attr-defined]
    client.meta.events.register("before-parameter-build.events.PutEvents", corrupt)
    report = publisher.deliver(events)

    assert [(failure.event_id, failure.reason) for failure in report.failed] == [
        (victim.event_id, "MalformedDetail")]
    assert set(delivered_ids(target.receive(11))) == {e.event_id for e in events} - {victim.event_id}
    assert pending_ids(store) == {victim.event_id}

    # Once EventBridge takes it, the sweep sends that one, and only that one
    client.meta.events.unregister("before-parameter-build.events.PutEvents", corrupt)
    assert publisher.sweep(older_than_seconds=0) == 1
    assert delivered_ids(target.receive(1)) == [victim.event_id]
    assert pending_ids(store) == set()


def test_eventbridge_down_keeps_events_pending_until_the_sweep_delivers_exactly_them(
    aws: AwsTestAccount, store: DynamoDbStore, target: BusTarget, caplog: pytest.LogCaptureFixture,
) -> None:
    # Given EventBridge at an address where nothing answers yet
    port = free_port()
    down = dataclasses.replace(aws, endpoint=f"http://127.0.0.1:{port}")
    config = PipelineConfig(aws_region="us-east-1", aws_endpoint_url=down.endpoint)
    sink = EventBridgeSink(target.bus_name, aws_client("events", config, options=EVENTBRIDGE_CLIENT_OPTIONS))
    publisher = EventPublisher(store, sink)
    earlier, missed = sample_events(3), sample_events(3, integration_id="beta")
    store.put_events(earlier + missed)

    # When a job's events are published while it is down
    publisher.publish(missed)  # nothing raised, nothing sent

    # Then nothing is lost (the earlier ones were never published either) or logged that should not be
    assert pending_ids(store) == {event.event_id for event in earlier + missed}
    assert "stay pending" in caplog.text
    assert_no_personal_data(caplog.text)

    # And once EventBridge is back (the same moto state, served on that port), a sweep sends them
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        assert publisher.drain(older_than_seconds=0) == 6
    finally:
        server.stop()
    assert Counter(delivered_ids(target.receive(6))) == Counter(e.event_id for e in earlier + missed)
    assert pending_ids(store) == set()


# -- dramatiq queues ---------------------------------------------------------------------------


@pytest.fixture(params=["redis", "rabbitmq"])
def events_broker_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A broker URL of the test's own (a Redis namespace, or the RabbitMQ server)."""
    if request.param == "redis":
        url = redis_url_with_namespace(request.getfixturevalue("redis_url"), "events")
        yield url
        clear_shared_broker(url)
    else:
        yield request.getfixturevalue("amqp_url")


@pytest.fixture
def events_queue(events_broker_url: str) -> Iterator[str]:
    name = own_queue_name()
    yield name
    if events_broker_url.startswith("amqp"):
        delete_queue(events_broker_url, name)


def test_the_queue_sink_delivers_one_message_per_event_to_the_apps_actor(
    aws: AwsTestAccount, table: str, store: DynamoDbStore, events_broker_url: str, events_queue: str,
) -> None:
    events = sample_events(7)
    store.put_events(events)
    config = aws.config(table, broker_url=events_broker_url, events_sink=f"dramatiq://{events_queue}")
    publisher = build_event_publisher(config, store)
    assert publisher is not None and isinstance(publisher.sink, DramatiqQueueSink)

    with QueueConsumer(events_broker_url, events_queue).running() as app:
        publisher.publish(events)
        wait_for(lambda: len(app.ids()) >= len(events), what="the app's actor got every event")

    assert Counter(app.ids()) == Counter(event.event_id for event in events)
    assert app.received == [event.model_dump(mode="json") for event in events]  # in order, as stored
    assert pending_ids(store) == set()
    publisher.close()


def test_a_broker_that_refuses_keeps_events_pending_for_the_sweep_on_the_real_one(
    aws: AwsTestAccount, table: str, store: DynamoDbStore, events_broker_url: str, events_queue: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given the same kind of broker, at a port that refuses connections
    refusing = at_port(events_broker_url, free_port())
    events = sample_events(4)
    store.put_events(events)
    down = EventPublisher(store, DramatiqQueueSink(build_broker(refusing, make_global=False), events_queue))

    # When the events are published
    down.publish(events)

    # Then they stay pending, and the sweep of a publisher on the running broker delivers them
    assert pending_ids(store) == {event.event_id for event in events}
    assert_no_personal_data(caplog.text)
    config = aws.config(table, broker_url=events_broker_url, events_sink=f"dramatiq://{events_queue}")
    up = build_event_publisher(config, store)
    assert up is not None
    with QueueConsumer(events_broker_url, events_queue).running() as app:
        assert up.sweep(older_than_seconds=0) == len(events)
        wait_for(lambda: len(app.ids()) >= len(events), what="the swept events reached the app")
    assert Counter(app.ids()) == Counter(event.event_id for event in events)
    up.close()


def test_the_worker_sweeps_events_its_inline_publish_missed_once_the_broker_is_back(
    aws: AwsTestAccount, table: str, store: DynamoDbStore, redis_url: str,  # noqa: F811
) -> None:
    # Given a worker whose events go to Redis through a connection that is down
    url = redis_url_with_namespace(redis_url, "sweep")
    events_queue = own_queue_name()
    proxy = TcpProxy(upstream_port=urlparse(url).port or 6379)
    proxied = at_port(url, proxy.port)
    config = aws.config(table, broker_url=url, events_sink=f"dramatiq://{events_queue}",
                        events_sweep_interval_seconds=1, events_sweep_age_seconds=0)
    runtime = Runtime.from_config(config)
    assert runtime.events is not None
    runtime.events.close()
    runtime = dataclasses.replace(runtime, store=store, events=EventPublisher(
        store, DramatiqQueueSink(build_broker(proxied, make_global=False), events_queue)))
    events = sample_events(6)
    store.put_events(events)
    assert runtime.events is not None
    runtime.events.publish(events)  # what the runner does after a job: fails, nothing raised
    process = WorkerProcess(config, threads=1, runtime=runtime, queue_name=own_queue_name(),
                            worker_timeout_ms=WORKER_TIMEOUT_MS)
    assert process.sweeper is not None
    try:
        with QueueConsumer(url, events_queue).running() as app:
            process.start()
            wait_for(lambda: process.sweeper is not None and process.sweeper.running, what="sweeper started")
            time.sleep(2.5)  # two sweeps while Redis is out of reach: the events wait in the table
            assert pending_ids(store) == {event.event_id for event in events}

            # When Redis is reachable again
            proxy.start()

            # Then the background sweep delivers exactly the missed events
            wait_for(lambda: published(store, events), what="the sweep published the missed events")
            wait_for(lambda: len(app.ids()) >= len(events), what="the app got them")
        assert Counter(app.ids()) == Counter(event.event_id for event in events)
    finally:
        process.stop(timeout_ms=5_000)
        proxy.stop()
        runtime.events.close()
        runtime.gateways.close_all()  # type: ignore[attr-defined]
        clear_shared_broker(url)

    # And shutting the worker down stopped the sweep
    assert not process.sweeper.running



def test_a_worker_leaves_the_events_queue_on_its_broker_to_the_app(
    aws: AwsTestAccount, table: str, store: DynamoDbStore, redis_url: str,  # noqa: F811
) -> None:
    # Given events waiting on the app's queue, on the broker the worker's jobs come from
    url = redis_url_with_namespace(redis_url, "own-queues")
    events_queue = own_queue_name()
    config = aws.config(table, broker_url=url, events_sink=f"dramatiq://{events_queue}")
    jobs_queue = own_queue_name()
    process = WorkerProcess(config, threads=1, queue_name=jobs_queue, worker_timeout_ms=WORKER_TIMEOUT_MS)
    runtime = process.runtime()  # its events go through the worker's broker, which declares their queue
    events = sample_events(5)
    store.put_events(events)
    assert runtime.events is not None
    runtime.events.publish(events)
    try:
        # When the worker runs
        process.start()
        wait_for(lambda: len(process.worker.consumers) >= 2, what="the worker's consumers started")
        time.sleep(1)  # time to take messages off a queue it consumed, were it consuming the events queue

        # Then it consumes only its jobs queue, and the app gets every event
        assert {name.removesuffix(".DQ") for name in process.worker.consumers} == {jobs_queue}
        with QueueConsumer(url, events_queue).running() as app:
            wait_for(lambda: len(app.ids()) >= len(events), what="the app got every event")
        assert Counter(app.ids()) == Counter(event.event_id for event in events)
    finally:
        process.stop(timeout_ms=5_000)
        runtime.events.close()
        runtime.gateways.close_all()  # type: ignore[attr-defined]
        clear_shared_broker(url)


def test_an_event_eventbridge_can_never_take_is_marked_failed_not_retried(
    aws: AwsTestAccount, table: str, store: DynamoDbStore, target: BusTarget,
) -> None:
    # A synced meeting with thousands of attendees is over PutEvents' 256 KiB for one entry.
    invited = [CalendarAttendee(email=f"person-{i}@example.com", response=ResponseType.NONE)
               for i in range(5000)]
    huge = make_event(
        CalendarEventChangedData(mailbox="alice@example.com", item_id="AAMk-huge", start=None, end=None,
                                 free_busy_status="Busy", is_private=False, attendees=invited),
        integration_id="acme", occurred_at=START, cause="huge")
    events = [huge, *sample_events(2)]
    store.put_events(events)
    config = aws.config(table, events_sink=f"eventbridge://{target.bus_name}")
    publisher = build_event_publisher(config, store)
    assert publisher is not None

    assert publisher.sweep(older_than_seconds=0) == 2

    assert pending_ids(store) == set()  # not in the way of the next sweep's oldest-first page
    stored = store.get_event(huge.event_id)
    assert stored is not None and stored[1] is False  # kept, never published
    assert publisher.sweep(older_than_seconds=0) == 0
