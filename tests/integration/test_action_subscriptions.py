"""subscribe_mailbox and renew_subscription against the simulator, with the callback Lambda live."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from urllib.parse import urlparse

import pytest
from exchangelib import CalendarItem as ExchangeCalendarItem
from exchangelib import EWSDateTime, EWSTimeZone

from infra.ewssim.models.items import CalendarItem
from pipeline.actions.context import ActionContext
from pipeline.actions.subscribe_mailbox import subscribe_mailbox
from pipeline.contract import JobOutcome, JobStatus
from pipeline.contract.subscribe_mailbox import SubscribeMailboxKwargs
from pipeline.integrations import load_integration
from pipeline.store.records import SubscriptionRecord, SubscriptionStatus
from tests.integration.callback_support import PushRig, rig
from tests.integration.event_support import booking, follow_up
from tests.integration.pipeline_support import METHOD_AUTH_PAIRS, PipelineHarness, pipeline
from tests.seed import smtp

__all__ = ["pipeline", "rig"]  # the fixtures, re-exported for pytest

ALICE = smtp("alice")
# Whose calendar each connection method subscribes to for a job about alice.
CALENDAR_OWNER = {"personal": ALICE, "dedicated": smtp("svc"), "delegate": ALICE, "impersonation": ALICE}


def change_calendar(rig: PushRig, owner: str, subject: str = "changed") -> str:
    """A change in a calendar, made on the simulator's side (as a user in Outlook would)."""
    item = rig.pipeline.sim.backend.store(owner, "calendar", CalendarItem(subject=subject))
    rig.pipeline.sim.backend.record_change(owner, item, "CreatedEvent")
    return item.item_id


def subscribe(rig: PushRig, integration_id: str, frequency: int = 1) -> SubscriptionRecord:
    outcome = rig.pipeline.run("subscribe_mailbox", integration_id=integration_id, mailbox=ALICE,
                               status_frequency_minutes=frequency)
    assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    assert outcome.result is not None
    record = rig.pipeline.store.get_subscription(outcome.result["subscription_id"])
    assert record is not None
    return record


def token_of(url: str) -> str:
    return urlparse(url).path.rsplit("/", 1)[-1]


@pytest.mark.parametrize(("method", "auth"), METHOD_AUTH_PAIRS)
def test_subscribe_mailbox_subscribes_the_methods_calendar_with_one_request(rig: PushRig, method, auth,
                                                                           monkeypatch):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the simulator's token endpoint is plain HTTP
    integration_id = rig.pipeline.install(method, auth)
    before = dict(rig.pipeline.sim.request_counts())

    record = subscribe(rig, integration_id, frequency=5)

    counts = rig.pipeline.sim.request_counts()
    assert {op: n - before.get(op, 0) for op, n in counts.items() if n != before.get(op, 0)} == {
        "Subscribe": 1}
    [live] = rig.push.subscriptions()
    assert live.subscription_id == record.subscription_id
    assert live.mailbox == CALENDAR_OWNER[method]
    assert live.status_frequency == timedelta(minutes=5)
    assert live.url.startswith(rig.server.base_url + "/notifications/")
    assert record.token_hash == hashlib.sha256(token_of(live.url).encode()).hexdigest()
    assert (record.integration_id, record.mailbox) == (integration_id, ALICE)
    assert record.status is SubscriptionStatus.ACTIVE
    # The calendar's changes now reach the callback, which queues them for process_change.
    item_id = change_calendar(rig, CALENDAR_OWNER[method])
    assert rig.push.wait_idle()
    [job] = rig.queue.take("process_change")
    assert job.kwargs["subscription_id"] == record.record_id
    assert [e["item_id"] for e in job.kwargs["events"]] == [item_id]


def test_the_token_is_only_in_the_callback_url(rig: PushRig):
    outcome = rig.pipeline.run("subscribe_mailbox", integration_id=rig.pipeline.install("delegate"),
                               mailbox=ALICE)
    [live] = rig.push.subscriptions()
    token = token_of(live.url)

    assert token not in str(outcome.model_dump())
    assert token not in str(rig.pipeline.store.get_subscription(outcome.result["subscription_id"]))


def test_without_a_callback_url_subscribing_fails_for_good_without_a_request(pipeline: PipelineHarness):
    integration_id = pipeline.install("delegate")

    outcome = pipeline.run("subscribe_mailbox", integration_id=integration_id, mailbox=ALICE)

    assert outcome.status is JobStatus.FAILED
    assert outcome.error is not None and outcome.error.code == "INVALID_INTEGRATION"
    assert "PIPELINE_CALLBACK_URL" in outcome.error.message
    assert pipeline.sim.request_counts().get("Subscribe", 0) == 0


