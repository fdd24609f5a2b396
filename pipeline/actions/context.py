"""What an action gets to work with: its integration, the store, a gateway, the clock."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, TypeVar

from pydantic import BaseModel

from pipeline.config import PipelineConfig
from pipeline.events.models import EventData, PipelineEvent, make_event
from pipeline.exchange.base import ExchangeGateway
from pipeline.integrations import IntegrationSettings
from pipeline.runtimes.enqueue import Enqueue
from pipeline.store.base import ResultsStore
from pipeline.store.records import JobCompletion

Result = TypeVar("Result", bound=BaseModel)


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
    # Which attempt of the job this delivery is (begin_job counted it): above 1, an earlier
    # delivery of the same message began it and may have written.
    attempts: int = 1
    # The job's success, once the action's last write recorded it (see finish).
    finished: list[JobCompletion] = field(default_factory=list)

    @property
    def redelivered(self) -> bool:
        """True when an earlier delivery of this very message began running it."""
        return self.attempts > 1

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

    def finish(self, result: Result, write: Callable[[JobCompletion], object]) -> Result:
        """Return `result` once `write`, the action's last table write, has recorded the job's
        success with it: `write` passes the completion to a store method's `completes`, so that
        finishing the job costs no call of its own. Call it only when nothing can fail after."""
        done = JobCompletion(self.message_id, result.model_dump(mode="json"), self.now())
        write(done)
        self.finished.append(done)
        return result
