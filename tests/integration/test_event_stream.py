"""The events function (handlers.events) on records read from the results table's own stream
(moto server, DynamoDB Streams), publishing to EventBridge: new events are sent and marked, every
other record is skipped, a sink that refuses fails only its events' records, and the scheduled
sweep sends what the stream gave up on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from pipeline.errors import ErrorCode
from pipeline.events.models import JobFailedData, PipelineEvent, make_event
from pipeline.events.stream import build_stream_outbox
from pipeline.store.dynamodb import DynamoDbStore
from tests.integration.event_sink_support import (
    ALICE,
    BusTarget,
    assert_no_personal_data,
    aws,
    delivered_ids,
    sample_events,
    store,
    table,
    target,
)
from tests.integration.moto_server import REGION, moto_endpoint  # noqa: F401
from tests.integration.runtime_support import AwsTestAccount, FakeLambdaContext, aws_credentials  # noqa: F401

__all__ = ["aws", "store", "table", "target"]  # the shared fixtures, re-exported for pytest

Handler = Any


class TableStream:
    """The table's stream as the event source mapping reads it: new records since the last read,
    shaped as the Lambda event's records."""

    def __init__(self, aws: AwsTestAccount, table: str) -> None:
        self.aws = aws
        self.arn = aws.client("dynamodb").describe_table(TableName=table)["Table"]["LatestStreamArn"]
        self.seen: set[str] = set()

    def batch(self) -> dict[str, Any]:
        streams = self.aws.client("dynamodbstreams")
        records = []
        for shard in streams.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"]:
            iterator = streams.get_shard_iterator(StreamArn=self.arn, ShardId=shard["ShardId"],
                                                  ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
            for record in streams.get_records(ShardIterator=iterator, Limit=1000)["Records"]:
                sequence = record["dynamodb"]["SequenceNumber"]
                if sequence in self.seen:
                    continue
                self.seen.add(sequence)
                created = record["dynamodb"].get("ApproximateCreationDateTime")
                if isinstance(created, datetime):  # boto3 parses it; Lambda gives epoch seconds
                    record["dynamodb"]["ApproximateCreationDateTime"] = created.timestamp()
                records.append({**record, "eventSourceARN": self.arn})
        return {"Records": json.loads(json.dumps(records))}


@contextmanager
def events_function(aws: AwsTestAccount, table: str, sink: str, monkeypatch: pytest.MonkeyPatch,
                    **extra: str) -> Iterator[Handler]:
    """handlers.events.lambda_handler in a cold container with the deployed environment."""
    import handlers.events

    for name, value in {**aws.environ(table, "stub://"), "PIPELINE_EVENTS_SINK": sink, **extra}.items():
        monkeypatch.setenv(name, value)
    handlers.events._outbox.cache_clear()

    def invoke(event: dict[str, Any]) -> Any:
        context = FakeLambdaContext(function_name="ews-pipeline-events")
        return handlers.events.lambda_handler(event, context)  # type: ignore[arg-type]

    try:
        yield invoke
    finally:
        handlers.events._outbox.cache_clear()


def failed_sequences(response: dict[str, Any]) -> set[str]:
    return {item["itemIdentifier"] for item in response["batchItemFailures"]}


def sequences_of(batch: dict[str, Any], events: list[PipelineEvent]) -> set[str]:
    keys = {f"EVENT#{event.event_id}" for event in events}
    return {r["dynamodb"]["SequenceNumber"] for r in batch["Records"]
            if r["dynamodb"]["Keys"]["pk"]["S"] in keys}


def a_failed_job_with_its_event(store: DynamoDbStore) -> PipelineEvent:
    """A state change that writes its event in the same transaction: a job failing for good."""
    now = datetime.now(UTC)
    event = make_event(JobFailedData(message_id="m-9", actor_name="create_event", mailbox=ALICE,
                                     error_code=ErrorCode.ACCESS_DENIED, error_message="access denied"),
                       integration_id="acme", occurred_at=now, cause="m-9")
    store.begin_job("m-9", "create_event", "acme", ALICE, now)
    store.fail_job("m-9", ErrorCode.ACCESS_DENIED, "access denied", False, now, events=[event])
    return event


def test_new_events_on_the_stream_are_published_and_everything_else_is_skipped(
    aws: AwsTestAccount, table: str, store: DynamoDbStore, target: BusTarget, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given events written on their own and with a job's failure (job records are on the stream too)
    events = sample_events(4)
    store.put_events(events)
    events.append(a_failed_job_with_its_event(store))
    stream = TableStream(aws, table)

    with events_function(aws, table, f"eventbridge://{target.bus_name}", monkeypatch) as handler:
        # When the function gets the stream's batch
        batch = stream.batch()
        assert len(batch["Records"]) > len(events)
        response = handler(batch)

        # Then each event reached the bus once and is marked published
        assert response == {"batchItemFailures": []}
        assert sorted(delivered_ids(target.receive(len(events)))) == sorted(e.event_id for e in events)
        assert store.list_pending_events() == []

        # And the records of marking them published (MODIFY, no pending mark) send nothing
        marked = stream.batch()
        assert sequences_of(marked, events) and handler(marked) == {"batchItemFailures": []}
        assert target.receive(0) == []


def test_a_sink_that_refuses_fails_the_records_of_its_events_only(
    aws: AwsTestAccount, table: str, store: DynamoDbStore, target: BusTarget,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    events = sample_events(3)
    store.put_events(events)
    events.append(a_failed_job_with_its_event(store))
    batch = TableStream(aws, table).batch()

    # A bus that does not exist: PutEvents fails as a whole
    with events_function(aws, table, "eventbridge://no-such-bus", monkeypatch) as handler:
        response = handler(batch)
    assert failed_sequences(response) == sequences_of(batch, events)
    assert {e.event_id for e in store.list_pending_events()} == {e.event_id for e in events}
    assert_no_personal_data(caplog.text)

    # The bus refusing one entry (malformed): only that record fails, Lambda retries from it
    victim = events[1]
    with events_function(aws, table, f"eventbridge://{target.bus_name}", monkeypatch) as handler:
        import handlers.events

        def corrupt(params: dict[str, Any], **_: Any) -> None:
            for entry in params["Entries"]:
                if victim.event_id in entry["Detail"]:
                    entry["Detail"] = "{not json"

        handlers.events._outbox().publisher.sink.client.meta.events.register(  # type: ignore[attr-defined]
            "before-parameter-build.events.PutEvents", corrupt)
        response = handler(batch)
    assert failed_sequences(response) == sequences_of(batch, [victim])
    assert {e.event_id for e in store.list_pending_events()} == {victim.event_id}
    assert sorted(delivered_ids(target.receive(len(events) - 1))) == sorted(
        e.event_id for e in events if e is not victim)


def test_the_scheduled_sweep_sends_what_the_stream_gave_up_on(
    aws: AwsTestAccount, table: str, store: DynamoDbStore, target: BusTarget, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given events whose stream records exhausted their retries: still pending in the table
    events = sample_events(12)
    store.put_events(events)
    scheduled = {"version": "0", "id": "1", "detail-type": "Scheduled Event", "source": "aws.events",
                 "account": "123456789012", "time": "2026-11-03T14:05:00Z", "region": REGION,
                 "resources": [], "detail": {}}

    with events_function(aws, table, f"eventbridge://{target.bus_name}", monkeypatch,
                         PIPELINE_EVENTS_SWEEP_AGE="0") as handler:
        response = handler(scheduled)

    assert response == {"published": len(events)}
    assert sorted(delivered_ids(target.receive(len(events)))) == sorted(e.event_id for e in events)
    assert store.list_pending_events() == []


@pytest.mark.parametrize("sink", ["none", "stream"])
def test_the_events_function_needs_a_sink_that_publishes(aws: AwsTestAccount, table: str, sink: str) -> None:
    with pytest.raises(ValueError, match="PIPELINE_EVENTS_SINK"):
        build_stream_outbox({**aws.environ(table, "stub://"), "PIPELINE_EVENTS_SINK": sink})
