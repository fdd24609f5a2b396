"""The push callback Lambda, receiving the simulator's real SendNotification POSTs over HTTP."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import boto3
import pytest
from exchangelib import CalendarItem, EWSDateTime, EWSTimeZone

from handlers import callbacks
from pipeline.contract import JobStatus
from pipeline.exchange.ews.booking_stamp import BOOKING_KEY_FIELD
from pipeline.store.dynamodb import DynamoDbStore
from pipeline.store.records import BookingRecord, SubscriptionRecord, SubscriptionStatus
from tests.integration.callback_support import PushRig, rig
from tests.integration.pipeline_support import pipeline
from tests.seed import smtp

__all__ = ["pipeline", "rig"]  # the fixtures, re-exported for pytest

ALICE = smtp("alice")
UTC = EWSTimeZone("UTC")

ENVELOPE = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" '
    'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">'
    '<s:Header><t:RequestServerVersion Version="Exchange2013"/></s:Header><s:Body>'
    "<m:SendNotification><m:ResponseMessages>{messages}</m:ResponseMessages></m:SendNotification>"
    "</s:Body></s:Envelope>"
)


def keep_alive_body(subscription_id: str, watermark: str = "AQAAAA==") -> bytes:
    message = (
        '<m:SendNotificationResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>'
        f"<m:Notification><t:SubscriptionId>{subscription_id}</t:SubscriptionId>"
        "<t:PreviousWatermark>AQAAAA==</t:PreviousWatermark><t:MoreEvents>false</t:MoreEvents>"
        f"<t:StatusEvent><t:Watermark>{watermark}</t:Watermark></t:StatusEvent></m:Notification>"
        "</m:SendNotificationResponseMessage>"
    )
    return ENVELOPE.format(messages=message).encode()


ERROR_BODY = ENVELOPE.format(
    messages='<m:SendNotificationResponseMessage ResponseClass="Error">'
    "<m:MessageText>The events couldn't be read.</m:MessageText>"
    "<m:ResponseCode>ErrorReadEventsFailed</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>"
    "</m:SendNotificationResponseMessage>"
).encode()


def subscribe(rig: PushRig, frequency: int = 1, method: str = "delegate") -> tuple[SubscriptionRecord, str]:
    """A subscription on alice's calendar; returns its record and callback path."""
    outcome = rig.pipeline.run("subscribe_mailbox", integration_id=rig.pipeline.install(method),
                               mailbox=ALICE, status_frequency_minutes=frequency)
    assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    record = rig.pipeline.store.get_subscription(outcome.result["subscription_id"])
    [live] = rig.push.subscriptions()
    return record, live.url.removeprefix(rig.server.base_url)


def error_of(body: bytes) -> str:
    return json.loads(body)["code"]


# Keep-alives and changes ------------------------------------------------------------------------

def test_a_keep_alive_records_when_it_was_heard_and_its_watermark(rig: PushRig):
    record, _ = subscribe(rig, frequency=1)

    now = rig.pipeline.sim.advance_clock(timedelta(minutes=1))
    assert rig.push.wait_idle()

    after = rig.pipeline.store.get_subscription(record.record_id)
    assert [(a.event_types, a.outcome) for a in rig.push.attempts] == [(("StatusEvent",), "ok")]
    assert after.last_seen_at >= now >= record.last_seen_at + timedelta(minutes=1)
    assert after.watermark != record.watermark
    assert after.stale_at() > now
    assert rig.queue.jobs == []


