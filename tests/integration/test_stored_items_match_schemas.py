"""What the results table stores is what schemas/ publishes: every item a real run writes (jobs,
bookings, events) validates against its committed schema, and ResultsReader reads them typed."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import jsonschema
import pytest
from boto3.dynamodb.types import Binary, TypeDeserializer

from pipeline.client import ResultsReader
from pipeline.contract import JobStatus
from pipeline.contract.booking import BookingState
from pipeline.errors import ErrorCode
from pipeline.events.models import EventType
from tests.integration.event_support import BOB, booking, follow_up
from tests.integration.pipeline_support import PipelineHarness, pipeline

__all__ = ["pipeline"]  # the fixture, re-exported for pytest

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
# What an event item holds besides the envelope (docs/results.md): storage, never delivered.
EVENT_STORAGE_ATTRIBUTES = {"pk", "sk", "pending_partition", "published_at", "expires_at"}


def schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    return loaded


def as_json(value: Any) -> Any:
    """A DynamoDB value as an app reading the table gets it in JSON (sets as lists, binary base64)."""
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, set):
        return sorted(as_json(v) for v in value)
    if isinstance(value, Binary):
        return base64.b64encode(value.value).decode()
    if isinstance(value, list):
        return [as_json(v) for v in value]
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    return value


def raw_items(pipeline: PipelineHarness, prefix: str) -> list[dict[str, Any]]:
    config = pipeline.runtime.config
    client = boto3.client("dynamodb", region_name=config.aws_region)  # the harness's moto, in process
    deserialise = TypeDeserializer()
    items = client.scan(TableName=config.table_name)["Items"]
    decoded = [{k: deserialise.deserialize(v) for k, v in item.items()} for item in items]
    return [as_json(item) for item in decoded if item["pk"].startswith(prefix)]


@pytest.fixture
def lifecycle(pipeline: PipelineHarness) -> str:
    """A booking created, invited and updated, and a job failed for good."""
    integration_id = pipeline.install("delegate", internal_domains=(".example.com",))
    steps = (("create_event", booking(integration_id)), ("send_invite", follow_up(integration_id)),
             ("update_event", follow_up(integration_id, location="Room B")))
    for action, kwargs in steps:
        assert pipeline.run(action, **kwargs).status is JobStatus.SUCCEEDED
    failed = pipeline.run("send_invite", **follow_up(integration_id, booking_key="never-created"))
    assert failed.error is not None and failed.error.code is ErrorCode.BOOKING_NOT_FOUND
    return integration_id


def test_every_stored_job_validates_against_job_record_schema(
    pipeline: PipelineHarness, lifecycle: str
) -> None:
    jobs = raw_items(pipeline, "JOB#")
    assert len(jobs) == 4
    for item in jobs:
        jsonschema.validate(item, schema("job-record.schema.json"))
    assert {item["status"] for item in jobs} == {"succeeded", "failed"}


def test_every_stored_booking_validates_against_booking_record_schema(
    pipeline: PipelineHarness, lifecycle: str
) -> None:
    [item] = raw_items(pipeline, "BOOKING#")
    jsonschema.validate(item, schema("booking-record.schema.json"))
    assert item["state"] == "invited"
    assert item["attendee_classes"][BOB] == "internal"  # bob@<sim domain> is under .example.com


def test_every_stored_event_is_its_published_envelope(pipeline: PipelineHarness, lifecycle: str) -> None:
    events = raw_items(pipeline, "EVENT#")
    types = sorted(item["type"] for item in events)
    assert types == sorted([EventType.BOOKING_CREATED, EventType.BOOKING_INVITATIONS_SENT,
                            EventType.BOOKING_UPDATED, EventType.JOB_FAILED])
    for item in events:
        envelope = {k: v for k, v in item.items() if k not in EVENT_STORAGE_ATTRIBUTES}
        jsonschema.validate(envelope, schema(f"events/{item['type']}.v{item['version']}.schema.json"))


def test_a_schema_that_drifted_from_the_items_would_fail(pipeline: PipelineHarness, lifecycle: str) -> None:
    # The schemas forbid unknown attributes, so an attribute the store adds without the model fails.
    [item] = raw_items(pipeline, "BOOKING#")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**item, "stray_attribute": 1}, schema("booking-record.schema.json"))


def test_the_reader_gives_typed_outcomes_and_booking_state(pipeline: PipelineHarness, lifecycle: str) -> None:
    reader = ResultsReader(pipeline.store)
    created = pipeline.run("create_event", **booking(lifecycle, booking_key="second"))

    outcome = reader.job(created.message_id)
    assert outcome is not None and outcome.status is JobStatus.SUCCEEDED
    assert outcome.result is not None and outcome.result["created"] is True
    state = reader.booking(lifecycle, "interview-1:slot-1")
    assert state is not None and state.state is BookingState.INVITED
    assert state.booked_start is not None and state.booked_start == state.start
    assert BOB in state.invites_sent_to
    assert reader.booking(lifecycle, "missing") is None
    assert reader.job("never-sent") is None
