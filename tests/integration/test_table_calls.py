"""Results-table calls per job, counted (issue 11, target 2): at most 3 in the common path.

- begin_job is one conditional put; a redelivery's failed put returns the record it decides on.
- The action's last write carries its events and the job's success in one TransactWriteItems,
  so completing the job costs no call of its own.
- A job reads its integration's settings at most once, and not at all while the process's copy
  is younger than PIPELINE_SETTINGS_CACHE_SECONDS (an edit made elsewhere shows after that).

The runtime's clock stands still here unless a test moves it: the counts never depend on how
long the machine takes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from moto import mock_aws

from pipeline.config import PipelineConfig
from pipeline.contract import JobStatus
from pipeline.store.dynamodb import DynamoDbStore
from pipeline.store.dynamodb.keys import INTEGRATION_PREFIX, create_table
from pipeline.store.factory import get_store
from tests.integration.event_support import ALICE, BOB, booking, follow_up, stamped
from tests.integration.pipeline_support import PipelineHarness, pipeline

__all__ = ["pipeline"]  # the fixture, re-exported for pytest

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


class CountingClient:
    """A DynamoDB client that counts the operations made through it, and the reads of
    integration items apart."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: Counter[str] = Counter()
        self.settings_reads = 0

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute) or name.startswith("get_waiter") or name == "exceptions":
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            if name == "get_item" and kwargs["Key"]["pk"]["S"].startswith(INTEGRATION_PREFIX):
                self.settings_reads += 1
            return attribute(*args, **kwargs)

        return counted


class Clock:
    """The runtime's clock, moved only by the test."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(pipeline: PipelineHarness) -> Clock:
    clock = Clock()
    pipeline.runtime.clock = clock
    return clock


@pytest.fixture
def counting(pipeline: PipelineHarness, clock: Clock) -> CountingClient:
    config = pipeline.runtime.config
    client = CountingClient(boto3.client("dynamodb", region_name=config.aws_region))
    pipeline.runtime.store = DynamoDbStore(client, config.table_name)
    return client


def run(pipeline: PipelineHarness, counting: CountingClient, action: str, *,
        message_id: str | None = None, **kwargs: Any) -> Counter[str]:
    """One job's table calls, by operation; the job must succeed."""
    counting.calls.clear()
    counting.settings_reads = 0
    outcome = pipeline.run(action, message_id=message_id, **kwargs)
    assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    made = Counter(counting.calls)
    made["get_item"] -= 1  # pipeline.run reads the job record back for the test
    return +made


def installed(pipeline: PipelineHarness, counting: CountingClient, **overrides: Any) -> str:
    """A delegate integration, and one job that has read it (the process's copy is warm)."""
    integration_id = pipeline.install("delegate", **overrides)
    run(pipeline, counting, "list_rooms", integration_id=integration_id)
    assert counting.settings_reads == 1
    return integration_id


def test_every_action_makes_at_most_three_table_calls_in_the_common_path(
    pipeline: PipelineHarness, counting: CountingClient
) -> None:
    integration_id = installed(pipeline, counting)
    free_busy: dict[str, Any] = {"mailboxes": [ALICE, BOB], "start": "2026-11-02T00:00:00Z",
                                 "end": "2026-11-03T00:00:00Z"}

    made = {
        # begin_job; the claim; the booking + booking.created + the job's success
        "create_event": run(pipeline, counting, "create_event", **booking(integration_id)),
        # begin_job; the booking; invites + change key + state + event + the job's success
        "send_invite": run(pipeline, counting, "send_invite", **follow_up(integration_id)),
        # begin_job; the booking; the change + event + the job's success (a first delivery:
        # begin_job said so, nothing is read to ask)
        "update_event": run(pipeline, counting, "update_event",
                            **follow_up(integration_id, location="Room B")),
        # begin_job; the job's success
        "fetch_free_busy": run(pipeline, counting, "fetch_free_busy", integration_id=integration_id,
                               **free_busy),
        "list_rooms": run(pipeline, counting, "list_rooms", integration_id=integration_id),
        "check_connection": run(pipeline, counting, "check_connection", integration_id=integration_id,
                                mailbox=ALICE),
        # begin_job; the sync record; its state + the page's events + the job's success
        "sync_calendar": run(pipeline, counting, "sync_calendar", integration_id=integration_id,
                             mailbox=ALICE),
    }

    assert made == {
        "create_event": {"put_item": 2, "transact_write_items": 1},
        "send_invite": {"put_item": 1, "get_item": 1, "transact_write_items": 1},
        "update_event": {"put_item": 1, "get_item": 1, "transact_write_items": 1},
        "fetch_free_busy": {"put_item": 1, "update_item": 1},
        "list_rooms": {"put_item": 1, "update_item": 1},
        "check_connection": {"put_item": 1, "update_item": 1},
        "sync_calendar": {"put_item": 1, "update_item": 1, "transact_write_items": 1},
    }
    assert all(sum(calls.values()) <= 3 for calls in made.values())
    assert counting.settings_reads == 0  # the copy read by the first job served them all
    assert len(pipeline.store.list_pending_events()) >= 3  # booking.created, invitations_sent, updated


def test_cancel_event_makes_four_calls_its_mark_before_the_delete_and_its_success_after(
    pipeline: PipelineHarness, counting: CountingClient
) -> None:
    # The mark (with booking.cancelled) must precede the DeleteItem, so that of two jobs only one
    # deletes; the success can only follow it; and the booking must be read for its item id.
    integration_id = installed(pipeline, counting)
    run(pipeline, counting, "create_event", **booking(integration_id))

    cancelled = run(pipeline, counting, "cancel_event", **follow_up(integration_id))

    assert cancelled == {"put_item": 1, "get_item": 1, "transact_write_items": 1, "update_item": 1}


