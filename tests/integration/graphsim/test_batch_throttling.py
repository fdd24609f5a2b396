"""$batch (limit, dependsOn, counting), 429/503 with Retry-After from the fault plan, and the
per-mailbox concurrency limit."""

from __future__ import annotations

import threading

from infra.ewssim.server import EwsSimulator
from tests.integration.graph_support import GraphClient
from tests.integration.graphsim.helpers import ALICE, BOB, event_body
from tests.seed import APP


def test_batch_runs_counts_and_orders(graph_sim: EwsSimulator, graph_client: GraphClient) -> None:
    requests = [
        {
            "id": "1",
            "method": "POST",
            "url": f"/users/{ALICE}/calendar/events",
            "body": event_body("a"),
            "headers": {"Content-Type": "application/json"},
        },
        {"id": "2", "method": "GET", "url": f"/users/{ALICE}/calendar", "dependsOn": ["1"]},
        {"id": "3", "method": "GET", "url": "/users/nobody@example.com/calendar"},
        {"id": "4", "method": "GET", "url": f"/users/{BOB}/calendar", "dependsOn": ["3"]},
    ]
    answer = graph_client.post("/$batch", json={"requests": requests})
    assert answer.status_code == 200
    statuses = {r["id"]: r["status"] for r in answer.json()["responses"]}
    assert statuses == {"1": 201, "2": 200, "3": 404, "4": 424}
    assert graph_sim.graph.request_counts() == {"batch": 1, "createEvent": 1, "getCalendar": 2}
    too_many = [{"id": str(i), "method": "GET", "url": f"/users/{ALICE}/calendar"} for i in range(21)]
    assert graph_client.post("/$batch", json={"requests": too_many}).status_code == 400


def test_faults_429_and_503_with_retry_after(graph_sim: EwsSimulator, graph_client: GraphClient) -> None:
    graph_sim.faults.fail("server_busy", operation="createEvent", count=1, back_off_ms=3000)
    busy = graph_client.post(f"/users/{ALICE}/calendar/events", json=event_body())
    assert busy.status_code == 429 and busy.headers["Retry-After"] == "3"
    assert busy.json()["error"]["code"] == "TooManyRequests"
    assert graph_client.post(f"/users/{ALICE}/calendar/events", json=event_body()).status_code == 201
    graph_sim.faults.fail("http_503", operation="getSchedule", count=1)
    answer = graph_client.post(f"/users/{ALICE}/calendar/getSchedule", json={})
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "1"
    assert graph_sim.graph.request_counts() == {"createEvent": 2, "getSchedule": 1}


def test_mailbox_concurrency_limit(graph_sim: EwsSimulator, graph_client: GraphClient) -> None:
    with graph_sim.graph.occupy(APP["client_id"], ALICE, 4):
        throttled = graph_client.get(f"/users/{ALICE}/calendar")
        assert graph_client.get(f"/users/{BOB}/calendar").status_code == 200  # another mailbox
    assert throttled.status_code == 429
    assert throttled.json()["error"] == {
        **throttled.json()["error"],
        "code": "ApplicationThrottled",
        "message": "Application is over its MailboxConcurrency limit.",
    }
    assert "Retry-After" in throttled.headers
    assert graph_client.get(f"/users/{ALICE}/calendar").status_code == 200


def test_concurrent_requests_beyond_four_are_throttled(
    graph_sim: EwsSimulator, graph_client: GraphClient
) -> None:
    graph_sim.faults.add_latency(600, operation="getCalendar")
    barrier = threading.Barrier(6)
    statuses: list[int] = []

    def call() -> None:
        client = GraphClient(graph_sim, graph_client.token)
        barrier.wait()
        statuses.append(client.get(f"/users/{ALICE}/calendar").status_code)

    threads = [threading.Thread(target=call) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses.count(429) >= 2 and statuses.count(200) >= 1
