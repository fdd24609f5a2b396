"""Event sinks: where published events go, an EventBridge bus or a dramatiq queue.

A sink sends a batch and reports, per event id, whether it took the event. It never raises for
the sink being down or refusing: those events are reported as failed (with a reason that is an
error code or an exception class name, never a payload) and stay pending in the outbox, to be
sent again by the next sweep. This is the second place besides the store and the secrets source
that touches AWS (the EventBridge client, built by pipeline.aws_clients).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from botocore.exceptions import BotoCoreError, ClientError

from pipeline.config import PipelineConfig
from pipeline.events.models import PipelineEvent

if TYPE_CHECKING:  # dramatiq only for a dramatiq:// sink: the events Lambda function never loads it
    import dramatiq

__all__ = [
    "DEFAULT_EVENTS_QUEUE",
    "EVENT_ACTOR_NAME",
    "EVENT_SOURCE",
    "DramatiqQueueSink",
    "EventBridgeSink",
    "EventSink",
    "FailedEvent",
    "SendReport",
]

# EventBridge: every event's Source; DetailType is the event type, Detail the envelope.
EVENT_SOURCE = "ews-pipeline"
# dramatiq: the actor name and the default queue an app's consumer declares.
EVENT_ACTOR_NAME = "ews_event"
DEFAULT_EVENTS_QUEUE = "ews-events"

# PutEvents limits: 10 entries and 256 KiB per request, an entry's size being its Time (14 bytes),
# Source, DetailType and Detail in UTF-8 (EventBridge's "calculating PutEvents entry size").
PUT_EVENTS_MAX_ENTRIES = 10
PUT_EVENTS_MAX_BYTES = 256 * 1024
_TIME_BYTES = 14
ENTRY_TOO_LARGE = "EntryTooLarge"

# A job's thread publishes inline after the job: a sink that is down must cost it seconds, not
# minutes. What is not sent now is swept later.
# botocore.config.Config's arguments (aws_client makes the Config: importing it loads most of botocore).
EVENTBRIDGE_CLIENT_OPTIONS: dict[str, Any] = {
    "connect_timeout": 3, "read_timeout": 10, "retries": {"mode": "standard", "max_attempts": 3},
}


@dataclass(frozen=True)
class FailedEvent:
    """An event the sink did not take, and why (an error code or an exception's class name).

    `permanent` when sending it again can never succeed (too large for the sink): it is taken out
    of the pending list and kept, marked failed, rather than retried by every sweep.
    """

    event_id: str
    reason: str
    permanent: bool = False


@dataclass(frozen=True)
class SendReport:
    """What a sink did with a batch: the ids it accepted, and the ones it did not."""

    accepted: tuple[str, ...] = ()
    failed: tuple[FailedEvent, ...] = ()

    @staticmethod
    def failing(events: Sequence[PipelineEvent], reason: str) -> tuple[FailedEvent, ...]:
        """Every one of `events` failed for `reason`."""
        return tuple(FailedEvent(event.event_id, reason) for event in events)


class EventSink(ABC):
    """Base of the sinks: send a batch, report what was accepted; `close` does nothing by default."""

    kind: ClassVar[str] = "sink"

    @abstractmethod
    def send(self, events: Sequence[PipelineEvent]) -> SendReport:
        """Deliver `events` (in order); never raises for the sink being down or refusing them."""

    def close(self) -> None:  # noqa: B027 - a hook that does nothing until a sink overrides it
        """Release connections."""


class EventBridgeSink(EventSink):
    """PutEvents on one bus, in batches of at most 10 entries and 256 KiB.

    Only entries EventBridge answered with an EventId count as accepted (a response with
    FailedEntryCount > 0 names the failed ones). When a request fails as a whole, that batch and
    the ones after it are reported failed: a sink that is down is not asked again at once.
    """

    kind = "eventbridge"

    def __init__(self, bus_name: str, client: Any) -> None:
        self.bus_name = bus_name
        self.client = client

    @classmethod
    def from_config(cls, config: PipelineConfig) -> EventBridgeSink:
        """The sink for PIPELINE_EVENTS_SINK=eventbridge://BUS_NAME."""
        from pipeline.aws_clients import aws_client

        if config.events_bus_name is None:
            raise ValueError("PIPELINE_EVENTS_SINK is not an eventbridge:// sink")
        return cls(config.events_bus_name, aws_client("events", config, options=EVENTBRIDGE_CLIENT_OPTIONS))

    def entry(self, event: PipelineEvent) -> dict[str, Any]:
        """The PutEvents entry of one event."""
        return {
            "EventBusName": self.bus_name,
            "Source": EVENT_SOURCE,
            "DetailType": event.type.value,
            "Detail": event.model_dump_json(),
            "Time": event.occurred_at,
        }

    def send(self, events: Sequence[PipelineEvent]) -> SendReport:
        accepted: list[str] = []
        failed: list[FailedEvent] = []
        batches = list(self._batches(events, failed))
        for position, batch in enumerate(batches):
            try:
                reply = self.client.put_events(Entries=[entry for _, entry in batch])
            except (BotoCoreError, ClientError) as exc:
                reason = _aws_reason(exc)
                for later in batches[position:]:
                    failed.extend(FailedEvent(event.event_id, reason) for event, _ in later)
                break
            results = reply.get("Entries", [])
            for index, (event, _) in enumerate(batch):
                result = results[index] if index < len(results) else {}
                if result.get("EventId") and not result.get("ErrorCode"):
                    accepted.append(event.event_id)
                else:
                    failed.append(FailedEvent(event.event_id, str(result.get("ErrorCode") or "NoResult")))
        return SendReport(tuple(accepted), tuple(failed))

    def _batches(self, events: Sequence[PipelineEvent], failed: list[FailedEvent],
                 ) -> Iterator[list[tuple[PipelineEvent, dict[str, Any]]]]:
        # Consecutive events, so that an app sees them in the order the outbox holds them.
        batch: list[tuple[PipelineEvent, dict[str, Any]]] = []
        size = 0
        for event in events:
            entry = self.entry(event)
            entry_size = _entry_size(entry)
            if entry_size > PUT_EVENTS_MAX_BYTES:
                # EventBridge would refuse the whole request; this one can never be sent.
                failed.append(FailedEvent(event.event_id, ENTRY_TOO_LARGE, permanent=True))
                continue
            if batch and (len(batch) == PUT_EVENTS_MAX_ENTRIES or size + entry_size > PUT_EVENTS_MAX_BYTES):
                yield batch
                batch, size = [], 0
            batch.append((event, entry))
            size += entry_size
        if batch:
            yield batch


def _entry_size(entry: dict[str, Any]) -> int:
    return _TIME_BYTES + sum(len(str(entry[name]).encode()) for name in ("Source", "DetailType", "Detail"))


def _aws_reason(exc: BotoCoreError | ClientError) -> str:
    # An AWS error code or botocore's exception class: neither carries the request's content.
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or "ClientError")
    return type(exc).__name__


