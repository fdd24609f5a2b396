"""Events over Graph: create (invitations), get ($select, $expand, time zone), list ($filter on the
booking key, paging), PATCH (If-Match, added attendees), cancel, answers, delete."""

from __future__ import annotations

from infra.ewssim.models.calendar import create_calendar_item
from infra.ewssim.models.items import CalendarItem
from infra.ewssim.server import EwsSimulator
from tests.integration.graph_support import GraphClient
from tests.integration.graphsim.helpers import ALICE, BOB, BOOKING_KEY_ID, event_body, when
from tests.seed import smtp

EVENTS = f"/users/{ALICE}/calendar/events"


def _requests_in(sim: EwsSimulator, smtp_address: str, item_class: str) -> list[dict]:
    return [m for m in sim.inbox(smtp_address) if m.get("item_class", "").startswith(item_class)]


def test_create_with_attendees_invites_them_and_stamps_the_key(
    graph_sim: EwsSimulator, graph_client: GraphClient
) -> None:
    answer = graph_client.post(EVENTS, json=event_body(attendees=[BOB], key="key-1"))
    assert answer.status_code == 201
    event = answer.json()
    assert event["isOrganizer"] is True and event["attendees"][0]["emailAddress"]["address"] == BOB
    assert len(_requests_in(graph_sim, BOB, "IPM.Schedule.Meeting.Request")) == 1
    expand = f"singleValueExtendedProperties($filter=id eq '{BOOKING_KEY_ID}')"
    got = graph_client.get(f"/users/{ALICE}/events/{event['id']}", params={"$expand": expand}).json()
    assert got["singleValueExtendedProperties"] == [{"id": BOOKING_KEY_ID, "value": "key-1"}]


def test_create_without_attendees_sends_nothing_then_patch_invites(
    graph_sim: EwsSimulator, graph_client: GraphClient
) -> None:
    event = graph_client.post(EVENTS, json=event_body()).json()
    assert graph_sim.inbox(BOB) == []
    carol = smtp("carol")
    patch = {"attendees": [{"emailAddress": {"address": BOB}, "type": "required"}]}
    assert graph_client.patch(f"/users/{ALICE}/events/{event['id']}", json=patch).status_code == 200
    assert len(_requests_in(graph_sim, BOB, "IPM.Schedule.Meeting.Request")) == 1
    patch["attendees"].append({"emailAddress": {"address": carol}, "type": "optional"})
    assert graph_client.patch(f"/users/{ALICE}/events/{event['id']}", json=patch).status_code == 200
    assert len(_requests_in(graph_sim, BOB, "IPM.Schedule.Meeting.Request")) == 1  # only the added one
    assert len(_requests_in(graph_sim, carol, "IPM.Schedule.Meeting.Request")) == 1


def test_if_match_is_compare_and_swap(graph_client: GraphClient) -> None:
    event = graph_client.post(EVENTS, json=event_body()).json()
    url = f"/users/{ALICE}/events/{event['id']}"
    first = graph_client.patch(url, json={"subject": "one"}, headers={"If-Match": event["@odata.etag"]})
    assert first.status_code == 200 and first.json()["changeKey"] != event["changeKey"]
    stale = graph_client.patch(url, json={"subject": "two"}, headers={"If-Match": event["@odata.etag"]})
    assert stale.status_code == 412
    assert stale.json()["error"]["code"] == "ErrorIrresolvableConflict"
    assert graph_client.get(url).json()["subject"] == "one"


def test_select_and_prefer_time_zone(graph_client: GraphClient) -> None:
    start = when(hour=12)
    event = graph_client.post(EVENTS, json=event_body(start=start)).json()
    got = graph_client.get(
        f"/users/{ALICE}/events/{event['id']}",
        params={"$select": "subject,start"},
        headers={"Prefer": 'outlook.timezone="Pacific Standard Time"'},
    ).json()
    assert set(got) == {"@odata.etag", "id", "subject", "start"}
    assert got["start"]["timeZone"] == "Pacific Standard Time"
    iana = graph_client.get(
        f"/users/{ALICE}/events/{event['id']}", headers={"Prefer": 'outlook.timezone="Asia/Tokyo"'}
    ).json()
    assert iana["start"]["dateTime"].startswith(start.replace(hour=21).strftime("%Y-%m-%dT21:00:00"))