def test_a_redelivered_job_that_succeeded_costs_one_call(
    pipeline: PipelineHarness, counting: CountingClient
) -> None:
    integration_id = installed(pipeline, counting)
    run(pipeline, counting, "create_event", message_id="c-1", **booking(integration_id))

    # The failed conditional put returns the record: succeeded, its result handed on, no read.
    again = run(pipeline, counting, "create_event", message_id="c-1", **booking(integration_id))

    assert again == {"put_item": 1}
    assert len(stamped(pipeline.sim, ALICE, "interview-1:slot-1")) == 1


def test_taking_over_an_abandoned_job_costs_one_more_write_and_no_read(
    pipeline: PipelineHarness, counting: CountingClient, clock: Clock
) -> None:
    integration_id = installed(pipeline, counting)
    run(pipeline, counting, "create_event", **booking(integration_id))
    # A worker began the job longer ago than a lease, and died.
    lease = timedelta(seconds=pipeline.runtime.config.job_lease_seconds)
    pipeline.store.begin_job("u-1", "update_event", integration_id, ALICE,
                             clock() - lease - timedelta(seconds=5))

    taken_over = run(pipeline, counting, "update_event", message_id="u-1",
                     **follow_up(integration_id, location="Room B"))

    # The put that fails returns the abandoned record; the takeover is one conditional update.
    # Being a redelivery (attempt 2), the job reads the item in Exchange first: not the table.
    assert taken_over == {"put_item": 1, "update_item": 1, "get_item": 1, "transact_write_items": 1}
    record = pipeline.store.get_job("u-1")
    assert record is not None and (record.status, record.attempts) == (JobStatus.SUCCEEDED, 2)


def test_settings_are_read_once_per_cache_age_and_an_edit_elsewhere_shows_after_it(
    pipeline: PipelineHarness, counting: CountingClient, clock: Clock
) -> None:
    # Given an integration whose subject template says which edit it is
    integration_id = pipeline.install("delegate", subject_template="v1: {{ subject }}")
    cache_seconds = pipeline.runtime.config.settings_cache_seconds
    config = pipeline.runtime.config
    elsewhere = DynamoDbStore(boto3.client("dynamodb", region_name=config.aws_region), config.table_name)

    def subject_of(key: str) -> str:
        [item] = stamped(pipeline.sim, ALICE, key)
        return str(item["subject"])

    # When jobs run, the first reads the settings, and the next one (a second later) reads nothing
    run(pipeline, counting, "create_event", **booking(integration_id, booking_key="k-1"))
    assert counting.settings_reads == 1
    clock.advance(1)
    made = run(pipeline, counting, "create_event", **booking(integration_id, booking_key="k-2"))
    assert counting.settings_reads == 0 and sum(made.values()) == 3

    # Then an edit made by another process is not seen while the copy is young
    elsewhere.put_integration(integration_id, {**pipeline.installed[integration_id],
                                               "subject_template": "v2: {{ subject }}"}, clock())
    clock.advance(cache_seconds - 2)
    run(pipeline, counting, "create_event", **booking(integration_id, booking_key="k-3"))
    assert counting.settings_reads == 0
    assert subject_of("k-3").startswith("v1: ")

    # and is seen by the first job once the copy is cache_seconds old: one read, version 2
    clock.advance(1)
    run(pipeline, counting, "create_event", **booking(integration_id, booking_key="k-4"))
    assert counting.settings_reads == 1
    assert subject_of("k-4").startswith("v2: ")
    record = pipeline.store.current_integration(integration_id, clock())
    assert record is not None and record.version == 2
    assert counting.settings_reads == 1  # that answer came from the copy, too


def test_an_edit_made_through_the_process_own_store_shows_at_once(
    pipeline: PipelineHarness, counting: CountingClient
) -> None:
    integration_id = installed(pipeline, counting, subject_template="v1: {{ subject }}")

    pipeline.store.put_integration(integration_id, {**pipeline.installed[integration_id],
                                                    "subject_template": "v2: {{ subject }}"})
    run(pipeline, counting, "create_event", **booking(integration_id))

    assert counting.settings_reads == 1
    [item] = stamped(pipeline.sim, ALICE, "interview-1:slot-1")
    assert str(item["subject"]).startswith("v2: ")


@pytest.fixture
def get_item_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """GetItem calls by key prefix, made by any boto3 client (the factory builds its own)."""
    calls: Counter[str] = Counter()
    original = BaseClient._make_api_call

    def counted(client: Any, operation: str, params: Any) -> Any:
        if operation == "GetItem":
            calls[params["Key"]["pk"]["S"].split("#", 1)[0]] += 1
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", counted)
    with mock_aws():
        yield calls


@pytest.mark.parametrize(("environ", "reads"), [
    ({}, 1),  # the default, 5 s: the second job's lookup is answered from the copy
    ({"PIPELINE_SETTINGS_CACHE_SECONDS": "0"}, 2),  # no copy: every job reads
])
def test_pipeline_settings_cache_seconds_sets_how_long_a_copy_serves(
    get_item_calls: Counter[str], environ: dict[str, str], reads: int
) -> None:
    config = PipelineConfig.from_env({"PIPELINE_TABLE": f"settings-cache-{reads}", **environ})
    create_table(boto3.client("dynamodb", region_name=config.aws_region), config.table_name)
    writer = DynamoDbStore(boto3.client("dynamodb", region_name=config.aws_region), config.table_name)
    writer.put_integration("acme", {"integration_id": "acme"}, START)
    store = get_store(config)

    for second in (3, 4):  # two jobs, a second apart
        assert store.current_integration("acme", START + timedelta(seconds=second)) is not None

    assert get_item_calls["INTEGRATION"] == reads
