"""Shared by the action and runtime tests: a Runtime on moto and the simulator, and integrations.

    def test_something(pipeline: PipelineHarness) -> None:
        integration_id = pipeline.install("delegate", "basic")
        record = pipeline.run("list_rooms", integration_id=integration_id)
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from exchangelib.protocol import close_connections
from moto import mock_aws

from infra.ewssim import EwsSimulator
from pipeline.config import PipelineConfig
from pipeline.contract import JobOutcome
from pipeline.errors import PipelineError
from pipeline.exchange.ews import EwsConnector
from pipeline.runtimes.enqueue import Enqueue
from pipeline.runtimes.runner import Job, run_job
from pipeline.runtimes.runtime import Runtime
from pipeline.store.dynamodb import DynamoDbStore
from pipeline.store.dynamodb.keys import create_table
from tests.integration.ews_support import CountingSecretSource, integration, put_secret, seed_secrets
from tests.seed import APP, smtp

CONNECTION_METHODS = ("personal", "dedicated", "delegate", "impersonation")
AUTH_TYPES = ("basic", "ntlm", "oauth2")
# OAuth app-only tokens have no mailbox of their own: Exchange Online only lets them act through
# impersonation, so that is the one method they pair with.
METHOD_AUTH_PAIRS = [
    *((method, auth) for method in CONNECTION_METHODS for auth in ("basic", "ntlm")),
    ("impersonation", "oauth2"),
]
BACKENDS = ("ews", "graph")
# Graph takes OAuth tokens only (docs/graph.md): app-only for three methods, the user's own for personal.
GRAPH_AUTH = {"personal": "oauth2_delegated", "dedicated": "oauth2", "delegate": "oauth2",
              "impersonation": "oauth2"}
# Whose refresh tokens a personal oauth2_delegated integration holds (each user's own secret).
PERSONAL_USERS = ("alice", "bob", "carol")


@dataclass
class PipelineHarness:
    sim: EwsSimulator
    runtime: Runtime
    secrets_client: Any
    secrets: CountingSecretSource
    installed: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Where the jobs an action enqueues go (a calendar sync); None: an action that enqueues fails.
    enqueue: Enqueue | None = None
    # The backend install() gives integrations by default (any_pipeline runs a test on each).
    backend: str = "ews"

    @property
    def store(self) -> Any:
        return self.runtime.store

    @property
    def on_graph(self) -> bool:
        return self.backend == "graph"

    def request_counts(self) -> dict[str, int]:
        """The simulator's exact request counts on this harness's backend (EWS operations, or
        Graph's operation names: sim.graph.request_counts())."""
        return self.sim.graph.request_counts() if self.on_graph else self.sim.request_counts()

    def install(self, method: str, auth: str = "basic", **overrides: Any) -> str:
        """Store an integration's settings and seed its secrets; returns its integration_id.

        backend="graph" points it at the simulator's Graph (graph_url) as well. On a Graph harness
        (any_pipeline's "graph") integrations are Graph ones unless told otherwise, with the auth
        type Graph takes for the method (GRAPH_AUTH). oauth2_delegated seeds the app's secret and a
        refresh token per user, as the upstream app stores them when each user connects."""
        if self.on_graph and "backend" not in overrides:
            overrides["backend"] = "graph"
            auth = GRAPH_AUTH[method]
        if overrides.get("backend") == "graph":
            overrides.setdefault("graph_url", self.sim.graph_url)
        if auth == "oauth2_delegated":
            integration_id = overrides.setdefault("integration_id", f"{method}-{auth}")
            overrides.setdefault("secret_name", f"ews/{integration_id}/app")
            overrides.setdefault("oauth_authority", self.sim.base_url)
            overrides.setdefault("oauth_tenant_id", APP["tenant_id"])
        settings = integration(self.sim, method, auth, **overrides)
        if auth == "oauth2_delegated":
            put_secret(self.secrets_client, settings.secret_name, dict(APP))
            for user in PERSONAL_USERS:
                token = self.sim.issue_refresh_token(APP["client_id"], smtp(user))
                secret = settings.secret_name_for(smtp(user))
                put_secret(self.secrets_client, secret, {"refresh_token": token})
        else:
            seed_secrets(self.secrets_client, settings.integration_id, method, auth)
        raw = settings.model_dump(mode="json", exclude_none=True)
        self.store.put_integration(settings.integration_id, raw, self.runtime.clock())
        self.installed[settings.integration_id] = raw
        return settings.integration_id

    def run(self, actor_name: str, *, message_id: str | None = None, **kwargs: Any) -> JobOutcome:
        """Run one job through run_job, as a worker would; returns its record from the table.

        A PipelineError is swallowed here: the record carries the outcome, which tests assert on.
        """
        message_id = message_id or str(uuid.uuid4())
        with contextlib.suppress(PipelineError):
            run_job(self.runtime, Job(message_id, actor_name, kwargs), enqueue=self.enqueue)
        record = self.store.get_job(message_id)
        assert record is not None, f"no job record for {actor_name} {message_id}"
        return record.to_outcome()


@pytest.fixture
def pipeline(sim: EwsSimulator) -> Iterator[PipelineHarness]:
    """A Runtime over moto (DynamoDB, Secrets Manager in-process) and the seeded simulator."""
    close_connections()
    with mock_aws():
        config = PipelineConfig(table_name="ews-pipeline-test", worker_concurrency=4)
        dynamodb = boto3.client("dynamodb", region_name=config.aws_region)
        create_table(dynamodb, config.table_name)
        secrets_client = boto3.client("secretsmanager", region_name=config.aws_region)
        secrets = CountingSecretSource(boto3_client=secrets_client)
        connector = EwsConnector(secrets, concurrency=config.worker_concurrency)
        store = DynamoDbStore(dynamodb, config.table_name)
        runtime = Runtime(config=config, store=store, gateways=connector)
        yield PipelineHarness(sim, runtime, secrets_client, secrets)
        connector.close_all()
    close_connections()


@pytest.fixture
def graph_pipeline(graph_sim: EwsSimulator) -> Iterator[PipelineHarness]:
    """The pipeline harness over the TLS simulator, its Runtime dispatching on the backend (EWS
    and Graph integrations side by side): install("impersonation", "oauth2", backend="graph")."""
    from pipeline.exchange.connectors import BackendGateways
    from pipeline.exchange.graph.connection import GraphConnector

    close_connections()
    with mock_aws():
        config = PipelineConfig(table_name="ews-pipeline-test", worker_concurrency=4)
        dynamodb = boto3.client("dynamodb", region_name=config.aws_region)
        create_table(dynamodb, config.table_name)
        secrets_client = boto3.client("secretsmanager", region_name=config.aws_region)
        secrets = CountingSecretSource(boto3_client=secrets_client)
        # EWS integrations on this TLS simulator are installed with verify_tls=False.
        ews = EwsConnector(secrets, concurrency=config.worker_concurrency)
        # The simulator's CA is passed per request (REQUESTS_CA_BUNDLE would override a session's).
        graph = GraphConnector(secrets, concurrency=config.worker_concurrency,
                               ca_bundle=str(graph_sim.ca_file))
        gateways = BackendGateways(ews, lambda: graph)
        store = DynamoDbStore(dynamodb, config.table_name)
        runtime = Runtime(config=config, store=store, gateways=gateways)
        yield PipelineHarness(graph_sim, runtime, secrets_client, secrets)
        gateways.close_all()
    close_connections()



@pytest.fixture(params=BACKENDS)
def any_pipeline(request: pytest.FixtureRequest) -> PipelineHarness:
    """The same test on both backends: `pipeline` (EWS) and `graph_pipeline` (Graph, whose
    install() makes Graph integrations). A test module re-exports the fixtures both need:
    pipeline, graph_pipeline, graph_sim, graph_simulator (sim comes from tests/conftest.py).
    Parametrize it indirectly to pair a backend with other parameters:
    `@pytest.mark.parametrize(("any_pipeline", "method"), [("graph", "personal")],
    indirect=["any_pipeline"])`."""
    if request.param == "ews":
        harness: PipelineHarness = request.getfixturevalue("pipeline")
        return harness
    harness = request.getfixturevalue("graph_pipeline")
    harness.backend = "graph"
    return harness
