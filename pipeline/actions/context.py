"""What an action gets to work with: its integration, the store, a gateway, the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from pipeline.config import PipelineConfig
from pipeline.exchange.base import ExchangeGateway
from pipeline.integrations import IntegrationSettings
from pipeline.store.base import ResultsStore


class GatewayFactory(Protocol):
    """Opens a gateway for an integration and job mailbox (EWS today; Graph could be another)."""

    def gateway(self, settings: IntegrationSettings, mailbox: str | None = None) -> ExchangeGateway: ...


@dataclass(frozen=True)
class ActionContext:
    message_id: str
    integration: IntegrationSettings
    store: ResultsStore
    gateways: GatewayFactory
    config: PipelineConfig
    clock: Callable[[], datetime]

    def gateway(self, mailbox: str | None = None) -> ExchangeGateway:
        """The gateway for this job's integration, acting on `mailbox` per the connection method."""
        return self.gateways.gateway(self.integration, mailbox)

    def now(self) -> datetime:
        return self.clock()
