"""App roles per endpoint, application access policies, unknown mailboxes, /me."""

from __future__ import annotations

from infra.ewssim.server import EwsSimulator
from tests.integration.graph_support import GraphClient
from tests.integration.graphsim.helpers import ALICE, BOB, event_body
from tests.seed import APP


def test_missing_calendar_role_is_error_access_denied(
    graph_sim: EwsSimulator, graph_client: GraphClient
) -> None:
    graph_sim.graph.set_app_roles(APP["client_id"], ["Calendars.Read", "Place.Read.All"])
    assert graph_client.get(f"/users/{ALICE}/calendar").status_code == 200
    answer = graph_client.post(f"/users/{ALICE}/calendar/events", json=event_body())
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "ErrorAccessDenied"
    assert graph_sim.calendar(ALICE) == []


def test_missing_directory_role_is_authorization_request_denied(
    graph_sim: EwsSimulator, graph_client: GraphClient
) -> None:
    graph_sim.graph.set_app_roles(APP["client_id"], ["Calendars.ReadWrite"])
    answer = graph_client.get("/places/microsoft.graph.roomList")
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "Authorization_RequestDenied"


def test_application_access_policy_scopes_the_app(graph_sim: EwsSimulator, graph_client: GraphClient) -> None:
    graph_sim.graph.set_access_policy(APP["client_id"], [ALICE])
    assert graph_client.get(f"/users/{ALICE}/calendar").status_code == 200
    answer = graph_client.get(f"/users/{BOB}/calendar")
    assert answer.status_code == 403
    assert answer.json()["error"] == {
        **answer.json()["error"],
        "code": "ErrorAccessDenied",
        "message": "Access to OData is disabled.",
    }


def test_unknown_mailbox_is_error_invalid_user(graph_client: GraphClient) -> None:
    answer = graph_client.get("/users/nobody@example.com/calendar")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "ErrorInvalidUser"


def test_me_needs_a_delegated_token(graph_client: GraphClient) -> None:
    answer = graph_client.get("/me/calendar")
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "BadRequest"


def test_unknown_segment_is_bad_request(graph_client: GraphClient) -> None:
    answer = graph_client.get(f"/users/{ALICE}/nothingHere")
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "BadRequest"


def test_http_control_for_graph(graph_sim: EwsSimulator, graph_client: GraphClient) -> None:
    import requests

    control = f"{graph_sim.base_url}/_sim/graph"
    ca = str(graph_sim.ca_file)
    policy = {"client_id": APP["client_id"], "mailboxes": [BOB]}
    assert requests.post(f"{control}/access-policy", json=policy, verify=ca, timeout=10).json() == {
        "ok": True
    }
    assert graph_client.get(f"/users/{ALICE}/calendar").status_code == 403
    counts = requests.get(f"{control}/requests/counts", verify=ca, timeout=10).json()
    assert counts == {"getCalendar": 1}
    assert requests.post(f"{control}/delta/expire", verify=ca, timeout=10).json() == {"expired": 0}
    assert requests.get(f"{control}/nothing", verify=ca, timeout=10).status_code == 404
