"""What the sinks send, without a network: dramatiq messages on an in-process StubBroker, PutEvents
batches on moto in process, and the raw shapes and rule docs/events.md shows."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import dramatiq
import jsonschema
import pytest
from dramatiq.brokers.stub import StubBroker
from moto import mock_aws

from pipeline.config import PipelineConfig
from pipeline.contract.schema_export import event_schema_file, render_schemas
from pipeline.events.models import (
    CalendarAttendee,
    CalendarEventChangedData,
    PipelineEvent,
    make_event,
    typed_event,
)
from pipeline.events.publisher import build_event_sink
from pipeline.events.sinks import (
    DEFAULT_EVENTS_QUEUE,
    ENTRY_TOO_LARGE,
    EVENT_ACTOR_NAME,
    EVENT_SOURCE,
    PUT_EVENTS_MAX_BYTES,
    DramatiqQueueSink,
    EventBridgeSink,
)
from pipeline.exchange.calendar_items import ResponseType

DOC = (Path(__file__).resolve().parents[2] / "docs" / "events.md").read_text()
JSON_BLOCKS = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", DOC, re.S)]


def calendar_event(n: int, attendees: int = 1) -> PipelineEvent:
    """A calendar.event_changed event whose size grows with its attendees (about 60 bytes each)."""
    invited = [CalendarAttendee(email=f"person-{i}@example.com", response=ResponseType.NONE)
               for i in range(attendees)]
    data = CalendarEventChangedData(
        mailbox="alice@example.com", item_id=f"AAMk-{n}", start=None, end=None, free_busy_status="Busy",
        is_private=False, attendees=invited)
    return make_event(data, integration_id="acme", occurred_at=datetime(2026, 11, 3, tzinfo=UTC),
                      cause=f"m-{n}")


# -- dramatiq ----------------------------------------------------------------------------------


def test_the_queue_sink_sends_one_ews_event_message_per_event() -> None:
    broker = StubBroker()
    broker.declare_queue(DEFAULT_EVENTS_QUEUE)
    events = [calendar_event(n) for n in range(3)]

    report = DramatiqQueueSink(broker).send(events)

    assert report.accepted == tuple(event.event_id for event in events) and report.failed == ()
    messages = [dramatiq.Message.decode(raw) for raw in broker.queues[DEFAULT_EVENTS_QUEUE].queue]
    assert [(m.queue_name, m.actor_name, m.args) for m in messages] == [
        (DEFAULT_EVENTS_QUEUE, EVENT_ACTOR_NAME, ())] * 3
    assert [m.kwargs for m in messages] == [{"event": event.model_dump(mode="json")} for event in events]
    assert len({m.message_id for m in messages}) == 3


def test_a_queue_the_broker_refuses_fails_every_event_without_raising() -> None:
    events = [calendar_event(n) for n in range(2)]

    report = DramatiqQueueSink(StubBroker(), "undeclared").send(events)

    assert report.accepted == ()
    assert [(f.event_id, f.reason) for f in report.failed] == [(e.event_id, "QueueNotFound") for e in events]


def test_the_documented_raw_message_is_what_the_queue_sink_sends() -> None:
    [envelope] = [block for block in JSON_BLOCKS if "event_id" in block and "data" in block]
    [raw] = [block for block in JSON_BLOCKS if block.get("actor_name") == EVENT_ACTOR_NAME]
    message = dramatiq.Message.decode(json.dumps(raw).encode())
    event = PipelineEvent.model_validate(envelope)

    assert (message.queue_name, message.actor_name) == (DEFAULT_EVENTS_QUEUE, EVENT_ACTOR_NAME)
    assert message.kwargs == {"event": envelope}
    assert DramatiqQueueSink(StubBroker()).message(event).kwargs == message.kwargs
    typed_event(envelope)
    schema = json.loads(render_schemas()[event_schema_file(envelope["type"], envelope["version"])])
    jsonschema.validate(envelope, schema)


# -- EventBridge -------------------------------------------------------------------------------


@pytest.fixture
def bridge(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, list[int]]]:
    """An events client on moto with a bus "apps", and the entry count of each PutEvents call."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("events", region_name="us-east-1")
        client.create_event_bus(Name="apps")
        calls: list[int] = []
        client.meta.events.register("provide-client-params.events.PutEvents",
                                    lambda params, **_: calls.append(len(params["Entries"])))
        yield client, calls


