"""calendarView/delta (pages, @removed, expiry) and translateExchangeIds."""

from __future__ import annotations

from datetime import timedelta

from infra.ewssim.server import EwsSimulator
from tests.integration.graph_support import GraphClient
from tests.integration.graphsim.helpers import ALICE, event_body, when

DELTA = f"/users/{ALICE}/calendarView/delta"


def _sync(client: GraphClient, first: str, params: dict | None = None) -> tuple[list[dict], str, int]:
    url, seen, pages = first, [], 0
    while True:
        page = client.get(url, params=params, headers={"Prefer": "odata.maxpagesize=2"})
        assert page.status_code == 200, page.text
        params, pages = None, pages + 1
        body = page.json()
        seen += body["value"]
        if "@odata.deltaLink" in body:
            return seen, body["@odata.deltaLink"], pages
        url = body["@odata.nextLink"]


def test_delta_rounds_removed_and_expiry(graph_sim: EwsSimulator, graph_client: GraphClient) -> None:
    ids = [
        graph_client.post(
            f"/users/{ALICE}/calendar/events", json=event_body(f"e{i}", start=when(hour=8 + i))
        ).json()["id"]
        for i in range(3)
    ]
    window = {"startDateTime": when(days=6).isoformat(), "endDateTime": when(days=9).isoformat()}
    seen, delta_link, pages = _sync(graph_client, DELTA, window)
    assert sorted(e["subject"] for e in seen) == ["e0", "e1", "e2"] and pages == 2
    graph_client.patch(f"/users/{ALICE}/events/{ids[0]}", json={"subject": "e0 moved"})
    graph_client.delete(f"/users/{ALICE}/events/{ids[1]}")
    changes, delta_link, _ = _sync(graph_client, delta_link)
    assert {e["id"]: e.get("subject", e.get("@removed")) for e in changes} == {
        ids[0]: "e0 moved",
        ids[1]: {"reason": "deleted"},
    }
    quiet, delta_link, _ = _sync(graph_client, delta_link)
    assert quiet == []
    graph_sim.graph.expire_delta_tokens()
    gone = graph_client.get(delta_link)
    assert gone.status_code == 410 and gone.json()["error"]["code"] == "SyncStateNotFound"


def test_translate_exchange_ids_both_ways(graph_sim: EwsSimulator, graph_client: GraphClient) -> None:
    event = graph_client.post(
        f"/users/{ALICE}/calendar/events", json=event_body(start=when() + timedelta(hours=1))
    ).json()
    ews_id = graph_sim.calendar(ALICE)[0]["item_id"]
    url = f"/users/{ALICE}/translateExchangeIds"
    to_rest = graph_client.post(
        url, json={"inputIds": [ews_id], "sourceIdType": "ewsId", "targetIdType": "restId"}
    )
    assert to_rest.json()["value"] == [{"sourceId": ews_id, "targetId": event["id"]}]
    back = graph_client.post(
        url, json={"inputIds": [event["id"]], "sourceIdType": "restId", "targetIdType": "ewsId"}
    )
    assert back.json()["value"][0]["targetId"] == ews_id
    bad = graph_client.post(
        url, json={"inputIds": ["zzz"], "sourceIdType": "ewsId", "targetIdType": "restId"}
    )
    assert bad.json()["value"][0]["errorDetails"]["code"] == "ErrorInvalidIdMalformed"
