"""The outbox and calendar-sync records of the results table, against moto's DynamoDB: a state
change and its events are written together or not at all, and sync requests coalesce."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pipeline.contract.booking import BookingState
from pipeline.events.models import BookingCancelledData, BookingUpdatedData, PipelineEvent, make_event
from pipeline.store import BookingRecord, DynamoDbStore
from pipeline.store.records import BookingChanges
from tests.integration.moto_dynamodb_support import mocked_dynamodb

TABLE = "ews-pipeline-outbox-test"
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
KEY = "interview-1:slot-2"


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[DynamoDbStore]:
    with mocked_dynamodb(monkeypatch, TABLE) as client:
        store = DynamoDbStore(client, TABLE)
        alice = "alice@example.com"
        store.put_booking(BookingRecord("acme", KEY, alice, alice, "AAMk1", "CK1", NOW))
        yield store


def updated(cause: str, at: datetime = NOW) -> PipelineEvent:
    return make_event(BookingUpdatedData(notified=False), integration_id="acme", occurred_at=at, cause=cause,
                      booking_key=KEY)


def pending_ids(store: DynamoDbStore, **options: Any) -> list[str]:
    return [event.event_id for event in store.list_pending_events(**options)]


def test_a_state_change_and_its_event_are_written_together(store: DynamoDbStore) -> None:
    event = updated("job-1")

    store.update_booking("acme", KEY, BookingChanges(change_key="CK2"), NOW, events=[event])

    record = store.get_booking("acme", KEY)
    assert record is not None and record.change_key == "CK2"
    stored = store.get_event(event.event_id)
    assert stored == (event, False)  # the same envelope, not yet published
    assert pending_ids(store) == [event.event_id]


def test_a_change_whose_condition_fails_writes_no_event(store: DynamoDbStore) -> None:
    first = make_event(BookingCancelledData(notified=False), integration_id="acme", occurred_at=NOW,
                       cause="cancel-1", booking_key=KEY)
    second = make_event(BookingCancelledData(notified=False), integration_id="acme", occurred_at=NOW,
                        cause="cancel-2", booking_key=KEY)

    assert store.mark_booking_cancelled("acme", KEY, NOW, events=[first]) is True
    assert store.mark_booking_cancelled("acme", KEY, NOW, events=[second]) is False

    assert store.get_event(second.event_id) is None  # the transaction wrote nothing
    assert pending_ids(store) == [first.event_id]
    record = store.get_booking("acme", KEY)
    assert record is not None and record.state is BookingState.CANCELLED


def test_publishing_takes_events_out_of_the_pending_list_oldest_first(store: DynamoDbStore) -> None:
    old, new = updated("a", NOW - timedelta(minutes=5)), updated("b", NOW)
    store.put_events([new, old])
    store.put_events([new])  # a fact reported twice is stored once

    assert pending_ids(store) == [old.event_id, new.event_id]
    assert pending_ids(store, older_than=NOW - timedelta(minutes=1)) == [old.event_id]
    store.mark_events_published([old.event_id, "evt_unknown"], NOW)

    assert pending_ids(store) == [new.event_id]
    assert store.get_event(old.event_id) == (old, True)
    store.put_events([old])  # an event already published is not reset to pending
    assert pending_ids(store) == [new.event_id]


def test_calendar_sync_requests_coalesce_until_the_sync_begins(store: DynamoDbStore) -> None:
    expiry = NOW - timedelta(minutes=15)
    assert store.request_calendar_sync("acme", "Alice@example.com", NOW, expiry) is True
    assert store.request_calendar_sync("acme", "alice@example.com", NOW, expiry) is False

    begun = store.begin_calendar_sync("acme", "alice@example.com")
    assert begun.sync_state is None and begun.requested_at is None
    assert store.request_calendar_sync("acme", "alice@example.com", NOW, expiry) is True  # the next one

    store.save_calendar_sync("acme", "alice@example.com", "STATE-1", NOW, events=[updated("sync")])
    record = store.get_calendar_sync("acme", "alice@example.com")
    assert record is not None and record.sync_state == "STATE-1" and record.synced_at == NOW
    assert pending_ids(store) == [updated("sync").event_id]


def test_a_sync_request_whose_job_never_ran_expires(store: DynamoDbStore) -> None:
    assert store.request_calendar_sync("acme", "alice@example.com", NOW, NOW - timedelta(minutes=15))
    later = NOW + timedelta(minutes=16)
    assert store.request_calendar_sync("acme", "alice@example.com", later, later - timedelta(minutes=15))