def test_a_redelivered_subscribe_job_does_not_subscribe_twice(rig: PushRig):
    # As if the worker died after subscribing and before recording success: the action runs
    # again under the same message id.
    integration_id = rig.pipeline.install("delegate")
    runtime = rig.pipeline.runtime
    context = ActionContext(
        message_id="m-1", integration=load_integration(rig.pipeline.installed[integration_id]),
        store=runtime.store, gateways=runtime.gateways, config=runtime.config, clock=runtime.clock,
    )
    kwargs = SubscribeMailboxKwargs(integration_id=integration_id, mailbox=ALICE)

    first = subscribe_mailbox(context, kwargs)
    second = subscribe_mailbox(context, kwargs)

    assert second == first
    assert rig.pipeline.sim.request_counts()["Subscribe"] == 1


# renew_subscription --------------------------------------------------------------------------

def renew(rig: PushRig, record: SubscriptionRecord, **kwargs):
    return rig.pipeline.run("renew_subscription", integration_id=record.integration_id,
                            subscription_id=record.record_id, **kwargs)


def test_a_subscription_that_is_not_stale_is_left_alone_without_a_request(rig: PushRig):
    record = subscribe(rig, rig.pipeline.install("delegate"), frequency=5)
    rig.pipeline.sim.advance_clock(timedelta(minutes=9))  # stale only after 10 minutes of silence
    rig.push.wait_idle()
    before = rig.pipeline.sim.request_counts()["Subscribe"]

    outcome = renew(rig, record)

    assert outcome.result == {"old_subscription_id": record.record_id, "new_subscription_id": None,
                              "renewed": False, "resumed_from_watermark": False}
    assert rig.pipeline.sim.request_counts()["Subscribe"] == before


def test_a_subscription_marked_for_renewal_is_renewed_though_heard_from_a_moment_ago(rig: PushRig):
    record = subscribe(rig, rig.pipeline.install("delegate"), frequency=5)
    rig.pipeline.sim.advance_clock(timedelta(minutes=5))  # a keep-alive: alive and well
    assert rig.push.wait_idle()
    heard = rig.pipeline.store.get_subscription(record.record_id)
    assert heard.last_seen_at > record.last_seen_at
    now = rig.pipeline.runtime.clock()
    rig.pipeline.store.mark_subscription_for_renewal(record.record_id, now)  # Exchange lost events
    before = rig.pipeline.sim.request_counts()["Subscribe"]

    outcome = renew(rig, record)  # no force

    assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    assert outcome.result["renewed"] is True and outcome.result["resumed_from_watermark"] is True
    assert rig.pipeline.sim.request_counts()["Subscribe"] == before + 1
    new = rig.pipeline.store.get_subscription(outcome.result["new_subscription_id"])
    assert new.watermark == heard.watermark  # resumed from the last good one
    assert new.renewal_requested_at is None and not new.is_stale(now)
    assert rig.pipeline.store.get_subscription(record.record_id).status is SubscriptionStatus.SUPERSEDED


def go_silent(rig: PushRig, minutes: int = 3) -> None:
    """The callback stops answering; Exchange retries, drops the subscription, and time passes."""
    rig.server.down = True
    for _ in range(minutes * 2):
        rig.pipeline.sim.advance_clock(timedelta(seconds=30))
        assert rig.push.wait_idle()
    assert rig.push.subscriptions() == []
    rig.server.down = False


def test_a_stale_subscription_is_renewed_from_its_watermark_and_misses_nothing(rig: PushRig):
    record = subscribe(rig, rig.pipeline.install("delegate"), frequency=1)
    seen = change_calendar(rig, ALICE, "seen before the outage")
    assert rig.push.wait_idle()
    rig.queue.take()
    go_silent(rig)
    missed = [change_calendar(rig, ALICE, "missed 1"), change_calendar(rig, ALICE, "missed 2")]
    before = rig.pipeline.sim.request_counts()["Subscribe"]

    outcome = renew(rig, record)
    assert rig.push.wait_idle()
    # A replay that raced the record write was refused (403) and is retried 30 s later.
    rig.pipeline.sim.advance_clock(timedelta(seconds=30))
    assert rig.push.wait_idle()

    assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    result = outcome.result or {}
    assert result["renewed"] is True and result["resumed_from_watermark"] is True
    assert rig.pipeline.sim.request_counts()["Subscribe"] == before + 1
    old = rig.pipeline.store.get_subscription(record.record_id)
    new = rig.pipeline.store.get_subscription(result["new_subscription_id"])
    assert old.status is SubscriptionStatus.SUPERSEDED and old.superseded_by == new.record_id
    assert new.status is SubscriptionStatus.ACTIVE and new.subscription_id != record.subscription_id
    assert new.token_hash != record.token_hash
    [live] = rig.push.subscriptions()
    assert live.subscription_id == new.subscription_id
    replayed = [e["item_id"] for job in rig.queue.take("process_change") for e in job.kwargs["events"]]
    assert replayed == missed and seen not in replayed
    # The old record stays, and so does the history: both are in the table.
    assert {r.record_id for r in rig.pipeline.store.list_active_subscriptions()} == {new.record_id}
    # The app hears of the renewal, and of no loss: nothing was missed.
    assert subscription_events(rig) == [("subscription.renewed", new.record_id, record.record_id)]
    assert rig.queue.take("sync_calendar") == []