@pytest.mark.parametrize("method", ["personal", "delegate", "impersonation"])
def test_a_booking_changed_in_outlook_is_updated_then_cancelled(rig: PushRig, account, method):
    # A delegate cannot read Deleted Items: the trashed booking is found by its item id instead.
    record, _ = subscribe(rig, frequency=5, method=method)
    alice = account("alice")
    start = EWSDateTime(2030, 1, 7, 10, tzinfo=UTC)
    item = CalendarItem(account=alice, folder=alice.calendar, subject="Interview", start=start,
                        end=start + timedelta(hours=1), **{BOOKING_KEY_FIELD: "booking-1"})
    item.save()
    store = rig.pipeline.store
    store.put_booking(BookingRecord(record.integration_id, "booking-1", ALICE, ALICE, item.id, item.changekey,
                                    rig.pipeline.runtime.clock()))
    assert rig.push.wait_idle()
    [created] = rig.queue.take("process_change")
    assert rig.pipeline.run("process_change", message_id=created.message_id, **created.kwargs).result == {
        "processed": 1, "updated_bookings": [], "cancelled_bookings": []}  # our own write

    item.subject = "Interview (moved to Room B)"
    item.save(update_fields=["subject"])
    assert rig.push.wait_idle()
    [modified] = rig.queue.take("process_change")
    before = dict(rig.pipeline.sim.request_counts())
    outcome = rig.pipeline.run("process_change", message_id=modified.message_id, **modified.kwargs)

    assert outcome.result == {"processed": 1, "updated_bookings": ["booking-1"], "cancelled_bookings": []}
    assert store.get_booking(record.integration_id, "booking-1").change_key == item.changekey
    assert delta(rig, before) == {"GetItem": 1}

    item.move_to_trash()  # Outlook's delete: DeleteItem MoveToDeletedItems
    assert rig.push.wait_idle()
    [moved] = rig.queue.take("process_change")
    before = dict(rig.pipeline.sim.request_counts())
    outcome = rig.pipeline.run("process_change", message_id=moved.message_id, **moved.kwargs)

    assert [e["event_type"] for e in moved.kwargs["events"]] == ["moved"]
    assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    assert outcome.result == {"processed": 1, "updated_bookings": [], "cancelled_bookings": ["booking-1"]}
    assert store.get_booking(record.integration_id, "booking-1").cancelled is True
    assert delta(rig, before) == {"GetItem": 1, "GetFolder": 1}


def delta(rig: PushRig, before: dict[str, int]) -> dict[str, int]:
    after = rig.pipeline.sim.request_counts()
    return {op: n - before.get(op, 0) for op, n in after.items() if n != before.get(op, 0)}


def test_items_without_a_booking_stamp_change_nothing(rig: PushRig, account):
    subscribe(rig, frequency=5)
    alice = account("alice")
    start = EWSDateTime(2030, 1, 8, 10, tzinfo=UTC)
    CalendarItem(account=alice, folder=alice.calendar, subject="Dentist", start=start,
                 end=start + timedelta(hours=1)).save()
    assert rig.push.wait_idle()
    [job] = rig.queue.take("process_change")

    outcome = rig.pipeline.run("process_change", message_id=job.message_id, **job.kwargs)

    assert outcome.result == {"processed": 1, "updated_bookings": [], "cancelled_bookings": []}


def test_the_same_notification_sent_twice_gets_the_same_job_id(rig: PushRig):
    record, path = subscribe(rig)
    change = ENVELOPE.format(messages=(
        '<m:SendNotificationResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>'
        f"<m:Notification><t:SubscriptionId>{record.subscription_id}</t:SubscriptionId>"
        "<t:PreviousWatermark>AQAAAA==</t:PreviousWatermark><t:MoreEvents>false</t:MoreEvents>"
        "<t:ModifiedEvent><t:Watermark>AgAAAA==</t:Watermark><t:TimeStamp>2030-01-01T00:00:00Z</t:TimeStamp>"
        '<t:ItemId Id="item-1" ChangeKey="ck"/><t:ParentFolderId Id="calendar-1"/></t:ModifiedEvent>'
        "</m:Notification></m:SendNotificationResponseMessage>")).encode()

    assert rig.server.post(path, change)[0] == 200
    assert rig.server.post(path, change)[0] == 200

    first, second = rig.queue.take("process_change")
    assert first.message_id == second.message_id
    assert first.kwargs == {
        "integration_id": record.integration_id,
        "subscription_id": record.record_id,
        "events": [{"event_type": "modified", "item_id": "item-1", "folder_id": "calendar-1",
                    "watermark": "AgAAAA==", "timestamp": "2030-01-01T00:00:00+00:00"}],
    }


# What Exchange is told ---------------------------------------------------------------------------

def change(rig: PushRig, owner: str, subject: str) -> str:
    """An item created in the simulator's calendar, as Outlook would; returns its id."""
    from infra.ewssim.models.items import CalendarItem

    item = rig.pipeline.sim.backend.store(owner, "calendar", CalendarItem(subject=subject))
    rig.pipeline.sim.backend.record_change(owner, item, "CreatedEvent")
    return item.item_id


