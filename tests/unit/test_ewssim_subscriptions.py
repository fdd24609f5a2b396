"""Subscription state and push scheduling without HTTP: watermarks, logs, cursors, retries."""

from __future__ import annotations

from datetime import timedelta

import pytest

from infra.ewssim.errors import EwsError
from infra.ewssim.models.backend import Change, EwsBackend
from infra.ewssim.models.event_log import decode_watermark, encode_watermark
from infra.ewssim.models.subscriptions import (
    MAX_EVENTS_PER_NOTIFICATION,
    SubscriptionKind,
    SubscriptionStore,
    store_for,
)
from infra.ewssim.push import PushService

MAILBOX = "alice@example.com"
ALL = frozenset({"CreatedEvent", "ModifiedEvent", "DeletedEvent", "MovedEvent"})


@pytest.fixture
def backend() -> EwsBackend:
    return EwsBackend()


@pytest.fixture
def store(backend: EwsBackend) -> SubscriptionStore:
    return store_for(backend)


def feed(store: SubscriptionStore, event_type: str = "CreatedEvent", folder: str = "cal", item: str = "i1",
         old_folder: str = "") -> None:
    store.record(Change(MAILBOX, folder, event_type, item, old_folder))


def pull(store: SubscriptionStore, folders: frozenset[str] | None = frozenset({"cal"}), **kwargs):
    return store.subscribe(SubscriptionKind.PULL, MAILBOX, folders, ALL, MAILBOX,
                           timeout=timedelta(minutes=5), **kwargs)


def test_watermarks_round_trip_and_reject_garbage(store):
    now = store.clock.now()
    position = decode_watermark(encode_watermark(MAILBOX, 7, now))
    assert (position.mailbox, position.seq) == (MAILBOX, 7)
    for bad in ("", "not base64!", "aGVsbG8="):
        with pytest.raises(EwsError) as failure:
            decode_watermark(bad)
        assert failure.value.code == "ErrorInvalidWatermark"


def test_a_subscription_sees_only_its_folders_and_event_types(store):
    subscription = store.subscribe(
        SubscriptionKind.PULL, MAILBOX, frozenset({"cal"}), {"CreatedEvent"}, MAILBOX,
        timeout=timedelta(minutes=5),
    )
    feed(store, "CreatedEvent", item="a")
    feed(store, "ModifiedEvent", item="b")
    feed(store, "CreatedEvent", folder="inbox", item="c")
    feed(store, "CreatedEvent", folder="cal", item="d")

    notification = store.peek(subscription)

    assert [e.item_id for e in notification.events] == ["a", "d"]


def test_a_move_out_of_a_watched_folder_is_seen(store):
    subscription = pull(store)
    feed(store, "MovedEvent", folder="deleted", old_folder="cal")
    assert [e.event_type for e in store.peek(subscription).events] == ["MovedEvent"]


def test_get_events_moves_the_cursor_and_reports_status_when_idle(store):
    subscription = pull(store)
    feed(store, item="a")
    first = store.get_events(subscription.subscription_id, subscription.cursor_watermark, MAILBOX)
    second = store.get_events(subscription.subscription_id, first.events[-1].watermark, MAILBOX)
    assert [e.item_id for e in first.events] == ["a"]
    assert second.events == () and second.previous_watermark == first.events[-1].watermark


def test_more_events_caps_a_notification(store):
    subscription = pull(store)
    for n in range(MAX_EVENTS_PER_NOTIFICATION + 1):
        feed(store, item=str(n))
    notification = store.peek(subscription)
    assert len(notification.events) == MAX_EVENTS_PER_NOTIFICATION and notification.more_events


def test_resuming_replays_events_after_the_watermark(store):
    old = pull(store)
    feed(store, item="a")
    feed(store, item="b")
    mark = store.peek(old).events[0].watermark

    new = pull(store, watermark=mark)

    assert [e.item_id for e in store.peek(new).events] == ["b"]


def test_watermarks_older_than_30_days_are_invalid(store):
    mark = pull(store).cursor_watermark
    store.clock.advance(timedelta(days=30, seconds=1))
    with pytest.raises(EwsError) as failure:
        pull(store, watermark=mark)
    assert failure.value.code == "ErrorInvalidWatermark"


def test_another_mailboxs_watermark_is_invalid(store):
    mark = encode_watermark("bob@example.com", 0, store.clock.now())
    with pytest.raises(EwsError):
        pull(store, watermark=mark)


