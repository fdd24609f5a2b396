"""Push notifications: SendNotification POSTs received by a real HTTP endpoint in the test.

Changes are made through the backend (backend.store + record_change), the way S2's item
operations report them; keep-alives and retries run when the test advances the simulated clock.
"""

from __future__ import annotations

import os
import socket
import threading
from collections import deque
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from exchangelib.properties import Notification
from exchangelib.services import SendNotification, SubscribeToPush
from exchangelib.util import create_element
from lxml import etree

from infra.ewssim.models.items import CalendarItem
from infra.ewssim.push import PushService, attach
from infra.ewssim.responses import OPERATIONS
from infra.ewssim.server import EwsSimulator
from tests.seed import smtp

ALICE = smtp("alice")


class Receiver:
    """A push callback endpoint: records every notification and answers as scripted.

    Each POST takes the next answer from `script` ("ok", "unsubscribe", "500", "garbage"), and
    `default` once the script is used up.
    """

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.notifications: list[Notification] = []
        self.script: deque[str] = deque()
        self.default = "ok"
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.bodies.append(body)
                receiver.notifications.extend(SendNotification(protocol=None).parse(body))
                answer = receiver.script.popleft() if receiver.script else receiver.default
                status, payload = {
                    "ok": (200, SendNotification(protocol=None).ok_payload()),
                    "unsubscribe": (200, SendNotification(protocol=None).unsubscribe_payload()),
                    "500": (500, b"boom"),
                    "garbage": (200, b"<not-a-soap-answer/>"),
                }[answer]
                self.send_response(status)
                self.send_header("Content-Type", "text/xml; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/ews/callback"

    def events(self) -> list[tuple[str, str]]:
        """(event class name, item id or "") of every event received, in order."""
        return [
            (type(e).__name__, e.item_id.id if getattr(e, "item_id", None) else "")
            for n in self.notifications for e in n.events
        ]

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    endpoint = Receiver()
    yield endpoint
    endpoint.close()


@pytest.fixture
def push(sim: EwsSimulator) -> PushService:
    return attach(sim.backend)


def change(sim: EwsSimulator, event_type: str = "CreatedEvent", folder: str = "calendar",
           owner: str = ALICE) -> str:
    """Put a calendar item in a folder and report the change, as item operations do."""
    item = sim.backend.store(owner, folder, CalendarItem(subject=f"{event_type} test"))
    sim.backend.record_change(owner, item, event_type)
    return item.item_id


def offsets(push: PushService) -> list[float]:
    first = push.attempts[0].at
    return [(a.at - first).total_seconds() for a in push.attempts]


def test_each_change_in_the_subscribed_folder_is_posted(sim, account, receiver, push):
    calendar = account("alice").calendar
    subscription_id, watermark = calendar.subscribe_to_push(receiver.url, status_frequency=5)

    created = change(sim, "CreatedEvent")
    modified = change(sim, "ModifiedEvent")
    change(sim, "CreatedEvent", folder="inbox")  # not watched
    assert push.wait_idle()

    assert receiver.events() == [("CreatedEvent", created), ("ModifiedEvent", modified)]
    first = receiver.notifications[0]
    assert first.subscription_id == subscription_id
    assert first.previous_watermark == watermark
    calendar_id = sim.backend.mailbox(ALICE).folder("calendar").folder_id
    assert {e.parent_folder_id.id for n in receiver.notifications for e in n.events} == {calendar_id}
    assert all(a.outcome == "ok" and a.status == 200 and a.url == receiver.url for a in push.attempts)


def test_delegate_and_impersonation_subscriptions_are_posted(sim, account, receiver, push):
    account("svc", mailbox="alice").calendar.subscribe_to_push(receiver.url)
    account("svc-imp", mailbox="alice", impersonate=True).calendar.subscribe_to_push(receiver.url)

    item_id = change(sim)
    assert push.wait_idle()

    assert receiver.events() == [("CreatedEvent", item_id), ("CreatedEvent", item_id)]
    assert len({n.subscription_id for n in receiver.notifications}) == 2


def test_status_events_keep_the_subscription_alive_every_status_frequency(sim, account, receiver, push):
    account("alice").calendar.subscribe_to_push(receiver.url, status_frequency=5)

    sim.backend.clock.advance(timedelta(minutes=4))
    assert push.wait_idle()
    assert receiver.notifications == []

    sim.backend.clock.advance(timedelta(minutes=1))
    assert push.wait_idle()
    sim.backend.clock.advance(timedelta(minutes=5))
    assert push.wait_idle()

    assert receiver.events() == [("StatusEvent", ""), ("StatusEvent", "")]


def test_a_failing_callback_is_retried_after_30_60_120_seconds_then_dropped(sim, account, receiver, push):
    account("alice").calendar.subscribe_to_push(receiver.url, status_frequency=5)
    receiver.default = "500"

    change(sim)
    assert push.wait_idle()
    for _ in range(14):  # 7 minutes in 30-second steps
        sim.backend.clock.advance(timedelta(seconds=30))
        assert push.wait_idle()

    # The retry after 210 s would come at 450 s, past the 300-second StatusFrequency window.
    assert offsets(push) == [0, 30, 90, 210]
    assert {a.status for a in push.attempts} == {500}
    assert push.subscriptions() == []
    change(sim)
    assert push.wait_idle()
    assert len(push.attempts) == 4


def test_retries_that_fall_due_in_one_big_advance_keep_their_schedule(sim, account, push):
    with socket.socket() as unused:  # a port nobody listens on: connection refused
        unused.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{unused.getsockname()[1]}/callback"
    account("alice").calendar.subscribe_to_push(dead_url, status_frequency=2)

    change(sim)
    assert push.wait_idle()
    sim.backend.clock.advance(timedelta(minutes=10))
    assert push.wait_idle()

    assert offsets(push) == [0, 30, 90]
    assert {a.status for a in push.attempts} == {None}
    assert push.subscriptions() == []


def test_a_recovered_callback_gets_everything_that_waited(sim, account, receiver, push):
    account("alice").calendar.subscribe_to_push(receiver.url, status_frequency=5)
    receiver.script.extend(["garbage"])  # an unreadable answer counts as a failure

    first = change(sim)
    assert push.wait_idle()
    second = change(sim, "ModifiedEvent")  # waits for the retry
    assert push.wait_idle()
    sim.backend.clock.advance(timedelta(seconds=30))
    assert push.wait_idle()

    assert [a.outcome for a in push.attempts] == ["failed", "ok"]
    assert receiver.notifications[-1].events[0].item_id.id == first
    assert [e.item_id.id for e in receiver.notifications[-1].events] == [first, second]
    assert len(push.subscriptions()) == 1


def test_answering_unsubscribe_drops_the_subscription(sim, account, receiver, push):
    account("alice").calendar.subscribe_to_push(receiver.url)
    receiver.default = "unsubscribe"

    change(sim)
    assert push.wait_idle()
    change(sim)
    sim.backend.clock.advance(timedelta(minutes=3))
    assert push.wait_idle()

    assert [a.outcome for a in push.attempts] == ["unsubscribe"]
    assert push.subscriptions() == []


class SubscribeToPushAt(SubscribeToPush):
    """exchangelib 5.6 writes m:Watermark, which messages.xsd rejects; EWS wants t:Watermark."""

    def get_payload(self, folders, event_types, watermark, status_frequency, url):
        payload = create_element(f"m:{self.SERVICE_NAME}")
        request = self._partial_payload(folders=folders, event_types=event_types)
        if watermark:
            request.append(create_element("t:Watermark"))
            request[-1].text = watermark
        for tag, value in (("t:StatusFrequency", str(status_frequency)), ("t:URL", url)):
            request.append(create_element(tag))
            request[-1].text = value
        payload.append(request)
        return payload


def test_a_new_subscription_resumes_from_the_old_watermark(sim, account, receiver, push):
    alice = account("alice")
    alice.calendar.subscribe_to_push(receiver.url, status_frequency=1)
    change(sim)
    assert push.wait_idle()
    resume_from = receiver.notifications[-1].events[-1].watermark
    receiver.default = "unsubscribe"
    sim.backend.clock.advance(timedelta(minutes=1))  # the keep-alive is answered Unsubscribe
    assert push.wait_idle()
    assert push.subscriptions() == []

    missed = [change(sim, "ModifiedEvent"), change(sim, "DeletedEvent")]
    receiver.default = "ok"
    new_id, _ = SubscribeToPushAt(account=alice).get(
        folders=[alice.calendar], event_types=["CreatedEvent", "ModifiedEvent", "DeletedEvent"],
        watermark=resume_from, status_frequency=1, url=receiver.url,
    )
    assert push.wait_idle()

    replayed = [n for n in receiver.notifications if n.subscription_id == new_id]
    assert [e.item_id.id for n in replayed for e in n.events] == missed
    assert replayed[0].previous_watermark == resume_from


def _schema_dir() -> Path:
    default = Path(__file__).resolve().parents[4] / "shared" / "ews-schema"
    return Path(os.environ.get("EWS_SCHEMA_DIR") or default)


def test_send_notification_posts_are_valid_against_messages_xsd(sim, account, receiver, push):
    from infra.ewssim.schema import SchemaValidator

    if not (_schema_dir() / "messages.xsd").is_file():
        pytest.skip("the EWS schema is not available")
    account("alice").calendar.subscribe_to_push(receiver.url, status_frequency=1)
    item_id = change(sim)
    mailbox = sim.backend.mailbox(ALICE)
    item = mailbox.find_item(item_id)
    assert item is not None
    source = mailbox.move(item, "deleteditems")
    sim.backend.record_change(ALICE, item, "MovedEvent", old_folder_id=source.folder_id)
    assert push.wait_idle()
    sim.backend.clock.advance(timedelta(minutes=1))
    assert push.wait_idle()

    validator = SchemaValidator(_schema_dir())
    for body in receiver.bodies:
        send_notification = etree.fromstring(body)[1][0]
        assert validator.errors(send_notification) == []
    kinds = [kind for kind, _ in receiver.events()]
    assert "MovedEvent" in kinds and "StatusEvent" in kinds


def test_reset_forgets_subscriptions_and_stops_the_worker(sim, account, receiver, push):
    account("alice").calendar.subscribe_to_push(receiver.url)
    change(sim)
    assert push.wait_idle()

    sim.backend.reset()

    assert push.subscriptions() == []
    assert push.attempts == []
    assert push._thread is None


@pytest.mark.skipif("CreateItem" not in OPERATIONS, reason="CreateItem is not in the simulator yet")
def test_an_item_created_through_exchangelib_is_pushed(sim, account, receiver, push):
    from datetime import datetime

    from exchangelib import CalendarItem as ExchangelibCalendarItem
    from exchangelib import EWSTimeZone

    alice = account("alice")
    alice.calendar.subscribe_to_push(receiver.url, event_types=["CreatedEvent"])
    start = datetime(2030, 1, 7, 10, tzinfo=EWSTimeZone("UTC"))
    item = ExchangelibCalendarItem(
        account=alice, folder=alice.calendar, subject="Interview", start=start, end=start + timedelta(hours=1)
    )
    item.save()
    assert push.wait_idle()

    assert ("CreatedEvent", item.id) in receiver.events()
