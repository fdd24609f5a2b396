"""Subscribe, Unsubscribe, GetEvents and GetStreamingEvents, driven by exchangelib over HTTP."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from exchangelib import FolderCollection
from exchangelib.errors import (
    ErrorAccessDenied,
    ErrorInvalidPushSubscriptionUrl,
    ErrorInvalidSubscription,
    ErrorInvalidWatermark,
    ErrorNonExistentMailbox,
    ErrorSchemaValidation,
    ErrorSubscriptionAccessDenied,
    ErrorSubscriptionNotFound,
)
from exchangelib.properties import DistinguishedFolderId, Mailbox
from exchangelib.services import GetEvents, SubscribeToPull
from exchangelib.util import create_element

from infra.ewssim.models.items import CalendarItem
from infra.ewssim.models.subscriptions import MAX_EVENTS_PER_NOTIFICATION, store_for
from infra.ewssim.server import EwsSimulator
from tests.seed import smtp

ALICE = smtp("alice")


def calendar_of(account, owner: str) -> FolderCollection:
    """Another mailbox's calendar by distinguished id, without a GetFolder first."""
    folder = DistinguishedFolderId(id="calendar", mailbox=Mailbox(email_address=smtp(owner)))
    return FolderCollection(account=account, folders=[folder])


def change(sim: EwsSimulator, event_type: str = "CreatedEvent", owner: str = ALICE) -> str:
    item = sim.backend.store(owner, "calendar", CalendarItem(subject=event_type))
    sim.backend.record_change(owner, item, event_type)
    return item.item_id


def event_ids(notifications) -> list[tuple[str, str]]:
    return [
        (type(e).__name__, e.item_id.id if getattr(e, "item_id", None) else "")
        for n in notifications for e in n.events
    ]


class SubscribeToPullAt(SubscribeToPull):
    """exchangelib 5.6 writes m:Watermark, which messages.xsd rejects; EWS wants t:Watermark."""

    def get_payload(self, folders, event_types, watermark, timeout):
        payload = create_element(f"m:{self.SERVICE_NAME}")
        request = self._partial_payload(folders=folders, event_types=event_types)
        for tag, value in (("t:Watermark", watermark), ("t:Timeout", str(timeout))):
            request.append(create_element(tag))
            request[-1].text = value
        payload.append(request)
        return payload


# Pull ------------------------------------------------------------------------------------------

def test_get_events_returns_what_happened_since_the_last_call(sim, account):
    calendar = account("alice").calendar
    subscription_id, watermark = calendar.subscribe_to_pull(timeout=10)
    created, modified = change(sim), change(sim, "ModifiedEvent")

    first = list(calendar.get_events(subscription_id, watermark))
    second = list(calendar.get_events(subscription_id, first[-1].events[-1].watermark))

    assert event_ids(first) == [("CreatedEvent", created), ("ModifiedEvent", modified)]
    assert first[0].previous_watermark == watermark
    assert event_ids(second) == [("StatusEvent", "")]


def test_more_events_splits_a_long_backlog(sim, account):
    calendar = account("alice").calendar
    subscription_id, watermark = calendar.subscribe_to_pull()
    made = [change(sim) for _ in range(MAX_EVENTS_PER_NOTIFICATION + 3)]

    notifications = list(calendar.get_events(subscription_id, watermark))

    assert [n.more_events for n in notifications] == [True, False]
    assert [item_id for _, item_id in event_ids(notifications)] == made


def test_a_pull_subscription_expires_after_its_idle_timeout(sim, account):
    calendar = account("alice").calendar
    subscription_id, watermark = calendar.subscribe_to_pull(timeout=2)

    sim.backend.clock.advance(timedelta(seconds=90))
    list(calendar.get_events(subscription_id, watermark))  # resets the idle timer
    sim.backend.clock.advance(timedelta(seconds=90))
    list(calendar.get_events(subscription_id, watermark))
    sim.backend.clock.advance(timedelta(minutes=3))

    with pytest.raises(ErrorSubscriptionNotFound):
        list(calendar.get_events(subscription_id, watermark))


def test_unknown_and_foreign_subscriptions_are_refused(sim, account):
    subscription_id, watermark = account("svc", mailbox="alice").calendar.subscribe_to_pull()
    bob = account("bob")

    with pytest.raises(ErrorSubscriptionNotFound):
        GetEvents(account=bob).get(subscription_id="bm8tc3VjaC1zdWJzY3JpcHRpb24=", watermark=watermark)
    with pytest.raises(ErrorSubscriptionAccessDenied):
        GetEvents(account=bob).get(subscription_id=subscription_id, watermark=watermark)


def test_unsubscribe_ends_pull_and_streaming_subscriptions(sim, account):
    calendar = account("alice").calendar
    pull_id, watermark = calendar.subscribe_to_pull()
    streaming_id = calendar.subscribe_to_streaming()

    calendar.unsubscribe(pull_id)
    calendar.unsubscribe(streaming_id)

    with pytest.raises(ErrorSubscriptionNotFound):
        list(calendar.get_events(pull_id, watermark))
    with pytest.raises(ErrorSubscriptionNotFound):
        calendar.unsubscribe(streaming_id)
    assert store_for(sim.backend).subscriptions() == []


