"""The callback's decisions, the SendNotification reader and the renewal pick, without I/O."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pipeline.errors import ErrorCode, PermanentError
from pipeline.exchange.ews.notifications import ok_answer, parse_send_notification, unsubscribe_answer
from pipeline.exchange.ews.subscriptions import redact_callback_tokens
from pipeline.notifications import MAX_BODY_BYTES, receive_push
from pipeline.renewals import enqueue_stale_renewals
from pipeline.store.records import SubscriptionRecord, SubscriptionStatus
from pipeline.subscriptions import callback_url, hash_token, new_callback_token

NOW = datetime(2030, 1, 7, 12, tzinfo=UTC)
TOKEN = "t" * 43

ENVELOPE = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" '
    'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><s:Body>'
    "<m:SendNotification><m:ResponseMessages>{}</m:ResponseMessages></m:SendNotification>"
    "</s:Body></s:Envelope>"
)
OK_MESSAGE = (
    '<m:SendNotificationResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>'
    "<m:Notification><t:SubscriptionId>sub-1</t:SubscriptionId>"
    "<t:PreviousWatermark>w0</t:PreviousWatermark><t:MoreEvents>false</t:MoreEvents>{}"
    "</m:Notification></m:SendNotificationResponseMessage>"
)
STATUS = "<t:StatusEvent><t:Watermark>w-status</t:Watermark></t:StatusEvent>"
CREATED = (
    "<t:CreatedEvent><t:Watermark>w1</t:Watermark><t:TimeStamp>2030-01-07T11:00:00Z</t:TimeStamp>"
    '<t:ItemId Id="item-1" ChangeKey="ck"/><t:ParentFolderId Id="cal"/></t:CreatedEvent>'
)
MOVED = (
    "<t:MovedEvent><t:Watermark>w2</t:Watermark><t:TimeStamp>2030-01-07T11:01:00Z</t:TimeStamp>"
    '<t:ItemId Id="item-1" ChangeKey="ck2"/><t:ParentFolderId Id="trash"/>'
    '<t:OldItemId Id="item-1"/><t:OldParentFolderId Id="cal"/></t:MovedEvent>'
)
ERROR_MESSAGE = (
    '<m:SendNotificationResponseMessage ResponseClass="Error"><m:MessageText>x</m:MessageText>'
    "<m:ResponseCode>ErrorReadEventsFailed</m:ResponseCode></m:SendNotificationResponseMessage>"
)


def body(*messages: str) -> bytes:
    return ENVELOPE.format("".join(messages)).encode()


def record(**changes: Any) -> SubscriptionRecord:
    base = SubscriptionRecord(
        record_id="rec-1", subscription_id="sub-1", integration_id="acme", mailbox="alice@example.com",
        token_hash=hash_token(TOKEN), watermark="w0", status_frequency_minutes=5,
        created_at=NOW - timedelta(hours=1), last_seen_at=NOW - timedelta(minutes=1),
    )
    return replace(base, **changes)


class FakeStore:
    """The subscription part of the store, in memory."""

    def __init__(self, *records: SubscriptionRecord) -> None:
        self.records = {r.record_id: r for r in records}
        self.seen: list[tuple[str, datetime, str | None]] = []
        self.renewals_requested: list[tuple[str, datetime]] = []

    def find_subscription_by_token_hash(self, token_hash: str) -> SubscriptionRecord | None:
        return next((r for r in self.records.values() if r.token_hash == token_hash), None)

    def record_notification(self, record_id: str, seen_at: datetime, watermark: str | None = None) -> None:
        self.seen.append((record_id, seen_at, watermark))

    def list_active_subscriptions(self) -> list[SubscriptionRecord]:
        return [r for r in self.records.values() if r.status is SubscriptionStatus.ACTIVE]

    def mark_subscription_for_renewal(self, record_id: str, now: datetime) -> None:
        self.renewals_requested.append((record_id, now))


class Queue:
    def __init__(self) -> None:
        self.jobs: list[tuple[str, dict[str, Any], str | None]] = []

    def __call__(self, actor_name: str, kwargs: dict[str, Any], *, message_id: str | None = None) -> str:
        self.jobs.append((actor_name, kwargs, message_id))
        return message_id or f"m-{len(self.jobs)}"


def receive(store: FakeStore, queue: Queue, payload: bytes, token: str = TOKEN):
    return receive_push(token, payload, store=store, enqueue=queue, clock=lambda: NOW)  # type: ignore[arg-type]


# Reading SendNotification -------------------------------------------------------------------

def test_a_keep_alive_is_a_notification_without_events():
    delivery = parse_send_notification(body(OK_MESSAGE.format(STATUS)))

    [notification] = delivery.notifications
    assert notification.is_keep_alive and notification.watermark == "w-status"
    assert (notification.subscription_id, notification.previous_watermark) == ("sub-1", "w0")


def test_item_events_keep_their_order_ids_and_watermarks():
    [notification] = parse_send_notification(body(OK_MESSAGE.format(CREATED + MOVED))).notifications

    assert [(e.event_type, e.item_id, e.folder_id, e.watermark) for e in notification.events] == [
        ("created", "item-1", "cal", "w1"), ("moved", "item-1", "trash", "w2")]
    assert notification.events[0].timestamp == datetime(2030, 1, 7, 11, tzinfo=UTC)
    assert notification.watermark == "w2"


def test_an_error_message_is_reported_not_refused():
    delivery = parse_send_notification(body(ERROR_MESSAGE))

    assert delivery.notifications == () and delivery.errors == ("ErrorReadEventsFailed",)


@pytest.mark.parametrize("payload", [b"", b"garbage", b"<a/>", body(), body("<m:Other/>")])
def test_anything_else_is_an_invalid_message(payload):
    with pytest.raises(PermanentError) as caught:
        parse_send_notification(payload)
    assert caught.value.code is ErrorCode.INVALID_MESSAGE


def five_events() -> str:
    return "".join(
        f"<t:ModifiedEvent><t:Watermark>w{i}</t:Watermark><t:TimeStamp>2030-01-07T11:0{i}:00Z</t:TimeStamp>"
        f'<t:ItemId Id="item-{i}" ChangeKey="ck"/><t:ParentFolderId Id="cal"/></t:ModifiedEvent>'
        for i in range(1, 6)
    )


def cut_after_event(payload: bytes, events: int) -> bytes:
    """The body as a connection cut just after its n-th event would leave it."""
    end = -1
    for _ in range(events):
        end = payload.index(b"</t:ModifiedEvent>", end + 1)
    return payload[: end + len(b"</t:ModifiedEvent>")]


SOAP_FAULT = (
    b'<?xml version="1.0" encoding="utf-8"?>'
    b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>'
    b'<faultcode xmlns:a="http://schemas.microsoft.com/exchange/services/2006/types">a:ErrorServerBusy</faultcode>'
    b"<faultstring>The server cannot service this request right now. Try again later.</faultstring>"
    b'<detail><e:ResponseCode xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">'
    b"ErrorServerBusy</e:ResponseCode>"
    b'<t:MessageXml xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">'
    b'<t:Value Name="BackOffMilliseconds">30000</t:Value></t:MessageXml></detail>'
    b"</s:Fault></s:Body></s:Envelope>"
)


def test_a_whole_body_of_five_events_is_read_whole():
    [notification] = parse_send_notification(body(OK_MESSAGE.format(five_events()))).notifications

    assert [e.item_id for e in notification.events] == [f"item-{i}" for i in range(1, 6)]


@pytest.mark.parametrize("events", [0, 2, 5])
def test_a_body_cut_short_is_an_invalid_message(events):
    # exchangelib alone (recover mode) reads a body cut after event 2 as a notification of 2 events.
    truncated = cut_after_event(body(OK_MESSAGE.format(five_events())), events) if events else (
        body(OK_MESSAGE.format(five_events()))[:-1])

    with pytest.raises(PermanentError) as caught:
        parse_send_notification(truncated)

    assert caught.value.code is ErrorCode.INVALID_MESSAGE
    assert "not well-formed" in caught.value.message


def test_a_soap_fault_is_an_invalid_message_not_a_reported_error():
    with pytest.raises(PermanentError) as caught:
        parse_send_notification(SOAP_FAULT)

    assert caught.value.code is ErrorCode.INVALID_MESSAGE
    assert "fault" in caught.value.message


@pytest.mark.parametrize(("doctype", "watermark"), [
    ('<!DOCTYPE s:Envelope [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>', "&b;"),
    ('<!DOCTYPE s:Envelope [<!ENTITY x SYSTEM "file:///etc/passwd">]>', "&x;"),
    ('<!DOCTYPE s:Envelope SYSTEM "http://127.0.0.1:9/evil.dtd">', "w-status"),
])
def test_a_body_with_a_document_type_declaration_is_refused(doctype, watermark):
    # Entity expansion (billion laughs) and external entities (XXE) both need a DTD: none passes.
    payload = body(OK_MESSAGE.format(STATUS.replace("w-status", watermark)))
    payload = payload.replace(b"?>", b"?>" + doctype.encode(), 1)

    with pytest.raises(PermanentError) as caught:
        parse_send_notification(payload)

    assert caught.value.code is ErrorCode.INVALID_MESSAGE
    assert "document type" in caught.value.message


def test_an_invalid_body_is_not_quoted_in_the_error():
    secret_looking = body(OK_MESSAGE.format(STATUS)).replace(b"sub-1", b"sub-1-SECRET")[:-20]

    with pytest.raises(PermanentError) as caught:
        parse_send_notification(secret_looking)

    assert "SECRET" not in str(caught.value)


def test_the_answers_are_soap_text():
    assert "<m:SubscriptionStatus>OK</m:SubscriptionStatus>" in ok_answer()
    assert "<m:SubscriptionStatus>Unsubscribe</m:SubscriptionStatus>" in unsubscribe_answer()


# Deciding -------------------------------------------------------------------------------------

def test_a_keep_alive_is_recorded_with_its_watermark_and_queues_nothing():
    store, queue = FakeStore(record()), Queue()

    answer = receive(store, queue, body(OK_MESSAGE.format(STATUS)))

    assert not answer.unsubscribe and answer.enqueued == ()
    assert store.seen == [("rec-1", NOW, "w-status")]
    assert queue.jobs == []


def test_item_events_queue_one_process_change_job_with_a_stable_id():
    store, queue = FakeStore(record()), Queue()
    payload = body(OK_MESSAGE.format(CREATED + MOVED))

    receive(store, queue, payload)
    receive(store, queue, payload)

    (actor, kwargs, first_id), (_, _, second_id) = queue.jobs
    assert actor == "process_change" and first_id == second_id
    assert kwargs["subscription_id"] == "rec-1" and len(kwargs["events"]) == 2
    assert store.seen[-1] == ("rec-1", NOW, "w2")


def test_a_failing_queue_leaves_the_watermark_where_it_was():
    store = FakeStore(record())

    def broken(actor_name: str, kwargs: dict[str, Any], *, message_id: str | None = None) -> str:
        raise RuntimeError("queue down")

    with pytest.raises(RuntimeError):
        receive_push(TOKEN, body(OK_MESSAGE.format(CREATED)), store=store, enqueue=broken,  # type: ignore[arg-type]
                     clock=lambda: NOW)
    assert store.seen == []


@pytest.mark.parametrize("status", [SubscriptionStatus.SUPERSEDED, SubscriptionStatus.DROPPED])
def test_a_retired_subscription_is_told_to_unsubscribe(status):
    store, queue = FakeStore(record(status=status)), Queue()

    answer = receive(store, queue, body(OK_MESSAGE.format(CREATED)))

    assert answer.unsubscribe and "Unsubscribe" in answer.xml
    assert queue.jobs == [] and store.seen == []


@pytest.mark.parametrize("token", ["u" * 43, "short", "../../etc", TOKEN + "!"])
def test_an_unknown_token_is_a_forged_callback(token):
    store, queue = FakeStore(record()), Queue()

    with pytest.raises(PermanentError) as caught:
        receive(store, queue, body(OK_MESSAGE.format(CREATED)), token=token)

    assert caught.value.code is ErrorCode.FORGED_CALLBACK
    assert queue.jobs == [] and store.seen == []


def test_an_oversized_body_is_refused_before_anything_else():
    with pytest.raises(PermanentError) as caught:
        receive(FakeStore(), Queue(), b" " * (MAX_BODY_BYTES + 1), token="not-even-checked")
    assert caught.value.code is ErrorCode.PAYLOAD_TOO_LARGE


@pytest.mark.parametrize("payload", [
    cut_after_event(body(OK_MESSAGE.format(five_events())), 2),
    SOAP_FAULT,
])
def test_a_truncated_body_or_a_soap_fault_changes_nothing(payload):
    store, queue = FakeStore(record()), Queue()

    with pytest.raises(PermanentError) as caught:
        receive(store, queue, payload)

    assert caught.value.code is ErrorCode.INVALID_MESSAGE
    assert queue.jobs == [] and store.seen == [] and store.renewals_requested == []


def test_an_error_report_requests_a_renewal_and_leaves_last_seen_and_the_watermark():
    store, queue = FakeStore(record()), Queue()

    answer = receive(store, queue, body(ERROR_MESSAGE))
    again = receive(store, queue, body(ERROR_MESSAGE))  # Exchange repeating itself

    assert not answer.unsubscribe and "<m:SubscriptionStatus>OK</m:SubscriptionStatus>" in answer.xml
    assert store.seen == []  # neither last_seen_at nor the watermark moves
    assert store.renewals_requested == [("rec-1", NOW)] * 2
    (actor, kwargs, first_id), (_, _, second_id) = queue.jobs
    assert (actor, kwargs) == ("renew_subscription", {"integration_id": "acme", "subscription_id": "rec-1"})
    assert first_id == second_id == answer.renewal == again.renewal
    assert answer.enqueued == ()


def test_events_reported_beside_an_error_are_still_enqueued_but_not_recorded():
    store, queue = FakeStore(record()), Queue()

    answer = receive(store, queue, body(OK_MESSAGE.format(CREATED), ERROR_MESSAGE))

    assert [actor for actor, _, _ in queue.jobs] == ["process_change", "renew_subscription"]
    assert len(answer.enqueued) == 1 and answer.renewal is not None
    assert store.seen == [] and store.renewals_requested == [("rec-1", NOW)]


def test_an_error_report_for_a_retired_subscription_is_answered_unsubscribe():
    store, queue = FakeStore(record(status=SubscriptionStatus.SUPERSEDED)), Queue()

    answer = receive(store, queue, body(ERROR_MESSAGE))

    assert answer.unsubscribe and queue.jobs == [] and store.renewals_requested == []


# Tokens and renewals --------------------------------------------------------------------------

def test_tokens_are_random_hashed_and_redacted_from_text():
    token = new_callback_token()
    url = callback_url("https://callbacks.example.com/", token)

    assert token != new_callback_token() and len(token) >= 43
    assert url == f"https://callbacks.example.com/notifications/{token}"
    assert hash_token(token) == hashlib.sha256(token.encode()).hexdigest()
    assert token not in redact_callback_tokens(f"ErrorInvalidPushSubscriptionUrl: {url} is unreachable")


def test_only_active_subscriptions_silent_for_twice_their_frequency_are_renewed():
    store = FakeStore(
        record(record_id="fresh", last_seen_at=NOW - timedelta(minutes=9)),
        record(record_id="stale", last_seen_at=NOW - timedelta(minutes=10)),
        record(record_id="slow", status_frequency_minutes=60, last_seen_at=NOW - timedelta(minutes=90)),
        record(record_id="retired", status=SubscriptionStatus.SUPERSEDED,
               last_seen_at=NOW - timedelta(days=1)),
    )
    queue = Queue()

    run = enqueue_stale_renewals(store, queue, NOW)  # type: ignore[arg-type]
    again = enqueue_stale_renewals(store, queue, NOW + timedelta(seconds=30))  # type: ignore[arg-type]

    assert run.active == 3
    assert [(actor, kwargs) for actor, kwargs, _ in queue.jobs] == [
        ("renew_subscription", {"integration_id": "acme", "subscription_id": "stale"})] * 2
    assert run.enqueued == again.enqueued  # the same hour: the same message id


def test_a_subscription_marked_for_renewal_is_stale_however_recently_heard_from():
    marked = record(last_seen_at=NOW, renewal_requested_at=NOW)

    assert marked.is_stale(NOW) and marked.is_stale(NOW - timedelta(seconds=1))  # clock skew too
    assert not record(last_seen_at=NOW).is_stale(NOW)


def test_the_schedule_renews_a_subscription_marked_for_renewal():
    store = FakeStore(record(record_id="marked", last_seen_at=NOW, renewal_requested_at=NOW))
    queue = Queue()

    run = enqueue_stale_renewals(store, queue, NOW)  # type: ignore[arg-type]

    assert [(actor, kwargs["subscription_id"]) for actor, kwargs, _ in queue.jobs] == [
        ("renew_subscription", "marked")]
    assert len(run.enqueued) == 1
