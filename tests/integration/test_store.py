"""The results table against moto's DynamoDB: conditional writes, TTL, lookups, error mapping."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config

from pipeline.config import PipelineConfig
from pipeline.errors import ErrorCode, PermanentError, PipelineError, RetryableError
from pipeline.store import (
    BookingRecord,
    DynamoDbStore,
    JobStatus,
    SubscriptionRecord,
    SubscriptionStatus,
    get_store,
)
from pipeline.store.dynamodb import keys
from pipeline.store.records import BookingChanges
from tests.integration.moto_dynamodb_support import mocked_dynamodb

TABLE = "ews-pipeline-test"
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=360)


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with mocked_dynamodb(monkeypatch, TABLE) as dynamodb:
        yield dynamodb


class OneRequestAtATime:
    """A client proxy that makes each request atomic, as DynamoDB guarantees and moto does not.

    moto checks a write's condition and applies the write in separate steps, so two threads can
    both pass the check. Serialising whole requests keeps what the store relies on (one request
    is atomic) while threads still interleave between the store's requests.
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def atomic(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attribute(*args, **kwargs)

        return atomic


@pytest.fixture
def store(client: Any) -> DynamoDbStore:
    return DynamoDbStore(OneRequestAtATime(client), TABLE, job_ttl_days=30,
                         job_lease_seconds=int(LEASE.total_seconds()))


def run_concurrently(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run work(i) on `count` threads released together; return each result or raised error."""
    barrier = threading.Barrier(count)
    outcomes: list[Any] = [None] * count

    def run(index: int) -> None:
        barrier.wait()
        try:
            outcomes[index] = work(index)
        except PipelineError as exc:
            outcomes[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


# Jobs -------------------------------------------------------------------------------------


def begin(store: DynamoDbStore, message_id: str = "m-1", now: datetime = NOW) -> Any:
    return store.begin_job(message_id, "create_event", "acme", "alice@example.com", now)


def test_begin_job_creates_a_running_record_with_a_lease_and_ttl(store: DynamoDbStore, client: Any) -> None:
    record = begin(store)

    assert (record.status, record.attempts) == (JobStatus.RUNNING, 1)
    assert record.lease_expires_at == NOW + LEASE
    stored = store.get_job("m-1")
    assert stored is not None and stored.status is JobStatus.RUNNING
    assert stored.expires_at == int((NOW + timedelta(days=30)).timestamp())
    ttl = client.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")


def test_a_succeeded_job_is_never_begun_again(store: DynamoDbStore) -> None:
    begin(store)
    store.complete_job("m-1", {"item_id": "AAMk1"}, NOW)

    with pytest.raises(PermanentError) as caught:
        begin(store, now=NOW + timedelta(days=1))
    assert caught.value.code is ErrorCode.DUPLICATE_DELIVERY
    assert store.get_job("m-1").attempts == 1  # type: ignore[union-attr]


def test_a_failed_job_delivered_again_is_a_redrive_a_new_run(store: DynamoDbStore) -> None:
    begin(store)
    store.fail_job("m-1", ErrorCode.SERVER_BUSY, "busy (gave up)", retryable=False, now=NOW)
    later = NOW + timedelta(days=1)

    redriven = begin(store, now=later)

    assert (redriven.status, redriven.attempts, redriven.redrives) == (JobStatus.RUNNING, 1, 1)
    assert redriven.run_started_at == later and redriven.created_at == NOW
    assert redriven.error_code is None and redriven.finished_at is None


def test_a_live_lease_makes_a_second_delivery_retry_later(store: DynamoDbStore) -> None:
    begin(store)

    with pytest.raises(RetryableError) as caught:
        begin(store, now=NOW + timedelta(seconds=60))
    assert caught.value.code is ErrorCode.DUPLICATE_DELIVERY
    assert caught.value.delay_ms == (LEASE - timedelta(seconds=60)).total_seconds() * 1000


def test_a_delivery_takes_over_a_job_whose_worker_died(store: DynamoDbStore) -> None:
    begin(store)

    record = begin(store, now=NOW + LEASE + timedelta(seconds=1))
    assert (record.status, record.attempts) == (JobStatus.RUNNING, 2)


def test_a_retrying_job_runs_again_and_forgets_the_old_error(store: DynamoDbStore) -> None:
    begin(store)
    failed = store.fail_job("m-1", ErrorCode.SERVER_BUSY, "server busy", retryable=True, now=NOW)
    assert (failed.status, failed.error_retryable, failed.finished_at) == (JobStatus.RETRYING, True, None)

    record = begin(store, now=NOW + timedelta(seconds=5))
    assert (record.status, record.attempts, record.error_code) == (JobStatus.RUNNING, 2, None)


def test_of_concurrent_deliveries_exactly_one_runs_the_job(store: DynamoDbStore) -> None:
    outcomes = run_concurrently(8, lambda _: begin(store))

    winners = [o for o in outcomes if not isinstance(o, PipelineError)]
    losers = [o for o in outcomes if isinstance(o, PipelineError)]
    assert len(winners) == 1
    assert all(isinstance(o, RetryableError) and o.code is ErrorCode.DUPLICATE_DELIVERY for o in losers)
    assert store.get_job("m-1").attempts == 1  # type: ignore[union-attr]


def test_complete_job_records_the_result_as_an_outcome(store: DynamoDbStore) -> None:
    begin(store)
    store.complete_job("m-1", {"item_id": "AAMk1", "created": True}, NOW + timedelta(seconds=2))

    outcome = store.get_job("m-1").to_outcome()  # type: ignore[union-attr]
    assert outcome.status is JobStatus.SUCCEEDED
    assert outcome.result == {"item_id": "AAMk1", "created": True}
    assert outcome.error is None and outcome.finished_at == NOW + timedelta(seconds=2)


def test_a_large_result_is_stored_compressed_and_read_back(store: DynamoDbStore) -> None:
    result = {"mailboxes": [{"email": f"user{i}@example.com", "intervals": ["busy"] * 50}
                            for i in range(1000)]}
    begin(store)
    store.complete_job("m-1", result, NOW)

    assert store.get_job("m-1").result == result  # type: ignore[union-attr]


def test_a_stale_delivery_cannot_overwrite_the_outcome(store: DynamoDbStore) -> None:
    begin(store)
    begin(store, now=NOW + LEASE * 2)  # the first worker was presumed dead
    store.complete_job("m-1", {"by": "second"}, NOW + LEASE * 2)

    with pytest.raises(PermanentError) as caught:
        store.complete_job("m-1", {"by": "first"}, NOW + LEASE * 3)
    assert caught.value.code is ErrorCode.DUPLICATE_DELIVERY
    assert store.get_job("m-1").result == {"by": "second"}  # type: ignore[union-attr]


def test_fail_job_records_a_job_rejected_before_it_began(store: DynamoDbStore) -> None:
    record = store.fail_job("m-9", ErrorCode.INVALID_KWARGS, "invalid send_invite kwargs: mailbox (missing)",
                            retryable=False, now=NOW, actor_name="send_invite")

    assert (record.status, record.attempts) == (JobStatus.FAILED, 0)
    assert (record.error_code, record.actor_name) == (ErrorCode.INVALID_KWARGS, "send_invite")
    assert record.expires_at is not None
    outcome = record.to_outcome()
    assert outcome.error is not None and outcome.error.retryable is False


# Bookings ---------------------------------------------------------------------------------


def booking(**changes: Any) -> BookingRecord:
    values: dict[str, Any] = dict(integration_id="acme", booking_key="interview-1:slot-2",
                                  mailbox="alice@example.com", calendar_mailbox="svc@example.com",
                                  item_id="AAMk1", change_key="CK1", updated_at=NOW)
    values.update(changes)
    return BookingRecord(**values)


def test_bookings_round_trip_and_follow_item_changes(store: DynamoDbStore) -> None:
    store.put_booking(booking())
    assert store.get_booking("acme", "interview-1:slot-2") == booking()
    assert store.get_booking("other", "interview-1:slot-2") is None

    store.update_booking("acme", "interview-1:slot-2", BookingChanges(change_key="CK2"), NOW)
    updated = store.get_booking("acme", "interview-1:slot-2")
    assert updated is not None and (updated.item_id, updated.change_key) == ("AAMk1", "CK2")
    with pytest.raises(PermanentError) as caught:
        store.update_booking("acme", "missing", BookingChanges(change_key="CK2"), NOW)
    assert caught.value.code is ErrorCode.BOOKING_NOT_FOUND


def test_invites_are_recorded_once_per_recipient(store: DynamoDbStore) -> None:
    store.put_booking(booking())

    def record(*recipients: str) -> tuple[str, ...]:
        return store.record_invites_sent("acme", "interview-1:slot-2", recipients, NOW)

    assert record("Bob@example.com", "room-a@example.com") == ("bob@example.com", "room-a@example.com")
    assert record("bob@example.com", "carol@example.com") == ("carol@example.com",)
    assert record("carol@example.com") == ()


class CompetingWriteAfterFirstRead:
    """A client proxy that runs `competitor` right after the first read: a deterministic race."""

    def __init__(self, client: Any, competitor: Callable[[], Any]) -> None:
        self._client = client
        self._competitor: Callable[[], Any] | None = competitor

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def get_item(self, **kwargs: Any) -> Any:
        reply = self._client.get_item(**kwargs)
        competitor, self._competitor = self._competitor, None
        if competitor is not None:
            competitor()
        return reply


def test_a_sender_racing_another_claims_only_what_the_other_did_not(
    store: DynamoDbStore, client: Any
) -> None:
    store.put_booking(booking())
    racing = DynamoDbStore(CompetingWriteAfterFirstRead(client, lambda: store.record_invites_sent(
        "acme", "interview-1:slot-2", ["bob@example.com"], NOW)), TABLE)

    claimed = racing.record_invites_sent(
        "acme", "interview-1:slot-2", ["bob@example.com", "carol@example.com"], NOW)

    assert claimed == ("carol@example.com",)
    stored = store.get_booking("acme", "interview-1:slot-2")
    assert stored is not None and stored.invites_sent_to == ("bob@example.com", "carol@example.com")


def test_concurrent_senders_claim_each_recipient_exactly_once(store: DynamoDbStore) -> None:
    store.put_booking(booking())
    everyone = [f"person{i}@example.com" for i in range(12)]

    outcomes = run_concurrently(6, lambda i: store.record_invites_sent(
        "acme", "interview-1:slot-2", everyone[i:] + everyone[:i], NOW))

    claimed = [email for outcome in outcomes for email in outcome]
    assert sorted(claimed) == sorted(everyone)


def test_a_redelivered_create_event_keeps_the_recorded_invites(store: DynamoDbStore) -> None:
    store.put_booking(booking())
    store.record_invites_sent("acme", "interview-1:slot-2", ["bob@example.com"], NOW)
    store.mark_booking_cancelled("acme", "interview-1:slot-2", NOW)

    store.put_booking(booking(change_key="CK3"))

    stored = store.get_booking("acme", "interview-1:slot-2")
    assert stored is not None
    assert stored.invites_sent_to == ("bob@example.com",)
    assert (stored.cancelled, stored.change_key) == (True, "CK3")


def test_a_booking_is_cancelled_once(store: DynamoDbStore) -> None:
    store.put_booking(booking())

    assert store.mark_booking_cancelled("acme", "interview-1:slot-2", NOW) is True
    assert store.mark_booking_cancelled("acme", "interview-1:slot-2", NOW) is False
    with pytest.raises(PermanentError):
        store.mark_booking_cancelled("acme", "missing", NOW)


def test_a_booking_is_found_by_its_item_id_within_its_integration(store: DynamoDbStore) -> None:
    store.put_booking(booking())
    store.put_booking(booking(integration_id="globex", booking_key="other-booking"))
    store.put_booking(booking(booking_key="interview-2", item_id="AAMk2"))

    assert store.find_booking_by_item_id("acme", "AAMk1") == booking()
    assert store.find_booking_by_item_id("globex", "AAMk1") == booking(
        integration_id="globex", booking_key="other-booking")
    assert store.find_booking_by_item_id("acme", "AAMk2") == booking(
        booking_key="interview-2", item_id="AAMk2")
    assert store.find_booking_by_item_id("acme", "AAMk-unknown") is None
    assert store.find_booking_by_item_id("initech", "AAMk1") is None
    assert store.find_booking_by_item_id("acme", "") is None


def test_the_item_id_lookup_follows_the_bookings_item_id(store: DynamoDbStore) -> None:
    store.put_booking(booking())

    store.update_booking("acme", "interview-1:slot-2", BookingChanges(item_id="AAMk2", change_key="CK2"), NOW)

    assert store.find_booking_by_item_id("acme", "AAMk1") is None
    found = store.find_booking_by_item_id("acme", "AAMk2")
    assert found is not None and (found.booking_key, found.change_key) == ("interview-1:slot-2", "CK2")

    store.put_booking(booking(item_id="AAMk3", change_key="CK3"))  # update_event rewrites the record

    assert store.find_booking_by_item_id("acme", "AAMk2") is None
    assert store.find_booking_by_item_id("acme", "AAMk3") == booking(item_id="AAMk3", change_key="CK3")


def test_a_claimed_booking_is_found_by_item_id_once_it_has_one(store: DynamoDbStore, client: Any) -> None:
    assert store.claim_booking(booking(item_id="", change_key="", claimed_by="m-1")) is None
    [pending] = client.scan(TableName=TABLE)["Items"]
    assert keys.BOOKING_ITEM_ATTRIBUTE not in pending  # an index key cannot be empty: no entry while pending
    assert store.find_booking_by_item_id("acme", "") is None

    store.update_booking("acme", "interview-1:slot-2", BookingChanges(item_id="AAMk1", change_key="CK1"), NOW)

    found = store.find_booking_by_item_id("acme", "AAMk1")
    assert found is not None and found.claimed_by == "m-1"
    assert store.claim_booking(booking(booking_key="interview-9", item_id="AAMk9")) is None
    assert store.find_booking_by_item_id("acme", "AAMk9") == booking(booking_key="interview-9",
                                                                     item_id="AAMk9")


def test_an_index_entry_the_booking_no_longer_matches_is_not_a_hit(
    store: DynamoDbStore, client: Any
) -> None:
    # As a lagging index would answer: the entry still names an item id the booking has left.
    store.put_booking(booking())
    key = {name: {"S": value} for name, value in keys.booking_key("acme", "interview-1:slot-2").items()}
    client.update_item(TableName=TABLE, Key=key, UpdateExpression="SET #index_key = :stale",
                       ExpressionAttributeNames={"#index_key": keys.BOOKING_ITEM_ATTRIBUTE},
                       ExpressionAttributeValues={":stale": {"S": keys.booking_item("acme", "AAMk-old")}})

    assert store.find_booking_by_item_id("acme", "AAMk-old") is None


def test_the_item_id_index_holds_keys_only(client: Any) -> None:
    indexes = client.describe_table(TableName=TABLE)["Table"]["GlobalSecondaryIndexes"]
    [index] = [i for i in indexes if i["IndexName"] == keys.BOOKING_ITEM_INDEX]
    assert index["KeySchema"] == [{"AttributeName": keys.BOOKING_ITEM_ATTRIBUTE, "KeyType": "HASH"}]
    assert index["Projection"] == {"ProjectionType": "KEYS_ONLY"}


# Subscriptions ----------------------------------------------------------------------------


def subscription(record_id: str, last_seen: datetime = NOW, **changes: Any) -> SubscriptionRecord:
    values: dict[str, Any] = dict(record_id=record_id, subscription_id=f"ews-{record_id}",
                                  integration_id="acme", mailbox="alice@example.com",
                                  token_hash=f"hash-{record_id}", watermark="AQAAAA==",
                                  status_frequency_minutes=30, created_at=NOW, last_seen_at=last_seen)
    values.update(changes)
    return SubscriptionRecord(**values)


def test_subscriptions_are_found_by_id_and_by_token_hash(store: DynamoDbStore) -> None:
    store.put_subscription(subscription("s1"))

    assert store.get_subscription("s1") == subscription("s1")
    assert store.find_subscription_by_token_hash("hash-s1") == subscription("s1")
    assert store.find_subscription_by_token_hash("hash-unknown") is None
    with pytest.raises(PermanentError) as caught:
        store.put_subscription(subscription("s1"))
    assert caught.value.code is ErrorCode.CONFLICT


def test_renewal_supersedes_once_and_only_active_ones_are_listed(store: DynamoDbStore) -> None:
    store.put_subscription(subscription("s1", last_seen=NOW))
    store.put_subscription(subscription("s0", last_seen=NOW - timedelta(hours=3)))
    store.put_subscription(subscription("s2"))

    assert store.mark_subscription_superseded("s1", "s2", NOW) is True
    assert store.mark_subscription_superseded("s1", "s3", NOW) is False  # a second renewal lost
    store.mark_subscription_dropped("s0", NOW)
    store.put_subscription(subscription("s4", last_seen=NOW - timedelta(hours=1)))

    old = store.get_subscription("s1")
    assert old is not None and (old.status, old.superseded_by) == (SubscriptionStatus.SUPERSEDED, "s2")
    assert [s.record_id for s in store.list_active_subscriptions()] == ["s4", "s2"]


def test_notifications_move_the_watermark_forward_only(store: DynamoDbStore) -> None:
    store.put_subscription(subscription("s1"))

    store.record_notification("s1", NOW + timedelta(minutes=10), watermark="W2")
    store.record_notification("s1", NOW + timedelta(minutes=5), watermark="W1")  # arrived late

    stored = store.get_subscription("s1")
    assert stored is not None
    assert (stored.watermark, stored.last_seen_at) == ("W2", NOW + timedelta(minutes=10))
    assert stored.is_stale(NOW + timedelta(minutes=70)) and not stored.is_stale(NOW + timedelta(minutes=69))
    with pytest.raises(PermanentError) as caught:
        store.record_notification("missing", NOW)
    assert caught.value.code is ErrorCode.SUBSCRIPTION_NOT_FOUND


def test_a_renewal_request_keeps_its_first_time_and_freezes_the_record(store: DynamoDbStore) -> None:
    store.put_subscription(subscription("s1"))
    store.record_notification("s1", NOW + timedelta(minutes=1), watermark="W1")

    store.mark_subscription_for_renewal("s1", NOW + timedelta(minutes=2))
    store.mark_subscription_for_renewal("s1", NOW + timedelta(minutes=3))  # reported again
    store.record_notification("s1", NOW + timedelta(minutes=4), watermark="W-after-the-loss")

    stored = store.get_subscription("s1")
    assert stored is not None
    assert stored.renewal_requested_at == NOW + timedelta(minutes=2)
    # The last good watermark, for the renewal to resume from.
    assert (stored.watermark, stored.last_seen_at) == ("W1", NOW + timedelta(minutes=1))
    assert stored.is_stale(NOW + timedelta(minutes=2)) and stored.status is SubscriptionStatus.ACTIVE
    assert [s.record_id for s in store.list_active_subscriptions()] == ["s1"]
    with pytest.raises(PermanentError) as caught:
        store.mark_subscription_for_renewal("missing", NOW)
    assert caught.value.code is ErrorCode.SUBSCRIPTION_NOT_FOUND
    assert store.get_subscription("missing") is None  # the failed request created nothing


def test_a_renewal_request_round_trips(store: DynamoDbStore) -> None:
    store.put_subscription(subscription("s1", renewal_requested_at=NOW))

    assert store.get_subscription("s1") == subscription("s1", renewal_requested_at=NOW)
    assert store.get_subscription("s1").is_stale(NOW)  # type: ignore[union-attr]


# Integrations and failures ----------------------------------------------------------------


def test_integration_settings_round_trip(store: DynamoDbStore) -> None:
    settings = {"connection_method": "delegate", "ews_url": "https://mail.example.com/EWS/Exchange.asmx",
                "verify_tls": True, "max_connections": 8, "internal_domains": ["example.com"]}
    store.put_integration("acme", settings, NOW)

    assert store.get_integration("acme") == settings
    assert store.get_integration("unknown") is None
    record = store.get_integration_record("acme")
    assert record is not None and record.updated_at == NOW
    with pytest.raises(PermanentError) as caught:
        store.put_integration("bad", {"when": NOW})
    assert caught.value.code is ErrorCode.INVALID_INTEGRATION


def test_a_missing_table_is_a_retryable_store_failure(client: Any) -> None:
    missing = DynamoDbStore(client, "no-such-table")

    with pytest.raises(RetryableError) as caught:
        missing.begin_job("m-1", "create_event", "acme", "alice@example.com", NOW)
    assert caught.value.code is ErrorCode.STORE_UNAVAILABLE
    assert "alice@example.com" not in str(caught.value)


def test_an_unreachable_endpoint_is_a_retryable_store_failure() -> None:
    # Port 9 (discard) on localhost refuses connections at once; no retries, so no waiting.
    unreachable = boto3.client(
        "dynamodb", region_name="us-east-1", endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="testing", aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=2),
    )

    with pytest.raises(RetryableError) as caught:
        DynamoDbStore(unreachable, TABLE).get_job("m-1")
    assert caught.value.code is ErrorCode.STORE_UNAVAILABLE


def test_get_store_builds_one_store_per_configuration() -> None:
    config = PipelineConfig(table_name=TABLE, aws_endpoint_url="http://127.0.0.1:9")

    assert get_store(config) is get_store(PipelineConfig(table_name=TABLE, aws_endpoint_url="http://127.0.0.1:9"))
    assert get_store(config) is not get_store(PipelineConfig(table_name="other"))
