"""Properties of the push callback: any body in gives exactly its events, or INVALID_MESSAGE (400).

Valid SendNotification bodies with 1 to 5 item events are built, then cut short, mutated, or
replaced by arbitrary bytes. Whatever arrives, parse_send_notification returns every event the
body holds (as a strict XML reading of the same bytes finds them) or refuses it, receive_push
enqueues and records nothing for a body it refuses, and the callback function answers 400.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from xml.sax.saxutils import escape

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from handlers import callbacks
from infra.lambda_http import LocalLambdaContext, http_api_event
from pipeline.errors import ErrorCode, PermanentError
from pipeline.exchange.ews.notifications import parse_send_notification
from pipeline.exchange.push import PushDelivery
from pipeline.notifications import receive_push
from tests.unit.test_notifications import ENVELOPE, ERROR_MESSAGE, NOW, TOKEN, FakeStore, Queue, record

PROPERTIES = settings(max_examples=60, deadline=None, database=None,
                      suppress_health_check=[HealthCheck.too_slow])
MNS = "http://schemas.microsoft.com/exchange/services/2006/messages"
TNS = "http://schemas.microsoft.com/exchange/services/2006/types"
EVENT_TYPES = {"CreatedEvent": "created", "ModifiedEvent": "modified", "DeletedEvent": "deleted",
               "MovedEvent": "moved", "CopiedEvent": "copied", "NewMailEvent": "new_mail"}
Event = tuple[str, str | None, str | None, str | None]  # event type, item id, folder id, watermark

ids = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_-",
              min_size=1, max_size=24)


def event_xml(kind: str, number: int, item: str, folder: str, watermark: str) -> str:
    old = ('<t:OldItemId Id="old-item"/><t:OldParentFolderId Id="old-folder"/>'
           if kind in ("MovedEvent", "CopiedEvent") else "")
    return (f"<t:{kind}><t:Watermark>{watermark}</t:Watermark>"
            f"<t:TimeStamp>2030-01-07T11:0{number}:00Z</t:TimeStamp>"
            f'<t:ItemId Id="{item}" ChangeKey="ck"/><t:ParentFolderId Id="{folder}"/>{old}</t:{kind}>')


def body_of(events: list[str], response_class: str = "Success", subscription: str = "sub-1",
            report: str | None = None) -> bytes:
    """The body; `report` puts Exchange's error report before or after the notification."""
    message = (
        f'<m:SendNotificationResponseMessage ResponseClass="{response_class}">'
        "<m:ResponseCode>NoError</m:ResponseCode>"
        f"<m:Notification><t:SubscriptionId>{subscription}</t:SubscriptionId>"
        "<t:PreviousWatermark>w0</t:PreviousWatermark><t:MoreEvents>false</t:MoreEvents>"
        f"{''.join(events)}</m:Notification></m:SendNotificationResponseMessage>"
    )
    messages = {None: message, "before": ERROR_MESSAGE + message, "after": message + ERROR_MESSAGE}[report]
    return ENVELOPE.format(messages).encode()


@st.composite
def event_parts(draw: st.DrawFn) -> list[tuple[str, Event]]:
    """1 to 5 item events: their XML and what they say."""
    parts: list[tuple[str, Event]] = []
    for number in range(draw(st.integers(min_value=1, max_value=5))):
        kind = draw(st.sampled_from(sorted(EVENT_TYPES)))
        item, folder, watermark = draw(ids), draw(ids), f"w{number}-{draw(ids)}"
        parts.append((event_xml(kind, number, item, folder, watermark),
                      (EVENT_TYPES[kind], item, folder, watermark)))
    return parts