def test_pull_subscriptions_expire_when_idle(store):
    subscription = pull(store)
    store.clock.advance(timedelta(minutes=6))
    assert store.find(subscription.subscription_id) is None


def test_only_the_owner_reads_a_subscription(store):
    subscription = pull(store)
    with pytest.raises(EwsError) as failure:
        store.get(subscription.subscription_id, "bob@example.com")
    assert failure.value.code == "ErrorSubscriptionAccessDenied"


def test_push_subscriptions_cannot_be_unsubscribed_by_call(store):
    subscription = store.subscribe(SubscriptionKind.PUSH, MAILBOX, None, ALL, MAILBOX, url="http://x")
    with pytest.raises(EwsError):
        store.unsubscribe(subscription.subscription_id, MAILBOX)


class ScriptedPush(PushService):
    """A push service whose callback answers from a script instead of over HTTP."""

    def __init__(self, backend: EwsBackend, store: SubscriptionStore, answers: list[str]) -> None:
        super().__init__(backend, store)
        self.answers = answers
        store.on_pending(self.on_pending)
        backend.clock.on_advance(self.on_advance)

    def _post(self, url: str, body: bytes) -> tuple[int | None, str, str]:
        outcome = self.answers.pop(0) if self.answers else "failed"
        return (200 if outcome != "failed" else 503), outcome, ""


def test_retries_double_until_the_status_frequency_window_is_passed(backend, store):
    service = ScriptedPush(backend, store, [])
    store.subscribe(SubscriptionKind.PUSH, MAILBOX, None, ALL, MAILBOX, url="http://x",
                    status_frequency=timedelta(minutes=10))
    feed(store)
    assert service.wait_idle()
    for _ in range(30):
        backend.clock.advance(timedelta(seconds=30))
        assert service.wait_idle()

    start = service.attempts[0].at
    assert [(a.at - start).total_seconds() for a in service.attempts] == [0, 30, 90, 210, 450]
    assert store.subscriptions() == []
    service.stop()


def test_a_successful_retry_resets_the_schedule(backend, store):
    service = ScriptedPush(backend, store, ["failed", "ok", "failed", "ok"])
    subscription = store.subscribe(SubscriptionKind.PUSH, MAILBOX, None, ALL, MAILBOX, url="http://x",
                                   status_frequency=timedelta(minutes=10))
    feed(store)
    assert service.wait_idle()
    backend.clock.advance(timedelta(seconds=30))
    assert service.wait_idle()
    feed(store, item="b")
    assert service.wait_idle()
    backend.clock.advance(timedelta(seconds=30))
    assert service.wait_idle()

    assert [a.outcome for a in service.attempts] == ["failed", "ok", "failed", "ok"]
    assert subscription.cursor == 2
    service.stop()


def test_a_streaming_connection_stays_open_until_its_timeout(store):
    # ConnectionTimeout is "the maximum number of minutes to keep a streaming connection open"
    # (https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/connectiontimeout).
    subscription = store.subscribe(SubscriptionKind.STREAMING, MAILBOX, frozenset({"cal"}), ALL, MAILBOX,
                                   timeout=timedelta(minutes=5))  # fmt: skip
    store.streaming_keep_alive = 0.05
    feed(store, item="a")

    connection = store.stream([subscription.subscription_id], MAILBOX, timedelta(minutes=1))

    assert [[e.item_id for e in n.events] for n in next(connection)] == [["a"]]
    assert next(connection) == []  # nothing for a while: a keep-alive, and the connection stays open
    feed(store, item="b")
    assert [[e.item_id for e in n.events] for n in next(connection)] == [["b"]]
    store.clock.advance(timedelta(minutes=1))  # simulated time passes the ConnectionTimeout
    assert list(connection) == []


def test_a_streaming_connection_ends_with_its_subscription(store):
    subscription = store.subscribe(SubscriptionKind.STREAMING, MAILBOX, None, ALL, MAILBOX,
                                   timeout=timedelta(minutes=5))  # fmt: skip
    connection = store.stream([subscription.subscription_id], MAILBOX, timedelta(minutes=30))
    store.unsubscribe(subscription.subscription_id, MAILBOX)
    assert list(connection) == []
    with pytest.raises(EwsError) as refused:
        store.stream([pull(store).subscription_id], MAILBOX, timedelta(minutes=1))
    assert refused.value.code == "ErrorInvalidSubscription"
