"""The long-lived parts of a worker process or warm Lambda: config, store, secrets, connections."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import dramatiq

from pipeline.actions.context import GatewayFactory
from pipeline.config import PipelineConfig
from pipeline.events.publisher import EventPublisher, build_event_publisher
from pipeline.exchange.ews.logins import LoginFormMemory
from pipeline.runtimes.retry_policy import RetryPolicy
from pipeline.secrets import SecretSource, secrets_client
from pipeline.store.base import ResultsStore
from pipeline.store.factory import get_store


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    """Built once per process and shared by every job it runs."""

    config: PipelineConfig
    store: ResultsStore
    gateways: GatewayFactory
    clock: Callable[[], datetime] = field(default=utc_now)
    # Publishes each job's events as the job ends; None where nothing publishes inline
    # (PIPELINE_EVENTS_SINK none, or stream: the table's stream function does).
    events: EventPublisher | None = None
    # How long transient failures are retried, and how far apart (the same on every runtime).
    retry_policy: RetryPolicy = field(default_factory=RetryPolicy)

    @classmethod
    def from_config(cls, config: PipelineConfig, *, events_broker: dramatiq.Broker | None = None) -> Runtime:
        """The runtime `config` describes; `events_broker` carries events for a dramatiq://
        sink (the worker's own broker), else the sink connects to PIPELINE_BROKER itself."""
        # exchangelib and lxml (half a second) load when a process builds its runtime, not when a
        # handler module is imported.
        from pipeline.exchange.ews.connection import EwsConnector

        secrets = SecretSource(
            boto3_client=secrets_client(config), max_age_seconds=config.secret_cache_seconds
        )
        store = get_store(config)
        connector = EwsConnector(
            secrets,
            concurrency=config.worker_concurrency,
            request_timeout_s=config.ews_timeout_seconds,
            connect_timeout_s=config.ews_connect_timeout_seconds,
            # Which logon name form worked is kept on the integration's item for other processes.
            login_forms=LoginFormMemory(store),
        )
        return cls(config=config, store=store, gateways=backend_gateways(config, secrets, connector),
                   events=build_event_publisher(config, store, utc_now, broker=events_broker),
                   retry_policy=RetryPolicy.from_config(config))


def backend_gateways(config: PipelineConfig, secrets: SecretSource, ews: GatewayFactory) -> GatewayFactory:
    """EWS integrations through `ews`; Graph ones through a GraphConnector built on first use (an
    EWS-only process never imports the Graph backend or msal)."""
    from pipeline.exchange.connectors import BackendGateways

    def graph() -> Any:
        from pipeline.exchange.graph.connection import GraphConnector

        return GraphConnector(
            secrets,
            concurrency=config.worker_concurrency,
            request_timeout_s=config.ews_timeout_seconds,
            connect_timeout_s=config.ews_connect_timeout_seconds,
        )

    return BackendGateways(ews, graph)