def test_an_error_notification_is_accepted_and_asks_for_a_renewal_at_once(rig: PushRig):
    record, path = subscribe(rig)
    now = rig.pipeline.sim.advance_clock(timedelta(seconds=10))

    status, body = rig.server.post(path, ERROR_BODY)
    marked = rig.pipeline.store.get_subscription(record.record_id)
    again, _ = rig.server.post(path, ERROR_BODY)  # Exchange repeating itself

    assert status == again == 200 and b"<m:SubscriptionStatus>OK</m:SubscriptionStatus>" in body
    after = rig.pipeline.store.get_subscription(record.record_id)
    # Not heard from as a healthy subscription: last_seen_at and the watermark stay as they were.
    assert (after.last_seen_at, after.watermark) == (record.last_seen_at, record.watermark)
    assert after.renewal_requested_at == marked.renewal_requested_at >= now  # the first report's time
    assert after.is_stale(now)
    first, second = rig.queue.take("renew_subscription")
    assert first.message_id == second.message_id
    assert first.kwargs == {"integration_id": record.integration_id, "subscription_id": record.record_id}
    assert rig.queue.jobs == []

    # A keep-alive heard before the renewal runs does not move the watermark past the lost events.
    assert rig.server.post(path, keep_alive_body(record.subscription_id, watermark="AgAAAA=="))[0] == 200
    assert rig.pipeline.store.get_subscription(record.record_id).watermark == record.watermark


def test_events_exchange_could_not_send_are_replayed_by_the_renewal_the_error_enqueued(rig: PushRig):
    # Given a subscription heard from a moment ago, and a booking made while its push failed
    record, path = subscribe(rig, frequency=5)
    rig.server.down = True
    missed = change(rig, ALICE, "booked while Exchange could not read its events")
    assert rig.push.wait_idle()
    rig.server.down = False

    # When Exchange reports ErrorReadEventsFailed and the renewal it caused runs (twice: the
    # repeated report's copy of the job)
    assert rig.server.post(path, ERROR_BODY)[0] == 200
    assert rig.server.post(path, ERROR_BODY)[0] == 200
    jobs = rig.queue.take("renew_subscription")
    outcomes = [rig.pipeline.run(j.actor_name, message_id=j.message_id, **j.kwargs) for j in jobs]
    assert rig.push.wait_idle()
    # A replay that raced the new record's write was refused (403); Exchange retries it 30 s later,
    # when the old subscription's retry is answered Unsubscribe.
    rig.pipeline.sim.advance_clock(timedelta(seconds=30))
    assert rig.push.wait_idle()

    # Then it was renewed once, though heard from recently, from the watermark before the loss
    assert [o.status for o in outcomes] == [JobStatus.SUCCEEDED] * 2
    assert outcomes[0].result == outcomes[1].result  # the one job, run once
    assert outcomes[0].result["renewed"] is True and outcomes[0].result["resumed_from_watermark"] is True
    new_id = outcomes[0].result["new_subscription_id"]
    assert rig.pipeline.store.get_subscription(record.record_id).status is SubscriptionStatus.SUPERSEDED
    new = rig.pipeline.store.get_subscription(new_id)
    assert [s.subscription_id for s in rig.push.subscriptions()] == [new.subscription_id]
    # and the booking Exchange could not send reaches process_change through the new subscription
    replayed = rig.queue.take("process_change")
    assert [(j.kwargs["subscription_id"], e["item_id"]) for j in replayed for e in j.kwargs["events"]] == [
        (new_id, missed)]


def five_events_body(subscription_id: str) -> bytes:
    events = "".join(
        f"<t:ModifiedEvent><t:Watermark>Ag{i}AAA==</t:Watermark><t:TimeStamp>2030-01-01T00:0{i}:00Z</t:TimeStamp>"
        f'<t:ItemId Id="item-{i}" ChangeKey="ck"/><t:ParentFolderId Id="calendar-1"/></t:ModifiedEvent>'
        for i in range(1, 6))
    return ENVELOPE.format(messages=(
        '<m:SendNotificationResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>'
        f"<m:Notification><t:SubscriptionId>{subscription_id}</t:SubscriptionId>"
        f"<t:PreviousWatermark>AQAAAA==</t:PreviousWatermark><t:MoreEvents>false</t:MoreEvents>{events}"
        "</m:Notification></m:SendNotificationResponseMessage>")).encode()


