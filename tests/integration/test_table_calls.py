"""Results-table calls per job, counted: the outbox adds no call, its events ride in the write
that records the change (one TransactWriteItems instead of the UpdateItem it replaces)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import boto3
import pytest

from pipeline.contract import JobStatus
from pipeline.store.dynamodb import DynamoDbStore
from tests.integration.event_support import booking, follow_up
from tests.integration.pipeline_support import PipelineHarness, pipeline

__all__ = ["pipeline"]  # the fixture, re-exported for pytest


class CountingClient:
    """A DynamoDB client that counts the operations made through it."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute) or name.startswith("get_waiter") or name == "exceptions":
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return attribute(*args, **kwargs)

        return counted


@pytest.fixture
def counting(pipeline: PipelineHarness) -> CountingClient:
    config = pipeline.runtime.config
    client = CountingClient(boto3.client("dynamodb", region_name=config.aws_region))
    pipeline.runtime.store = DynamoDbStore(client, config.table_name)
    return client


def run(pipeline: PipelineHarness, counting: CountingClient, action: str, **kwargs: Any) -> Counter[str]:
    counting.calls.clear()
    outcome = pipeline.run(action, **kwargs)
    assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    made = Counter(counting.calls)
    made["get_item"] -= 1  # pipeline.run reads the job record back for the test
    return +made


def test_a_booking_writes_its_events_in_the_calls_it_already_made(
    pipeline: PipelineHarness, counting: CountingClient
) -> None:
    integration_id = pipeline.install("delegate")

    created = run(pipeline, counting, "create_event", **booking(integration_id))
    invited = run(pipeline, counting, "send_invite", **follow_up(integration_id))
    updated = run(pipeline, counting, "update_event", **follow_up(integration_id, location="Room B"))

    # begin_job, the settings, the claim, the booking + booking.created, complete_job
    assert created == {"put_item": 2, "get_item": 1, "transact_write_items": 1, "update_item": 1}
    # begin_job, the settings, the booking, invites + change key + state + event in one write
    assert invited == {"put_item": 1, "get_item": 3, "transact_write_items": 1, "update_item": 1}
    # begin_job, the settings, the booking, the is-it-a-redelivery read, the change + event
    assert updated == {"put_item": 1, "get_item": 3, "transact_write_items": 1, "update_item": 1}
    assert len(pipeline.store.list_pending_events()) == 3