def test_an_entry_is_the_envelope_under_the_pipelines_source_and_the_events_type() -> None:
    event = calendar_event(1)

    entry = EventBridgeSink("apps", client=None).entry(event)

    assert entry == {"EventBusName": "apps", "Source": EVENT_SOURCE, "DetailType": "calendar.event_changed",
                     "Detail": event.model_dump_json(), "Time": event.occurred_at}
    assert json.loads(entry["Detail"]) == event.model_dump(mode="json")


def test_batches_hold_at_most_ten_entries_and_256_kib(bridge: tuple[Any, list[int]]) -> None:
    client, calls = bridge
    small = [calendar_event(n) for n in range(12)]
    # About 95 KiB each: two fit in a request, three do not.
    large = [calendar_event(100 + n, attendees=1800) for n in range(3)]
    assert 2 * len(large[0].model_dump_json()) < PUT_EVENTS_MAX_BYTES < 3 * len(large[0].model_dump_json())

    report = EventBridgeSink("apps", client).send(small + large)

    assert report.failed == ()
    assert report.accepted == tuple(e.event_id for e in small + large)  # in order
    assert calls == [10, 4, 1]


def test_an_event_too_large_for_eventbridge_is_refused_alone(bridge: tuple[Any, list[int]]) -> None:
    client, calls = bridge
    too_large = calendar_event(1, attendees=5000)
    fine = calendar_event(2)

    report = EventBridgeSink("apps", client).send([too_large, fine])

    assert [(f.event_id, f.reason) for f in report.failed] == [(too_large.event_id, ENTRY_TOO_LARGE)]
    assert report.accepted == (fine.event_id,) and calls == [1]


def test_a_request_that_fails_fails_its_batch_and_the_rest(bridge: tuple[Any, list[int]]) -> None:
    client, calls = bridge
    events = [calendar_event(n) for n in range(15)]

    report = EventBridgeSink("no-such-bus", client).send(events)

    assert report.accepted == ()
    assert {f.reason for f in report.failed} == {"ResourceNotFoundException"}
    assert [f.event_id for f in report.failed] == [e.event_id for e in events]
    assert calls == [10]  # not asked again at once


def test_the_configured_queue_sink_declares_its_queue_on_an_in_process_broker() -> None:
    from pipeline.config import PipelineConfig

    sink = DramatiqQueueSink.from_config(PipelineConfig(events_sink="dramatiq://app-events"))
    event = calendar_event(1)

    assert sink.send([event]).accepted == (event.event_id,)
    assert isinstance(sink.broker, StubBroker) and len(sink.broker.queues["app-events"].queue) == 1
    # The process's own broker is left alone (read without get_broker, which would make one).
    assert dramatiq.broker.global_broker is not sink.broker


def test_the_documented_eventbridge_rule_is_a_valid_template() -> None:
    from cfnlint.api import ManualArgs, lint

    [block] = re.findall(r"```yaml\n(.*?)```", DOC, re.S)
    template = "AWSTemplateFormatVersion: '2010-09-09'\n" + block
    problems = lint(template, config=ManualArgs(regions=["us-east-1"]))

    assert [f"{p.rule.id} line {p.linenumber}: {p.message}" for p in problems] == []
    assert "source: [ews-pipeline]" in block and EVENT_SOURCE == "ews-pipeline"


def test_a_worker_lends_its_own_broker_to_a_queue_sink_and_keeps_it_open() -> None:
    # With stub:// a sink connecting a broker of its own would publish where nothing can consume.
    broker = StubBroker()
    config = PipelineConfig(broker_url="stub://", events_sink=f"dramatiq://{DEFAULT_EVENTS_QUEUE}")

    sink = build_event_sink(config, broker)
    assert isinstance(sink, DramatiqQueueSink) and sink.broker is broker
    sink.send([calendar_event(1)])
    sink.close()

    [message] = broker.queues[DEFAULT_EVENTS_QUEUE].queue
    assert message is not None
    broker.enqueue(sink.message(calendar_event(2)))  # still open: the worker's to close
