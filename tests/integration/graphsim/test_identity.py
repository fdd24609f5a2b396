"""Tokens: msal against the simulator's authority, audiences kept apart, OData 401s."""

from __future__ import annotations

import requests

from infra.ewssim.server import EwsSimulator
from tests.integration.graph_support import GraphClient, app_token
from tests.integration.graphsim.helpers import ALICE
from tests.seed import APP


def test_openid_configuration_names_the_token_endpoint(graph_sim: EwsSimulator) -> None:
    url = f"{graph_sim.base_url}/{APP['tenant_id']}/v2.0/.well-known/openid-configuration"
    document = requests.get(url, verify=str(graph_sim.ca_file), timeout=10).json()
    assert document["token_endpoint"] == graph_sim.token_url(APP["tenant_id"])
    assert document["issuer"].endswith(f"/{APP['tenant_id']}/v2.0")
    assert "authorization_endpoint" in document


def test_msal_token_reaches_graph_with_request_ids(graph_client: GraphClient) -> None:
    answer = graph_client.get(f"/users/{ALICE}/calendar", headers={"client-request-id": "abc-123"})
    assert answer.status_code == 200
    assert answer.json()["isDefaultCalendar"] is True
    assert answer.headers["client-request-id"] == "abc-123"
    assert answer.headers["request-id"]


def test_an_ews_token_is_refused_by_graph(graph_sim: EwsSimulator) -> None:
    ews_token = app_token(graph_sim, scope="https://outlook.office365.com/.default")
    answer = GraphClient(graph_sim, ews_token).get(f"/users/{ALICE}/calendar")
    assert answer.status_code == 401
    error = answer.json()["error"]
    assert error["code"] == "InvalidAuthenticationToken"
    assert set(error["innerError"]) == {"date", "request-id", "client-request-id"}


def test_a_graph_token_is_refused_by_ews(graph_sim: EwsSimulator) -> None:
    token = app_token(graph_sim)
    answer = requests.post(
        graph_sim.ews_url,
        data=b"<x/>",
        headers={"Authorization": f"Bearer {token}"},
        verify=str(graph_sim.ca_file),
        timeout=10,
    )
    assert answer.status_code == 401


def test_no_token_is_401(graph_sim: EwsSimulator) -> None:
    answer = requests.get(
        f"{graph_sim.graph_url}/users/{ALICE}/calendar", verify=str(graph_sim.ca_file), timeout=10
    )
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "InvalidAuthenticationToken"