def test_a_pull_subscription_resumes_from_a_watermark(sim, account):
    alice = account("alice")
    old_id, watermark = alice.calendar.subscribe_to_pull()
    alice.calendar.unsubscribe(old_id)
    missed = [change(sim), change(sim, "DeletedEvent")]

    new_id, _ = SubscribeToPullAt(account=alice).get(
        folders=[alice.calendar], event_types=["CreatedEvent", "DeletedEvent"], watermark=watermark, timeout=5
    )

    assert [i for _, i in event_ids(alice.calendar.get_events(new_id, watermark))] == missed


def test_unknown_and_expired_watermarks_are_refused(sim, account):
    alice = account("alice")
    _, watermark = alice.calendar.subscribe_to_pull()

    def subscribe_at(mark: str) -> None:
        SubscribeToPullAt(account=alice).get(
            folders=[alice.calendar], event_types=["CreatedEvent"], watermark=mark, timeout=5
        )

    with pytest.raises(ErrorInvalidWatermark):
        subscribe_at("bm90IGEgd2F0ZXJtYXJr")
    sim.backend.clock.advance(timedelta(days=31))
    with pytest.raises(ErrorInvalidWatermark):
        subscribe_at(watermark)


# Streaming -------------------------------------------------------------------------------------

# ConnectionTimeout is "the maximum number of minutes to keep a streaming connection open"
# (https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/connectiontimeout):
# Exchange writes each batch of events as its own envelope on the open connection
# (https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/
# how-to-stream-notifications-about-mailbox-events-by-using-ews-in-exchange).

def test_streaming_sends_queued_events_on_the_open_connection(sim, account):
    calendar = account("alice").calendar
    subscription_id = calendar.subscribe_to_streaming()
    created = change(sim)

    notifications = list(calendar.get_streaming_events(subscription_id, connection_timeout=1,
                                                       max_notifications_returned=1))

    assert event_ids(notifications) == [("CreatedEvent", created)]
    assert notifications[0].subscription_id == subscription_id


def test_one_streaming_connection_carries_each_event_as_it_happens(sim, account):
    calendar = account("alice").calendar
    subscription_id = calendar.subscribe_to_streaming()
    first = threading.Timer(0.2, change, args=(sim,))
    second = threading.Timer(0.6, change, args=(sim, "DeletedEvent"))
    first.start()
    second.start()
    try:
        notifications = list(calendar.get_streaming_events(subscription_id, connection_timeout=1,
                                                           max_notifications_returned=2))
    finally:
        first.join()
        second.join()

    batches = [[kind for kind, _ in event_ids([n])] for n in notifications]
    assert batches == [["CreatedEvent"], ["DeletedEvent"]]
    assert sim.request_counts()["GetStreamingEvents"] == 1


def test_a_streaming_connection_closes_when_its_timeout_passes(sim, account):
    calendar = account("alice").calendar
    subscription_id = calendar.subscribe_to_streaming()
    # A minute of simulated time passes while the connection is open.
    later = threading.Timer(0.3, sim.advance_clock, args=(61,))
    later.start()
    try:
        assert list(calendar.get_streaming_events(subscription_id, connection_timeout=1)) == []
    finally:
        later.join()


def test_streaming_with_nothing_to_report_closes_empty(sim, account):
    calendar = account("alice").calendar
    subscription_id = calendar.subscribe_to_streaming()
    store_for(sim.backend).streaming_max_wait = 0.05  # the test's cap on the connection, in real time
    try:
        assert list(calendar.get_streaming_events(subscription_id, connection_timeout=1)) == []
    finally:
        store_for(sim.backend).streaming_max_wait = None


def test_streaming_refuses_a_pull_subscription(sim, account):
    calendar = account("alice").calendar
    pull_id, _ = calendar.subscribe_to_pull()

    with pytest.raises(ErrorInvalidSubscription):
        list(calendar.get_streaming_events(pull_id, connection_timeout=1))


# Access and validation -------------------------------------------------------------------------

def test_delegates_need_reviewer_on_the_folder(sim, account):
    svc = account("svc")
    assert calendar_of(svc, "carol").subscribe_to_pull()  # Reviewer
    assert calendar_of(svc, "alice").subscribe_to_streaming()  # Delegate
    with pytest.raises(ErrorAccessDenied):
        calendar_of(svc, "bob").subscribe_to_pull()  # FreeBusyTimeOnly
    with pytest.raises(ErrorAccessDenied):
        calendar_of(account("bob"), "alice").subscribe_to_push("http://127.0.0.1:9/callback")


def test_impersonation_subscribes_as_the_user(sim, account):
    impersonating = account("svc-imp", mailbox="alice", impersonate=True)
    subscription_id, watermark = impersonating.calendar.subscribe_to_pull()
    created = change(sim)

    notifications = impersonating.calendar.get_events(subscription_id, watermark)
    assert event_ids(notifications) == [("CreatedEvent", created)]


def test_an_unknown_mailbox_is_refused(sim, account):
    with pytest.raises(ErrorNonExistentMailbox):
        calendar_of(account("svc"), "nobody").subscribe_to_pull()


def test_bad_push_settings_are_refused(sim, account):
    calendar = account("alice").calendar
    with pytest.raises(ErrorInvalidPushSubscriptionUrl):
        calendar.subscribe_to_push("ftp://example.com/callback")
    with pytest.raises(ErrorSchemaValidation):
        calendar.subscribe_to_push("http://127.0.0.1:9/callback", status_frequency=1441)
