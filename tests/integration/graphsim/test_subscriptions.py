"""The local Graph's subscriptions: the validation handshake, change notifications with
clientState, lifecycle notifications on demand, expiry on the simulator's clock."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from infra.ewssim.server import EwsSimulator
from infra.graphsim.models.ids import rest_id
from infra.graphsim.responses.subscriptions import plugin_of
from tests.integration.graph_support import GraphClient
from tests.integration.graphsim.helpers import ALICE, BOB, event_body
from tests.seed import APP

CLIENT_STATE = "s3cret-client-state-0123456789abcdef"


class Receiver:
    """A webhook endpoint: echoes validation tokens (unless told not to), records every POST."""

    def __init__(self) -> None:
        self.echo = True
        self.status = 202
        self.validations: list[tuple[str, str]] = []  # (path, content type)
        self.posts: list[tuple[str, dict[str, Any]]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                path, _, query = self.path.partition("?")
                token = urllib.parse.parse_qs(query).get("validationToken")
                if token:
                    receiver.validations.append((path, self.headers.get("Content-Type", "")))
                    answer = token[0].encode() if receiver.echo else b"nope"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain")
                else:
                    receiver.posts.append((path, json.loads(body)))
                    answer = b""
                    self.send_response(receiver.status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def items(self, path: str = "/notifications") -> list[dict[str, Any]]:
        return [item for at, body in self.posts if at == path for item in body["value"]]

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def expiry(sim: EwsSimulator, minutes: int = 60) -> str:
    return (sim.backend.clock.now() + timedelta(minutes=minutes)).isoformat()


def subscribe(client: GraphClient, receiver: Receiver, *, resource: str = f"/users/{ALICE}/events",
              minutes: int = 60, lifecycle: bool = True) -> Any:
    body = {
        "changeType": "created,updated,deleted",
        "notificationUrl": receiver.url + "/notifications",
        "resource": resource,
        "expirationDateTime": expiry(client.sim, minutes),
        "clientState": CLIENT_STATE,
    }
    if lifecycle:
        body["lifecycleNotificationUrl"] = receiver.url + "/lifecycle"
    return client.post("/subscriptions", json=body)


def wait(sim: EwsSimulator) -> None:
    assert plugin_of(sim.graph).wait_idle()


def test_a_subscription_is_created_after_both_endpoints_echo_the_token(graph_client, receiver):
    answer = subscribe(graph_client, receiver)

    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert created["resource"] == f"/users/{ALICE}/events"
    assert created["clientState"] is None  # Graph never gives the secret back
    assert created["applicationId"] == APP["client_id"]
    assert receiver.validations == [("/notifications", "text/plain; charset=utf-8"),
                                    ("/lifecycle", "text/plain; charset=utf-8")]
    assert graph_client.get(f"/subscriptions/{created['id']}").json()["id"] == created["id"]
    assert graph_client.sim.graph.request_counts()["createSubscription"] == 1


def test_an_endpoint_that_does_not_echo_the_token_gets_no_subscription(graph_client, receiver):
    receiver.echo = False

    answer = subscribe(graph_client, receiver)

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "ValidationError"
    assert plugin_of(graph_client.sim.graph).subscriptions() == []


def test_an_unreachable_endpoint_gets_no_subscription(graph_client, receiver):
    url = receiver.url
    receiver.close()

    answer = graph_client.post("/subscriptions", json={
        "changeType": "created", "notificationUrl": url + "/n", "resource": f"/users/{ALICE}/events",
        "expirationDateTime": expiry(graph_client.sim), "clientState": CLIENT_STATE})

    assert (answer.status_code, answer.json()["error"]["code"]) == (400, "ValidationError")


@pytest.mark.parametrize(("change", "code"), [
    ({"expirationDateTime": "2000-01-01T00:00:00Z"}, "ExtensionError"),
    ({"resource": f"/users/{ALICE}/messages"}, "InvalidRequest"),
    ({"notificationUrl": "http://example.com/hook"}, "InvalidRequest"),  # https only (but loopback)
    ({"changeType": "created,renamed"}, "InvalidRequest"),
    ({"clientState": "x" * 129}, "InvalidRequest"),
])
def test_a_request_graph_refuses_is_400(graph_client, receiver, change, code):
    body = {"changeType": "created", "notificationUrl": receiver.url + "/n",
            "resource": f"/users/{ALICE}/events", "expirationDateTime": expiry(graph_client.sim),
            "clientState": CLIENT_STATE, **change}

    answer = graph_client.post("/subscriptions", json=body)

    assert (answer.status_code, answer.json()["error"]["code"]) == (400, code)
    assert receiver.validations == []


def test_the_lifetime_is_at_most_10080_minutes_on_create_and_renew(graph_client, receiver):
    too_long = subscribe(graph_client, receiver, minutes=10_080 + 5)
    assert too_long.status_code == 400
    assert too_long.json()["error"]["message"] == (
        "Subscription expiration can only be 10080 minutes in the future.")

    created = subscribe(graph_client, receiver, minutes=10_000).json()
    renewed = graph_client.patch(f"/subscriptions/{created['id']}",
                                 json={"expirationDateTime": expiry(graph_client.sim, 10_070)})
    refused = graph_client.patch(f"/subscriptions/{created['id']}",
                                 json={"expirationDateTime": expiry(graph_client.sim, 10_090)})

    assert renewed.status_code == 200 and renewed.json()["expirationDateTime"] > created["expirationDateTime"]
    assert refused.status_code == 400


def test_changes_to_the_calendar_are_notified_with_the_client_state(graph_client, receiver):
    subscription = subscribe(graph_client, receiver).json()

    made = graph_client.post(f"/users/{ALICE}/events", json=event_body("Interview")).json()
    graph_client.patch(f"/users/{ALICE}/events/{made['id']}", json={"subject": "Interview (moved)"})
    graph_client.delete(f"/users/{ALICE}/events/{made['id']}")
    graph_client.post(f"/users/{BOB}/events", json=event_body("Not watched"))
    wait(graph_client.sim)

    items = receiver.items()
    assert [i["changeType"] for i in items] == ["created", "updated", "deleted"]
    first = items[0]
    assert first["subscriptionId"] == subscription["id"]
    assert first["clientState"] == CLIENT_STATE
    assert first["tenantId"] == APP["tenant_id"]
    assert first["resourceData"]["id"] == made["id"]
    assert first["resourceData"]["@odata.type"] == "#Microsoft.Graph.Event"
    assert first["resourceData"]["@odata.etag"] != items[1]["resourceData"]["@odata.etag"]
    assert datetime.fromisoformat(first["subscriptionExpirationDateTime"]) > datetime.now(UTC)


def test_a_change_made_through_ews_is_notified_too(graph_client, receiver):
    from infra.ewssim.models.items import CalendarItem

    subscribe(graph_client, receiver)
    backend = graph_client.sim.backend
    item = backend.store(ALICE, "calendar", CalendarItem(subject="Booked through EWS"))
    backend.record_change(ALICE, item, "CreatedEvent")
    wait(graph_client.sim)

    [notified] = receiver.items()
    assert (notified["changeType"], notified["resourceData"]["id"]) == ("created", rest_id(item.item_id))


def test_a_failed_delivery_is_retried_when_time_passes(graph_client, receiver):
    subscribe(graph_client, receiver)
    receiver.status = 503
    graph_client.post(f"/users/{ALICE}/events", json=event_body("Retry me"))
    wait(graph_client.sim)
    receiver.status = 202

    graph_client.sim.advance_clock(timedelta(seconds=31))
    wait(graph_client.sim)

    attempts = [a for a in plugin_of(graph_client.sim.graph).webhooks.attempts if a.kind == "notification"]
    assert [(a.status, a.delivered) for a in attempts] == [(503, False), (202, True)]


def test_lifecycle_notifications_are_sent_on_demand(graph_client, receiver):
    subscription = subscribe(graph_client, receiver).json()

    for event in ("reauthorizationRequired", "missed", "subscriptionRemoved"):
        assert graph_client.sim.graph.send_lifecycle(subscription["id"], event).delivered

    items = receiver.items("/lifecycle")
    assert [i["lifecycleEvent"] for i in items] == [
        "reauthorizationRequired", "missed", "subscriptionRemoved"]
    assert {i["clientState"] for i in items} == {CLIENT_STATE}
    # Removed: gone for good, and a renewal finds nothing.
    assert graph_client.get(f"/subscriptions/{subscription['id']}").status_code == 404
    patched = graph_client.patch(f"/subscriptions/{subscription['id']}",
                                 json={"expirationDateTime": expiry(graph_client.sim)})
    assert (patched.status_code, patched.json()["error"]["code"]) == (404, "ResourceNotFound")


def test_a_subscription_expires_on_the_simulators_clock(graph_client, receiver):
    subscription = subscribe(graph_client, receiver, minutes=30).json()

    graph_client.sim.advance_clock(timedelta(minutes=31))  # (the app's token lives an hour)
    graph_client.post(f"/users/{ALICE}/events", json=event_body("After expiry"))
    wait(graph_client.sim)

    assert graph_client.get(f"/subscriptions/{subscription['id']}").status_code == 404
    assert receiver.items() == []


def test_delete_ends_the_notifications(graph_client, receiver):
    subscription = subscribe(graph_client, receiver).json()

    assert graph_client.delete(f"/subscriptions/{subscription['id']}").status_code == 204
    graph_client.post(f"/users/{ALICE}/events", json=event_body("After delete"))
    wait(graph_client.sim)

    assert receiver.items() == []
    assert graph_client.delete(f"/subscriptions/{subscription['id']}").status_code == 404


def test_a_calendar_permission_is_needed(graph_client, receiver):
    graph_client.sim.graph.set_app_roles(APP["client_id"], ["Place.Read.All"])

    answer = subscribe(graph_client, receiver)

    assert (answer.status_code, answer.json()["error"]["code"]) == (403, "ErrorAccessDenied")
    assert receiver.validations == []


def test_a_mailbox_outside_the_access_policy_cannot_be_watched(graph_client, receiver):
    graph_client.sim.graph.set_access_policy(APP["client_id"], [BOB])

    answer = subscribe(graph_client, receiver)

    assert (answer.status_code, answer.json()["error"]["code"]) == (403, "ErrorAccessDenied")