def subscription_events(rig: PushRig) -> list[tuple[str, str, str]]:
    """(type, the record it names, the previous record or the reason) of each subscription event."""
    events = rig.pipeline.store.list_pending_events(limit=100)
    return [(e.type.value, e.data["subscription_record_id"],
             e.data.get("previous_record_id") or e.data["reason"])
            for e in events if e.type.value.startswith("subscription.")]


def test_a_watermark_older_than_30_days_is_not_resumed(rig: PushRig):
    record = subscribe(rig, rig.pipeline.install("delegate"), frequency=1)
    go_silent(rig)
    rig.pipeline.sim.advance_clock(timedelta(days=31))
    assert rig.push.wait_idle()
    before = rig.pipeline.sim.request_counts()["Subscribe"]

    outcome = renew(rig, record)

    assert outcome.result["renewed"] is True and outcome.result["resumed_from_watermark"] is False
    assert rig.pipeline.sim.request_counts()["Subscribe"] == before + 1  # no doomed attempt first
    [live] = rig.push.subscriptions()
    assert live.subscription_id == rig.pipeline.store.get_subscription(
        outcome.result["new_subscription_id"]).subscription_id
    # What happened in those 31 days is gone: the app is told, and the calendar is synced.
    assert sorted(subscription_events(rig)) == [
        ("subscription.lost", record.record_id, "watermark_expired"),
        ("subscription.renewed", outcome.result["new_subscription_id"], record.record_id)]
    assert [job.kwargs for job in rig.queue.take("sync_calendar")] == [
        {"integration_id": record.integration_id, "mailbox": ALICE}]


def test_a_watermark_exchange_refuses_falls_back_to_a_fresh_subscription(rig: PushRig):
    record = subscribe(rig, rig.pipeline.install("delegate"), frequency=1)
    # A watermark of another mailbox's log: Exchange answers ErrorInvalidWatermark.
    bob = subscribe_other(rig)
    store = rig.pipeline.store
    store.record_notification(record.record_id, rig.pipeline.runtime.clock(), bob.watermark)
    go_silent(rig)
    before = rig.pipeline.sim.request_counts()["Subscribe"]

    outcome = renew(rig, store.get_subscription(record.record_id))

    assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    assert outcome.result["renewed"] is True and outcome.result["resumed_from_watermark"] is False
    assert rig.pipeline.sim.request_counts()["Subscribe"] == before + 2
    assert ("subscription.lost", record.record_id, "watermark_rejected") in subscription_events(rig)
    assert len(rig.queue.take("sync_calendar")) == 1


def subscribe_other(rig: PushRig) -> SubscriptionRecord:
    outcome = rig.pipeline.run("subscribe_mailbox", integration_id=rig.pipeline.install("personal"),
                               mailbox=smtp("bob"), status_frequency_minutes=1)
    record = rig.pipeline.store.get_subscription(outcome.result["subscription_id"])
    assert record is not None
    return record


def test_renewing_a_superseded_subscription_does_nothing(rig: PushRig):
    record = subscribe(rig, rig.pipeline.install("delegate"), frequency=1)
    first = renew(rig, record, force=True)
    before = rig.pipeline.sim.request_counts()["Subscribe"]

    again = renew(rig, record, force=True)

    assert first.result["renewed"] is True
    assert again.result == {"old_subscription_id": record.record_id,
                            "new_subscription_id": first.result["new_subscription_id"],
                            "renewed": False, "resumed_from_watermark": False}
    assert rig.pipeline.sim.request_counts()["Subscribe"] == before


def test_renewing_an_unknown_subscription_fails_for_good(rig: PushRig):
    outcome = rig.pipeline.run("renew_subscription", integration_id=rig.pipeline.install("delegate"),
                               subscription_id="sub-nope")

    assert outcome.status is JobStatus.FAILED and outcome.error.code == "SUBSCRIPTION_NOT_FOUND"


# process_change: bookings whose item Exchange can no longer show ---------------------------------