def test_a_body_cut_short_is_refused_and_changes_nothing(rig: PushRig):
    record, path = subscribe(rig)
    whole = five_events_body(record.subscription_id)
    second_event_ends = whole.index(b"</t:ModifiedEvent>", whole.index(b"</t:ModifiedEvent>") + 1)
    cut = whole[: second_event_ends + len(b"</t:ModifiedEvent>")]

    status, body = rig.server.post(path, cut)

    assert (status, error_of(body)) == (400, "INVALID_MESSAGE")
    assert rig.queue.jobs == []
    assert rig.pipeline.store.get_subscription(record.record_id) == record
    # Exchange sends it again whole: all five events, one job.
    assert rig.server.post(path, whole)[0] == 200
    [job] = rig.queue.take("process_change")
    assert [e["item_id"] for e in job.kwargs["events"]] == [f"item-{i}" for i in range(1, 6)]


SERVER_BUSY_FAULT = (
    b'<?xml version="1.0" encoding="utf-8"?>'
    b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>'
    b'<faultcode xmlns:a="http://schemas.microsoft.com/exchange/services/2006/types">a:ErrorServerBusy</faultcode>'
    b'<faultstring xml:lang="en-US">The server cannot service this request right now. Try again later.'
    b'</faultstring><detail>'
    b'<e:ResponseCode xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">ErrorServerBusy'
    b"</e:ResponseCode>"
    b'<e:Message xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">The server cannot '
    b"service this request right now. Try again later.</e:Message>"
    b'<t:MessageXml xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">'
    b'<t:Value Name="BackOffMilliseconds">297749</t:Value></t:MessageXml></detail></s:Fault></s:Body>'
    b"</s:Envelope>"
)


def test_a_soap_fault_with_a_real_token_is_refused_and_changes_nothing(rig: PushRig):
    record, path = subscribe(rig)
    rig.pipeline.sim.advance_clock(timedelta(seconds=10))

    status, body = rig.server.post(path, SERVER_BUSY_FAULT)

    assert (status, error_of(body)) == (400, "INVALID_MESSAGE")
    assert rig.queue.jobs == []
    assert rig.pipeline.store.get_subscription(record.record_id) == record


def test_a_superseded_subscription_is_told_to_unsubscribe(rig: PushRig):
    record, _ = subscribe(rig, frequency=5)
    renewed = rig.pipeline.run("renew_subscription", integration_id=record.integration_id,
                               subscription_id=record.record_id, force=True)
    assert renewed.result["renewed"] is True
    assert rig.push.wait_idle()

    rig.pipeline.sim.advance_clock(timedelta(minutes=5))  # both send a keep-alive
    assert rig.push.wait_idle()

    outcomes = {a.subscription_id: a.outcome for a in rig.push.attempts}
    new = rig.pipeline.store.get_subscription(renewed.result["new_subscription_id"])
    assert outcomes == {record.subscription_id: "unsubscribe", new.subscription_id: "ok"}
    assert [s.subscription_id for s in rig.push.subscriptions()] == [new.subscription_id]
    assert rig.pipeline.store.get_subscription(record.record_id).status is SubscriptionStatus.SUPERSEDED


def test_a_forged_callback_is_refused_and_nothing_happens(rig: PushRig):
    record, _ = subscribe(rig)
    forged = "/notifications/" + "x" * 43

    for target in (forged, "/notifications/short", forged + "/extra"):
        status, body = rig.server.post(target, keep_alive_body(record.subscription_id))
        assert status in (403, 404)
        if status == 403:
            assert error_of(body) == "FORGED_CALLBACK"
    assert rig.server.post(forged, b"")[0] == 403

    assert rig.queue.jobs == []
    assert rig.pipeline.store.get_subscription(record.record_id) == record


def test_a_real_token_with_another_subscriptions_notification_is_refused(rig: PushRig):
    record, path = subscribe(rig)

    status, body = rig.server.post(path, keep_alive_body("someone-elses-subscription"))

    assert (status, error_of(body)) == (403, "FORGED_CALLBACK")
    assert rig.pipeline.store.get_subscription(record.record_id) == record