@st.composite
def notifications(draw: st.DrawFn) -> tuple[bytes, list[Event]]:
    """A whole SendNotification body for subscription sub-1 with 1 to 5 item events, and its events."""
    parts = draw(event_parts())
    return body_of([xml for xml, _ in parts]), [event for _, event in parts]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid body changed: in its structure (events dropped, repeated, renamed; another response
    class or subscription), in a value, or in its bytes (changed, cut out, put in)."""
    events = [xml for xml, _ in draw(event_parts())]
    how = draw(st.sampled_from(["drop", "repeat", "rename", "class", "subscription", "report", "value",
                                "bytes"]))
    at = draw(st.integers(min_value=0, max_value=len(events) - 1))
    if how == "drop":
        del events[at]
    elif how == "repeat":
        events.insert(at, events[at])
    elif how == "rename":
        kind = events[at][3:events[at].index(">")]
        events[at] = events[at].replace(kind, draw(st.sampled_from(["StatusEvent", "OddEvent", "Event"])))
    elif how == "value":
        value = draw(st.sampled_from(['Id="', "<t:Watermark>", "<t:TimeStamp>"]))
        start = events[at].index(value) + len(value)
        events[at] = events[at][:start] + draw(st.text(max_size=6).map(escape)) + events[at][start + 1:]
    body = body_of(
        events,
        response_class=draw(st.sampled_from(["Warning", "Error", ""])) if how == "class" else "Success",
        subscription=draw(st.sampled_from(["sub-2", "", " sub-1 "])) if how == "subscription" else "sub-1",
        report=draw(st.sampled_from(["before", "after"])) if how == "report" else None,
    )
    if how != "bytes":
        return body
    changed = bytearray(body)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        at = draw(st.integers(min_value=0, max_value=max(0, len(changed) - 1)))
        change = draw(st.sampled_from(["replace", "delete", "insert"]))
        if change == "replace" and changed:
            changed[at] = draw(st.integers(min_value=0, max_value=255))
        elif change == "delete":
            del changed[at:at + draw(st.integers(min_value=1, max_value=40))]
        else:
            changed[at:at] = draw(st.binary(min_size=1, max_size=8) | st.sampled_from(
                [b"<", b">", b"</t:ItemId>", b"&amp;", b"&x;", b"<![CDATA[", b'"', b"\x00"]))
    return bytes(changed)


def strict_events(body: bytes) -> list[Event] | None:
    """The item events a strict XML reading of the body finds, in order; None if it is not XML."""
    parser = etree.XMLParser(recover=False, resolve_entities=False, no_network=True, load_dtd=False)
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError:
        return None
    found: list[Event] = []
    for notification in root.iter(f"{{{MNS}}}Notification"):
        for event in notification:
            if not isinstance(event.tag, str) or etree.QName(event).namespace != TNS:
                continue
            kind = EVENT_TYPES.get(etree.QName(event).localname)
            if kind is None:
                continue
            item, folder = event.find(f"{{{TNS}}}ItemId"), event.find(f"{{{TNS}}}ParentFolderId")
            # An empty Id or watermark names nothing: the same as none (exchangelib reads it so).
            found.append((kind, (item.get("Id") if item is not None else None) or None,
                          (folder.get("Id") if folder is not None else None) or None,
                          event.findtext(f"{{{TNS}}}Watermark") or None))
    return found


def events_of(delivery: PushDelivery) -> list[Event]:
    return [(e.event_type, e.item_id, e.folder_id, e.watermark)
            for notification in delivery.notifications for e in notification.events]


def parsed(body: bytes) -> PushDelivery | None:
    """The delivery, or None for INVALID_MESSAGE; any other outcome fails the property."""
    try:
        return parse_send_notification(body)
    except PermanentError as refused:
        assert refused.code is ErrorCode.INVALID_MESSAGE
        return None


def assert_exact_or_refused(body: bytes) -> None:
    delivery = parsed(body)
    if delivery is None:
        return
    strict = strict_events(body)
    assert strict is not None, "a body that is not well-formed XML was accepted"
    accepted = events_of(delivery)
    if delivery.errors:  # reading stops at a reported error; the renewal replays what follows
        assert accepted == strict[: len(accepted)]
    else:
        assert accepted == strict, "a partial accept"


def post(body: bytes) -> tuple[int, FakeStore, Queue]:
    """The body POSTed to the callback function for an active subscription: status, store, queue."""
    store, queue = FakeStore(record()), Queue()
    callbacks.use_dependencies(callbacks.CallbackDependencies(store=store, enqueue=queue, clock=lambda: NOW))  # type: ignore[arg-type]
    try:
        event = http_api_event("POST", f"/notifications/{TOKEN}", {"Content-Type": "text/xml"}, body)
        answer: dict[str, Any] = callbacks.lambda_handler(event, LocalLambdaContext())  # type: ignore[arg-type]
    finally:
        callbacks.use_dependencies(None)
    return int(answer["statusCode"]), store, queue


@PROPERTIES
@given(notifications())
def test_a_whole_body_gives_exactly_its_events(built: tuple[bytes, list[Event]]) -> None:
    body, events = built
    delivery = parse_send_notification(body)
    assert events_of(delivery) == events and delivery.errors == ()

    store, queue = FakeStore(record()), Queue()
    answer = receive_push(TOKEN, body, store=store, enqueue=queue, clock=lambda: NOW)  # type: ignore[arg-type]
    [(actor, kwargs, _)] = queue.jobs
    assert (actor, answer.unsubscribe) == ("process_change", False)
    sent = [(e["event_type"], e["item_id"], e["folder_id"], e["watermark"]) for e in kwargs["events"]]
    assert sent == events
    assert store.seen == [("rec-1", NOW, events[-1][3])]


@PROPERTIES
@given(notifications(), st.data())
def test_a_body_cut_short_anywhere_is_refused_with_400_and_changes_nothing(
    built: tuple[bytes, list[Event]], data: st.DataObject
) -> None:
    body, _ = built
    cut = body[: data.draw(st.integers(min_value=0, max_value=len(body) - 1))]

    assert parsed(cut) is None
    status, store, queue = post(cut)
    assert (status, queue.jobs, store.seen, store.renewals_requested) == (400, [], [], [])


@PROPERTIES
@given(mutated())
def test_a_mutated_body_gives_exactly_its_events_or_is_refused(body: bytes) -> None:
    assert_exact_or_refused(body)
    status, store, queue = post(body)
    if status != 200:
        # Refused (400), or naming another subscription (403): nothing enqueued or recorded.
        assert status in (400, 403)
        assert (queue.jobs, store.seen, store.renewals_requested) == ([], [], [])
        return
    delivery = parse_send_notification(body)
    enqueued = [(e["event_type"], e.get("item_id"), e.get("folder_id"), e.get("watermark"))
                for actor, kwargs, _ in queue.jobs if actor == "process_change" for e in kwargs["events"]]
    assert enqueued == events_of(delivery)
    # An error report asks for a renewal (which replays from the last good watermark) instead of
    # moving the watermark.
    renewals = [actor for actor, _, _ in queue.jobs if actor == "renew_subscription"]
    assert (len(renewals), len(store.seen)) == ((1, 0) if delivery.errors else (0, 1))


@PROPERTIES
@given(st.binary(max_size=600) | st.text(max_size=300).map(lambda text: text.encode("utf-8", "replace")))
def test_any_bytes_give_their_events_or_invalid_message(body: bytes) -> None:
    assert_exact_or_refused(body)
    status, _, queue = post(body)
    assert status in (200, 400) and (status == 200 or queue.jobs == [])


def test_the_callback_answers_a_refusal_with_its_code() -> None:
    status, _, _ = post(b"<not-soap/>")
    assert status == 400
    event = http_api_event("POST", f"/notifications/{TOKEN}", {}, b"x")
    callbacks.use_dependencies(callbacks.CallbackDependencies(store=FakeStore(record()), enqueue=Queue()))  # type: ignore[arg-type]
    try:
        answer = callbacks.lambda_handler(event, LocalLambdaContext())  # type: ignore[arg-type]
    finally:
        callbacks.use_dependencies(None)
    assert json.loads(base64.b64decode(answer["body"]) if answer.get("isBase64Encoded") else answer["body"])[
        "code"] == "INVALID_MESSAGE"