class DramatiqQueueSink(EventSink):
    """One dramatiq message per event on a queue the app's own workers consume.

    The message is `actor_name` "ews_event" with kwargs `{"event": <envelope>}` and a fresh
    message id per delivery; the event's stable id is `event_id` inside the envelope. Sending
    stops at the first failure, so that the events after it are not delivered ahead of it.
    """

    kind = "dramatiq"

    def __init__(self, broker: dramatiq.Broker, queue_name: str = DEFAULT_EVENTS_QUEUE,
                 actor_name: str = EVENT_ACTOR_NAME, *, owns_broker: bool = True) -> None:
        self.broker = broker
        self.queue_name = queue_name
        self.actor_name = actor_name
        # A worker's own broker, lent to the sink, is the worker's to close.
        self.owns_broker = owns_broker

    @classmethod
    def from_config(cls, config: PipelineConfig) -> DramatiqQueueSink:
        """The sink for PIPELINE_EVENTS_SINK=dramatiq://QUEUE, on the broker of PIPELINE_BROKER."""
        from pipeline.runtimes.broker import build_broker

        if config.events_queue_name is None:
            raise ValueError("PIPELINE_EVENTS_SINK is not a dramatiq:// sink")
        # A broker of its own, not the global one: the worker's jobs broker stays as it was built.
        broker = build_broker(config.broker_url, make_global=False)
        # RabbitMQ declares it on the first send and Redis needs no declaring; stub:// refuses
        # messages for a queue it does not know.
        broker.declare_queue(config.events_queue_name)
        return cls(broker, config.events_queue_name)

    def message(self, event: PipelineEvent) -> dramatiq.Message[Any]:
        """The dramatiq message that delivers one event."""
        import dramatiq

        return dramatiq.Message(
            queue_name=self.queue_name, actor_name=self.actor_name, args=(),
            kwargs={"event": event.model_dump(mode="json")}, options={},
        )

    def send(self, events: Sequence[PipelineEvent]) -> SendReport:
        accepted: list[str] = []
        for position, event in enumerate(events):
            try:
                self.broker.enqueue(self.message(event))
            except Exception as exc:  # each broker has its own connection errors
                return SendReport(tuple(accepted), SendReport.failing(events[position:], type(exc).__name__))
            accepted.append(event.event_id)
        return SendReport(tuple(accepted))

    def close(self) -> None:
        if self.owns_broker:
            self.broker.close()