def test_an_oversized_body_is_refused(rig: PushRig):
    record, path = subscribe(rig)

    status, body = rig.server.post(path, b" " * (1024 * 1024 + 1))

    assert (status, error_of(body)) == (413, "PAYLOAD_TOO_LARGE")
    assert rig.pipeline.store.get_subscription(record.record_id) == record


def test_a_malformed_body_is_refused(rig: PushRig):
    record, path = subscribe(rig)
    not_a_notification = ENVELOPE.replace("SendNotification>", "Nonsense>").format(messages="").encode()

    for bad in (b"", b"not xml at all", b"<a/>", not_a_notification,
                ENVELOPE.format(messages="").encode()):
        status, body = rig.server.post(path, bad)
        assert (status, error_of(body)) == (400, "INVALID_MESSAGE"), bad
    assert rig.pipeline.store.get_subscription(record.record_id) == record


# The connectivity check -------------------------------------------------------------------------

def counted_store(rig: PushRig) -> list[str]:
    """Serve the callback function from a store whose DynamoDB calls are listed (by operation)."""
    config = rig.pipeline.runtime.config
    client = boto3.client("dynamodb", region_name=config.aws_region)
    calls: list[str] = []
    client.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    callbacks.use_dependencies(callbacks.CallbackDependencies(
        store=DynamoDbStore(client, config.table_name), enqueue=rig.queue, clock=rig.pipeline.runtime.clock))
    return calls


def test_the_connectivity_check_greets_a_known_integration_over_http(rig: PushRig):
    integration_id = rig.pipeline.install("delegate")

    status, headers, body = rig.server.get(f"/check/{integration_id}")

    assert status == 200
    assert body.decode() == f"You have successfully reached ews-pipeline, integration is: {integration_id}"
    assert headers["Content-Type"] == "text/plain; charset=utf-8"


def test_an_unknown_integration_differs_only_in_status_and_body(rig: PushRig):
    known = rig.pipeline.install("delegate")
    calls = counted_store(rig)
    asked = [known, "acme-unknown", "bad%20id", "a" * 129, "..%2F..%2Fetc", "%0A"]

    answers = {}
    for integration_id in asked:
        calls.clear()
        status, headers, body = rig.server.get(f"/check/{integration_id}")
        headers.pop("Date")
        answers[integration_id] = (status, headers, body, list(calls))

    status, headers, body, looked_up = answers[known]
    assert status == 200 and looked_up == ["GetItem"]
    not_found = (404, headers | {"Content-Length": "9"}, b"Not found", ["GetItem"])
    for integration_id in asked[1:]:
        assert answers[integration_id] == not_found, integration_id


def test_the_check_answers_get_only_and_changes_nothing(rig: PushRig):
    integration_id = rig.pipeline.install("delegate")
    record, _ = subscribe(rig)
    before = rig.pipeline.store.get_integration_record(integration_id)

    assert rig.server.post(f"/check/{integration_id}", b"")[0] in (404, 405)
    assert rig.server.get(f"/check/{integration_id}")[0] == 200

    assert rig.pipeline.store.get_integration_record(integration_id) == before
    assert rig.pipeline.store.get_subscription(record.record_id) == record
    assert rig.queue.jobs == []


# Secrets ----------------------------------------------------------------------------------------

def test_the_callback_token_appears_in_no_record_and_no_log(rig: PushRig, caplog):
    caplog.set_level(logging.DEBUG)
    record, path = subscribe(rig, frequency=1)
    token = path.rsplit("/", 1)[-1]
    rig.pipeline.sim.advance_clock(timedelta(minutes=1))
    assert rig.push.wait_idle()
    rig.pipeline.run("renew_subscription", integration_id=record.integration_id,
                     subscription_id=record.record_id, force=True)
    assert rig.push.wait_idle()
    tokens = {s.url.rsplit("/", 1)[-1] for s in rig.push.subscriptions()}
    assert rig.push.attempts and len(tokens) == 2 and token in tokens  # the old one and its renewal

    client = boto3.client("dynamodb", region_name=rig.pipeline.runtime.config.aws_region)
    table = json.dumps(client.scan(TableName=rig.pipeline.runtime.config.table_name)["Items"])
    logs = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    assert "<Subscribe: " in logs  # exchangelib logged the Subscribe request, its body withheld
    for secret in tokens:
        assert secret not in table
        assert secret not in logs