def test_filter_by_booking_key_and_paging(graph_client: GraphClient) -> None:
    for index in range(3):
        graph_client.post(EVENTS, json=event_body(f"b{index}", start=when(hour=8 + index), key=f"k{index}"))
    flt = f"singleValueExtendedProperties/Any(ep: ep/id eq '{BOOKING_KEY_ID}' and ep/value eq 'k1')"
    found = graph_client.get(EVENTS, params={"$filter": flt}).json()["value"]
    assert [e["subject"] for e in found] == ["b1"]
    first = graph_client.get(EVENTS, params={"$top": "2"}).json()
    assert len(first["value"]) == 2 and "@odata.nextLink" in first
    second = graph_client.get(first["@odata.nextLink"]).json()
    assert [e["subject"] for e in second["value"]] == ["b2"] and "@odata.nextLink" not in second


def test_cancel_sends_cancellations_and_attendee_answers(
    graph_sim: EwsSimulator, graph_client: GraphClient
) -> None:
    event = graph_client.post(EVENTS, json=event_body(attendees=[BOB, smtp("room-a")])).json()
    bob_copy = graph_client.get(f"/users/{BOB}/calendar/events").json()["value"][0]
    assert bob_copy["responseStatus"]["response"] == "notResponded"
    accepted = graph_client.post(f"/users/{BOB}/events/{bob_copy['id']}/accept", json={"comment": "ok"})
    assert accepted.status_code == 202
    organizer_view = graph_client.get(f"/users/{ALICE}/events/{event['id']}").json()
    responses = {a["emailAddress"]["address"]: a["status"]["response"] for a in organizer_view["attendees"]}
    assert responses == {BOB: "accepted", smtp("room-a"): "accepted"}
    attendee_cancel = graph_client.post(f"/users/{BOB}/events/{bob_copy['id']}/cancel", json={})
    assert attendee_cancel.status_code == 400
    assert (
        graph_client.post(
            f"/users/{ALICE}/events/{event['id']}/cancel", json={"comment": "sorry"}
        ).status_code
        == 202
    )
    assert len(_requests_in(graph_sim, BOB, "IPM.Schedule.Meeting.Canceled")) == 1
    assert graph_client.get(f"/users/{BOB}/events/{bob_copy['id']}").json()["isCancelled"] is True


def test_delete_and_bad_ids(graph_sim: EwsSimulator, graph_client: GraphClient) -> None:
    event = graph_client.post(EVENTS, json=event_body(attendees=[BOB])).json()
    assert graph_client.delete(f"/users/{ALICE}/events/{event['id']}").status_code == 204
    assert graph_sim.calendar(ALICE) == []
    # The organizer deleting a meeting tells its attendees (learn.microsoft.com/graph/api/event-delete).
    assert len(_requests_in(graph_sim, BOB, "IPM.Schedule.Meeting.Canceled")) == 1
    assert (
        graph_client.get(f"/users/{ALICE}/events/not-an-id").json()["error"]["code"]
        == "ErrorInvalidIdMalformed"
    )
    permanent = graph_client.post(f"/users/{ALICE}/events/{event['id']}/permanentDelete")
    assert permanent.status_code == 204
    missing = graph_client.get(f"/users/{ALICE}/events/{event['id']}")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "ErrorItemNotFound"
    assert graph_client.get(f"/users/{BOB}/events/{event['id']}").status_code == 404  # not bob's


def test_calendars_and_calendar_view(graph_sim: EwsSimulator, graph_client: GraphClient) -> None:
    graph_sim.create_folder(ALICE, "Calendar/Interviews")
    calendars = graph_client.get(f"/users/{ALICE}/calendars").json()["value"]
    assert [c["name"] for c in calendars] == ["Calendar", "Interviews"]
    second = calendars[1]["id"]
    created = graph_client.post(f"/users/{ALICE}/calendars/{second}/events", json=event_body("in second"))
    assert created.status_code == 201
    assert (
        graph_client.get(f"/users/{ALICE}/calendars/{second}/events").json()["value"][0]["subject"]
        == "in second"
    )
    graph_client.post(EVENTS, json=event_body("main", start=when(days=3)))
    window = {"startDateTime": when(days=2).isoformat(), "endDateTime": when(days=4).isoformat()}
    view = graph_client.get(f"/users/{ALICE}/calendarView", params=window).json()["value"]
    assert [e["subject"] for e in view] == ["main"]


def test_an_event_saved_through_ews_without_times_reads_with_null_times(
    graph_sim: EwsSimulator, graph_client: GraphClient
) -> None:
    # EWS lets a client save a calendar item without Start/End; Graph shows it rather than failing.
    item = CalendarItem(subject="no times")
    create_calendar_item(graph_sim.backend, ALICE, item)
    listed = graph_client.get(EVENTS)
    assert listed.status_code == 200
    [event] = listed.json()["value"]
    assert (event["start"], event["end"]) == (None, None)
