"""getSchedule (shape, digits, limits, per-schedule errors) and places."""

from __future__ import annotations

from datetime import timedelta

from infra.ewssim.server import EwsSimulator
from tests.integration.graph_support import GraphClient
from tests.integration.graphsim.helpers import ALICE, BOB, dtz, event_body, when
from tests.seed import smtp

SCHEDULE = f"/users/{ALICE}/calendar/getSchedule"


def test_get_schedule_digits_items_working_hours_and_unknown(graph_client: GraphClient) -> None:
    start = when(hour=9)
    graph_client.post(f"/users/{BOB}/calendar/events", json=event_body(start=start + timedelta(hours=1)))
    body = {
        "schedules": [BOB, "nobody@example.com"],
        "startTime": dtz(start),
        "endTime": dtz(start + timedelta(hours=3)),
        "availabilityViewInterval": 60,
    }
    answer = graph_client.post(SCHEDULE, json=body)
    assert answer.status_code == 200
    bob, nobody = answer.json()["value"]
    assert bob["availabilityView"] == "020"
    assert bob["scheduleItems"][0]["status"] == "busy"
    assert bob["workingHours"]["timeZone"]["name"] == "Eastern Standard Time"
    assert nobody["error"]["responseCode"] == "ErrorMailRecipientNotFound"


def test_get_schedule_limits(graph_client: GraphClient) -> None:
    start = when()
    hour = {"startTime": dtz(start), "endTime": dtz(start + timedelta(hours=1))}
    twenty = [f"u{i}@example.com" for i in range(20)]
    assert graph_client.post(SCHEDULE, json={"schedules": twenty, **hour}).status_code == 200
    assert graph_client.post(SCHEDULE, json={"schedules": [*twenty, BOB], **hour}).status_code == 400
    almost_62_days = dtz(start + timedelta(days=61, hours=23))
    almost = {"schedules": [BOB], "startTime": dtz(start), "endTime": almost_62_days}
    assert graph_client.post(SCHEDULE, json=almost).status_code == 200
    too_long = {"schedules": [BOB], "startTime": dtz(start), "endTime": dtz(start + timedelta(days=62))}
    answer = graph_client.post(SCHEDULE, json=too_long)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "ErrorInvalidParameter"


def test_places(graph_client: GraphClient) -> None:
    lists = graph_client.get("/places/microsoft.graph.roomList").json()["value"]
    assert [r["emailAddress"] for r in lists] == [smtp("building-1"), smtp("building-2")]
    rooms = graph_client.get(f"/places/{smtp('building-1')}/microsoft.graph.roomList/rooms").json()["value"]
    assert [r["emailAddress"] for r in rooms] == [smtp("room-a"), smtp("room-b")]
    paged = graph_client.get("/places/microsoft.graph.room", params={"$top": "3"}).json()
    assert len(paged["value"]) == 3
    assert len(graph_client.get(paged["@odata.nextLink"]).json()["value"]) == 1
    assert graph_client.get("/places/nobody@example.com/microsoft.graph.roomList/rooms").status_code == 404


def test_get_user(graph_client: GraphClient, graph_sim: EwsSimulator) -> None:
    assert graph_client.get(f"/users/{ALICE}").json()["mail"] == ALICE
    assert graph_client.get("/users/nobody@example.com").json()["error"]["code"] == "Request_ResourceNotFound"