KEY = "interview-1:slot-1"
# Who logs on in Outlook to the calendar a booking for alice lands in, per connection method.
CALENDAR_LOGIN = {"personal": "alice", "dedicated": "svc", "delegate": "alice", "impersonation": "alice"}


def booked_then_subscribed(rig: PushRig, method: str, **settings) -> tuple[str, str]:
    """A booking made by create_event, then a subscription; returns the integration and item id."""
    integration_id = rig.pipeline.install(method, **settings)
    created = rig.pipeline.run("create_event", **booking(integration_id, KEY))
    assert created.status is JobStatus.SUCCEEDED, created.error
    subscribe(rig, integration_id, frequency=5)
    return integration_id, created.result["item_id"]


def process_the_notification(rig: PushRig, event_type: str) -> tuple[JobOutcome, dict[str, int]]:
    """Run the process_change job of the one queued notification; its outcome and EWS requests."""
    assert rig.push.wait_idle()
    [job] = rig.queue.take("process_change")
    assert [e["event_type"] for e in job.kwargs["events"]] == [event_type]
    before = dict(rig.pipeline.sim.request_counts())
    outcome = rig.pipeline.run("process_change", message_id=job.message_id, **job.kwargs)
    after = rig.pipeline.sim.request_counts()
    return outcome, {op: n - before.get(op, 0) for op, n in after.items() if n != before.get(op, 0)}


@pytest.mark.parametrize("method", ["personal", "dedicated", "delegate", "impersonation"])
def test_a_hard_deleted_booking_is_cancelled_without_a_request(rig: PushRig, account, method):
    integration_id, item_id = booked_then_subscribed(rig, method)
    [item] = account(CALENDAR_LOGIN[method]).fetch(ids=[(item_id, None)])

    item.delete()  # DeleteItem HardDelete: the item is gone, GetItem could not read its stamp

    outcome, requests = process_the_notification(rig, "deleted")
    assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    assert outcome.result == {"processed": 1, "updated_bookings": [], "cancelled_bookings": [KEY]}
    assert requests == {}
    assert rig.pipeline.store.get_booking(integration_id, KEY).cancelled is True


@pytest.mark.parametrize(("mover", "mailbox"), [("alice", None), ("svc", "alice")],
                         ids=["by-the-owner", "by-a-delegate"])
def test_a_booking_moved_to_deleted_items_out_of_a_delegates_sight_is_cancelled(
        rig: PushRig, account, mover, mailbox):
    # The delegate method's logon has no rights on alice's Deleted Items: GetItem is refused.
    integration_id, item_id = booked_then_subscribed(rig, "delegate")
    mailbox_as_mover = account(mover, mailbox=mailbox)

    # Outlook's delete: DeleteItem MoveToDeletedItems (to alice's Deleted Items, even for svc).
    [answer] = mailbox_as_mover.bulk_delete(ids=[(item_id, None)], delete_type="MoveToDeletedItems")
    assert answer is True

    outcome, requests = process_the_notification(rig, "moved")
    assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    assert outcome.result == {"processed": 1, "updated_bookings": [], "cancelled_bookings": [KEY]}
    # GetItem is refused; GetFolder tells that the move left the calendar (not a private item
    # moved within it, which a delegate cannot read either).
    assert requests == {"GetItem": 1, "GetFolder": 1}
    assert rig.pipeline.store.get_booking(integration_id, KEY).cancelled is True


def test_deleting_an_event_that_is_no_booking_changes_nothing(rig: PushRig, account):
    integration_id, _ = booked_then_subscribed(rig, "delegate")
    alice = account("alice")
    start = EWSDateTime(2030, 1, 8, 10, tzinfo=EWSTimeZone("UTC"))
    dentist = ExchangeCalendarItem(account=alice, folder=alice.calendar, subject="Dentist", start=start,
                                   end=start + timedelta(hours=1))
    dentist.save()
    assert rig.push.wait_idle()
    rig.queue.take("process_change")

    dentist.delete()

    outcome, requests = process_the_notification(rig, "deleted")
    assert outcome.result == {"processed": 1, "updated_bookings": [], "cancelled_bookings": []}
    assert requests == {}
    assert rig.pipeline.store.get_booking(integration_id, KEY).cancelled is False


def test_a_booking_the_pipeline_cancelled_is_not_reported_again(rig: PushRig):
    integration_id, _ = booked_then_subscribed(rig, "delegate", delete_type="hard")
    cancelled = rig.pipeline.run("cancel_event", **follow_up(integration_id, KEY, notify=False))
    assert cancelled.status is JobStatus.SUCCEEDED, cancelled.error

    outcome, requests = process_the_notification(rig, "deleted")

    assert outcome.result == {"processed": 1, "updated_bookings": [], "cancelled_bookings": []}
    assert requests == {}
