"""What an action gets to work with: its integration, the store, a gateway, the clock."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from pipeline.config import PipelineConfig
from pipeline.events.models import EventData, PipelineEvent, make_event
from pipeline.exchange.base import ExchangeGateway
from pipeline.integrations import IntegrationSettings
from pipeline.runtimes.enqueue import Enqueue
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
    # Puts follow-up jobs on the jobs queue (a coalesced calendar sync); None where there is none.
    enqueue: Enqueue | None = None
    # Events this job has written to the outbox: the runner publishes them once the job ends.
    emitted: list[PipelineEvent] = field(default_factory=list)

    def gateway(self, mailbox: str | None = None) -> ExchangeGateway:
        """The gateway for this job's integration, acting on `mailbox` per the connection method."""
        return self.gateways.gateway(self.integration, mailbox)

    def now(self) -> datetime:
        return self.clock()

    def event(self, data: EventData, *, booking_key: str | None = None, cause: str | None = None,
              ) -> PipelineEvent:
        """An event of this job's integration, happening now. `cause` (default: this job's message
        id) fixes its id: the same fact from the same cause gets the same id on any redelivery."""
        return make_event(
            data, integration_id=self.integration.integration_id, occurred_at=self.now(),
            cause=cause or self.message_id, booking_key=booking_key,
        )

    def written(self, events: Iterable[PipelineEvent]) -> None:
        """Note events the store has written (to publish when the job ends)."""
        self.emitted.extend(events)
