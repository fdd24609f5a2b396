"""One mailbox model behind both APIs (a booking made through EWS is read through Graph and the
other way round, with the same booking stamp), and the CSDL check catching bad bodies."""

from __future__ import annotations

from datetime import timedelta

import pytest
from exchangelib import EWSDateTime, EWSTimeZone

from infra.ewssim.server import EwsSimulator
from pipeline.exchange.ews.booking_stamp import BOOKING_KEY_FIELD
from tests.integration.ewssim.conftest import build_account
from tests.integration.graph_support import GraphClient
from tests.integration.graphsim.helpers import ALICE, BOOKING_KEY_ID, event_body, when


@pytest.fixture
def trusted(graph_sim: EwsSimulator, monkeypatch: pytest.MonkeyPatch) -> EwsSimulator:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(graph_sim.ca_file))  # exchangelib verifies with it
    return graph_sim


def test_a_meeting_made_through_ews_is_read_through_graph(
    trusted: EwsSimulator, graph_client: GraphClient
) -> None:
    from exchangelib import CalendarItem

    account = build_account(trusted, "alice")
    zone = EWSTimeZone("UTC")
    start = EWSDateTime.from_datetime(when()).astimezone(zone)
    item = CalendarItem(
        account=account,
        folder=account.calendar,
        subject="From EWS",
        start=start,
        end=start + timedelta(hours=1),
    )
    setattr(item, BOOKING_KEY_FIELD, "ews-key")
    item.save(send_meeting_invitations="SendToNone")
    flt = f"singleValueExtendedProperties/Any(ep: ep/id eq '{BOOKING_KEY_ID}' and ep/value eq 'ews-key')"
    found = graph_client.get(f"/users/{ALICE}/calendar/events", params={"$filter": flt}).json()["value"]
    assert [e["subject"] for e in found] == ["From EWS"]


def test_an_event_made_through_graph_is_found_by_exchangelib(
    trusted: EwsSimulator, graph_client: GraphClient
) -> None:
    created = graph_client.post(
        f"/users/{ALICE}/calendar/events", json=event_body("From Graph", key="graph-key")
    )
    assert created.status_code == 201
    account = build_account(trusted, "alice")
    items = list(account.calendar.filter(**{BOOKING_KEY_FIELD: "graph-key"}))
    assert [i.subject for i in items] == ["From Graph"]
    assert getattr(items[0], BOOKING_KEY_FIELD) == "graph-key"
    assert items[0].changekey == created.json()["changeKey"]


def test_the_csdl_check_refuses_an_unknown_property(
    graph_sim: EwsSimulator, graph_client: GraphClient
) -> None:
    if graph_sim.graph.schema is None:
        pytest.skip("no Graph CSDL at hand")
    answer = graph_client.post(f"/users/{ALICE}/calendar/events", json=event_body(bogusProperty=1))
    assert answer.status_code == 400
    violations = graph_sim.take_schema_violations()
    assert len(violations) == 1 and "bogusProperty" in violations[0]
    assert graph_sim.calendar(ALICE) == []


def test_the_csdl_check_catches_an_invalid_response(
    graph_sim: EwsSimulator, graph_client: GraphClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    if graph_sim.graph.schema is None:
        pytest.skip("no Graph CSDL at hand")
    from infra.graphsim.responses import calendars, render

    original = render.calendar_json
    monkeypatch.setattr(calendars, "calendar_json", lambda *a, **k: {**original(*a, **k), "colour": "red"})
    answer = graph_client.get(f"/users/{ALICE}/calendar")
    assert answer.status_code == 500
    violations = graph_sim.take_schema_violations()
    assert len(violations) == 1 and "colour" in violations[0]
