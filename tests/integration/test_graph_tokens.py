"""Graph app-only tokens: one per tenant and app for many jobs, replaced before they expire, and
asked for again once when Graph stops honouring the one held (real msal, the simulator's token
endpoint, which counts token requests by grant)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pipeline.contract import JobStatus
from tests.integration.graph_support import graph_sim, graph_simulator
from tests.integration.pipeline_support import PipelineHarness, graph_pipeline
from tests.seed import APP, smtp

__all__ = ["graph_pipeline", "graph_sim", "graph_simulator"]  # the fixtures, re-exported for pytest

WINDOW = {"start": datetime(2026, 11, 2, 9, tzinfo=UTC).isoformat(),
          "end": datetime(2026, 11, 2, 17, tzinfo=UTC).isoformat()}


def free_busy(pipeline: PipelineHarness, integration_id: str) -> JobStatus:
    record = pipeline.run("fetch_free_busy", integration_id=integration_id,
                          mailboxes=[smtp("bob")], **WINDOW)
    return record.status


def token_requests(pipeline: PipelineHarness) -> int:
    return pipeline.sim.tokens.counts().get("client_credentials", 0)


def test_one_token_serves_every_job_of_the_process(graph_pipeline: PipelineHarness) -> None:
    first = graph_pipeline.install("impersonation", "oauth2", backend="graph", integration_id="graph-a")
    second = graph_pipeline.install("delegate", "oauth2", backend="graph", integration_id="graph-b")
    for integration_id in (first, second, first, second):
        assert free_busy(graph_pipeline, integration_id) is JobStatus.SUCCEEDED
    # Both integrations use the same app registration in the same tenant: one token for all four.
    assert token_requests(graph_pipeline) == 1


def test_a_token_close_to_its_expiry_is_replaced_before_it_is_used(graph_pipeline: PipelineHarness) -> None:
    # Four minutes is inside msal's five-minute margin: each job must fetch a fresh token rather
    # than send one that could expire in flight.
    graph_pipeline.sim.tokens.lifetime = timedelta(minutes=4)
    integration_id = graph_pipeline.install("impersonation", "oauth2", backend="graph")
    for _ in range(3):
        assert free_busy(graph_pipeline, integration_id) is JobStatus.SUCCEEDED
    assert token_requests(graph_pipeline) == 3


def test_a_token_graph_stops_honouring_is_replaced_once(graph_pipeline: PipelineHarness) -> None:
    integration_id = graph_pipeline.install("impersonation", "oauth2", backend="graph")
    assert free_busy(graph_pipeline, integration_id) is JobStatus.SUCCEEDED
    assert graph_pipeline.sim.tokens.revoke_app(APP["client_id"]) == 1
    # The held token now gets 401: the job asks for a new one and succeeds on it.
    assert free_busy(graph_pipeline, integration_id) is JobStatus.SUCCEEDED
    assert token_requests(graph_pipeline) == 2
