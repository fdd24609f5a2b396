"""Fixtures for tests against the local Microsoft Graph (infra/graphsim): a TLS simulator per
session (msal needs an https authority), reset and seeded per test, and app-only tokens from msal.

    graph_simulator          session-scoped EwsSimulator(tls=True), started once
    graph_sim                function-scoped: reset + tests.seed.standard_org(), like `sim`
    graph_ca(graph_sim)      the CA file to pass as requests' verify=
    app_token(sim, ...)      an app-only Graph token from msal (ConfidentialClientApplication)
    GraphClient              a tiny requests wrapper that passes the CA per request

REQUESTS_CA_BUNDLE overrides Session.verify (../shared/FACTS.md), so `verify=` goes on every call.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msal
import pytest
import requests

from infra.ewssim.oauth import GRAPH_SCOPE
from infra.ewssim.server import EwsSimulator
from infra.graphsim.schema import METADATA_FILE, GraphSchema
from tests.seed import APP, standard_org

__all__ = ["GraphClient", "app_token", "graph_client", "graph_sim", "graph_simulator"]


# The Graph v1.0 CSDL: GRAPH_SCHEMA_DIR (as .ci/run sets it), else the shared copy beside the project.
GRAPH_SCHEMA_DIR = Path(
    os.environ.get("GRAPH_SCHEMA_DIR") or Path(__file__).resolve().parents[3] / "shared" / "graph-schema"
)


@pytest.fixture(scope="session")
def graph_simulator() -> Iterator[EwsSimulator]:
    """A TLS simulator whose Graph checks bodies against the CSDL when a copy is at hand (a
    violation fails the test through tests/conftest.py's _no_schema_violations)."""
    server = EwsSimulator(tls=True).start()
    if server.graph.schema is None and (GRAPH_SCHEMA_DIR / METADATA_FILE).is_file():
        server.graph.schema = GraphSchema(GRAPH_SCHEMA_DIR)
    yield server
    server.stop()


@pytest.fixture
def graph_sim(graph_simulator: EwsSimulator) -> EwsSimulator:
    """The session's TLS simulator, reset and seeded with the standard organisation."""
    graph_simulator.reset()
    graph_simulator.seed(standard_org())
    return graph_simulator


def app_token(
    sim: EwsSimulator,
    *,
    client_id: str = APP["client_id"],
    client_secret: str = APP["client_secret"],
    tenant: str = APP["tenant_id"],
    scope: str = GRAPH_SCOPE,
) -> str:
    """An app-only token for Graph (or another scope) from msal, against the simulator's authority."""
    assert sim.ca_file is not None, "msal needs an https authority: use a TLS simulator"
    session = requests.Session()
    session.verify = str(sim.ca_file)
    session.request = _with_verify(session.request, str(sim.ca_file))  # type: ignore[method-assign]
    app = msal.ConfidentialClientApplication(
        client_id,
        client_credential=client_secret,
        authority=f"{sim.base_url}/{tenant}",
        instance_discovery=False,
        http_client=session,
        token_cache=msal.TokenCache(),
    )
    result = app.acquire_token_for_client(scopes=[scope])
    if "access_token" not in result:
        raise AssertionError(f"no token: {result.get('error')}")
    return str(result["access_token"])


def _with_verify(request: Any, ca: str) -> Any:
    def call(method: str, url: str, **kwargs: Any) -> Any:
        kwargs["verify"] = ca
        return request(method, url, **kwargs)

    return call


class GraphClient:
    """requests against sim.graph_url with a bearer token and the simulator's CA on every call."""

    def __init__(self, sim: EwsSimulator, token: str) -> None:
        self.sim = sim
        self.token = token
        self.session = requests.Session()
        self.ca = str(sim.ca_file)

    def url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.sim.graph_url}{path}"

    def request(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> requests.Response:
        merged = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        return self.session.request(
            method, self.url(path), headers=merged, verify=self.ca, timeout=30, **kwargs
        )

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)


@pytest.fixture
def graph_client(graph_sim: EwsSimulator) -> GraphClient:
    """A client with an app-only Graph token of the standard app (all default roles)."""
    return GraphClient(graph_sim, app_token(graph_sim))


def ca_path(sim: EwsSimulator) -> Path:
    assert sim.ca_file is not None
    return sim.ca_file
