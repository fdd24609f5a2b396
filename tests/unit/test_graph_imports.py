"""An EWS-only process never imports the Graph backend or msal (issue 13: cold starts)."""

from __future__ import annotations

from tests.unit.test_handler_imports import loaded_after

GRAPH = ("pipeline.exchange.graph", "msal")


def _graph_modules(loaded: set[str]) -> set[str]:
    return {name for name in loaded if name.split(".")[0] == "msal" or name.startswith(GRAPH[0])}


def test_the_job_handler_imports_no_graph_backend() -> None:
    assert _graph_modules(loaded_after("import handlers.jobs")) == set()


def test_a_runtime_serving_ews_integrations_imports_no_graph_backend() -> None:
    code = """
from pipeline.config import PipelineConfig
from pipeline.exchange.ews.connection import EwsConnector
from pipeline.integrations import load_integration
from pipeline.runtimes.runtime import backend_gateways
from pipeline.secrets import SecretSource

secrets = SecretSource(boto3_client=object())
gateways = backend_gateways(PipelineConfig(), secrets, EwsConnector(secrets))
settings = load_integration({"integration_id": "e", "connection_method": "delegate", "auth_type": "basic",
                             "ews_url": "https://ews.example.com/EWS/Exchange.asmx",
                             "secret_name": "s", "service_mailbox": "svc@example.com"})
assert type(gateways.gateway(settings, "alice@example.com")).__name__ == "EwsGateway"
"""
    assert _graph_modules(loaded_after(code)) == set()


def test_a_graph_integration_loads_it_on_first_use() -> None:
    code = """
from pipeline.config import PipelineConfig
from pipeline.integrations import load_integration
from pipeline.runtimes.runtime import backend_gateways
from pipeline.secrets import SecretSource

secrets = SecretSource(boto3_client=object())
gateways = backend_gateways(PipelineConfig(), secrets, object())
settings = load_integration({"integration_id": "g", "connection_method": "impersonation",
                             "auth_type": "oauth2", "backend": "graph", "oauth_tenant_id": "t",
                             "secret_name": "s", "service_mailbox": "svc@example.com"})
assert type(gateways.gateway(settings, "alice@example.com")).__name__ == "GraphGateway"
"""
    loaded = loaded_after(code)
    assert "pipeline.exchange.graph.gateway" in loaded and "msal" in loaded
