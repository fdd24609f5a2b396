"""EventPublisher: send outbox events through the configured sink and mark what it accepted.

The events are already in the results table (written with the state change they report), so a
publish that fails loses nothing: the events stay pending and a sweep sends them again. Delivery
is at least once; apps deduplicate on `event_id`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from aws_lambda_powertools.metrics import MetricUnit

from pipeline.config import PipelineConfig
from pipeline.events.models import PipelineEvent
from pipeline.events.sinks import DramatiqQueueSink, EventBridgeSink, EventSink, SendReport
from pipeline.observability import emit_metric
from pipeline.store.base import ResultsStore

if TYPE_CHECKING:  # the sinks import dramatiq only when a queue sink is built
    import dramatiq

__all__ = ["DEFAULT_SWEEP_PAGE", "EventPublisher", "build_event_publisher", "build_event_sink"]

log = logging.getLogger(__name__)

DEFAULT_SWEEP_PAGE = 100


def _utc_now() -> datetime:
    return datetime.now(UTC)


class EventPublisher:
    """Publishes outbox events through one sink; built once per process."""

    def __init__(self, store: ResultsStore, sink: EventSink,
                 clock: Callable[[], datetime] = _utc_now) -> None:
        self.store = store
        self.sink = sink
        self.clock = clock

    def publish(self, events: Sequence[PipelineEvent]) -> None:
        """Send `events` now and mark the accepted ones published; never raises.

        What is not sent (sink down or refusing, or the table unreachable when marking) stays
        pending for the sweep.
        """
        if not events:
            return
        try:
            self.deliver(events)
        except Exception as exc:
            # The class name only: a message could quote what the sink or the table was sent.
            log.error("publishing %d events failed (%s); they stay pending for the sweep",
                      len(events), type(exc).__name__)

    def deliver(self, events: Sequence[PipelineEvent]) -> SendReport:
        """Send `events` (each id once) and mark the accepted ones published; the sink's report.

        Sink trouble is in the report; a store failure while marking raises the store's error
        (the events were sent and will be sent again: at least once).
        """
        unique = list({event.event_id: event for event in events}.values())
        if not unique:
            return SendReport()
        report = self.sink.send(unique)
        if report.accepted:
            self.store.mark_events_published(report.accepted, self.clock())
        rejected = [failure for failure in report.failed if failure.permanent]
        if rejected:
            # Kept in the table, marked failed: an operator can find them; no sweep retries them,
            # so they cannot crowd out the events behind them on the oldest-first pages.
            for reason, count in Counter(failure.reason for failure in rejected).items():
                self.store.mark_events_failed(
                    [f.event_id for f in rejected if f.reason == reason], reason, self.clock())
                log.error("%s sink can never take %d events (%s); marked failed", self.sink.kind,
                          count, reason)
            emit_metric("EventsRejected", MetricUnit.Count, len(rejected), sink=self.sink.kind)
        emit_metric("EventsPublished", MetricUnit.Count, len(report.accepted), sink=self.sink.kind)
        if report.failed:
            reasons = Counter(failure.reason for failure in report.failed)
            emit_metric("EventsNotPublished", MetricUnit.Count, len(report.failed), sink=self.sink.kind)
            log.warning("%s sink did not take %d of %d events (%s); they stay pending",
                        self.sink.kind, len(report.failed), len(unique),
                        ", ".join(f"{reason} x{count}" for reason, count in sorted(reasons.items())))
        return report

    def sweep(self, older_than_seconds: int = 30, limit: int = DEFAULT_SWEEP_PAGE) -> int:
        """Send up to `limit` pending events at least `older_than_seconds` old, oldest first;
        returns how many the sink accepted. Store errors propagate to the caller."""
        cutoff = self.clock() - timedelta(seconds=older_than_seconds)
        pending = self.store.list_pending_events(limit=limit, older_than=cutoff)
        return len(self.deliver(pending).accepted) if pending else 0

    def drain(self, older_than_seconds: int = 30, page: int = DEFAULT_SWEEP_PAGE,
              keep_going: Callable[[], bool] = lambda: True) -> int:
        """Sweep page after page while pages come back full and wholly accepted (a backlog after
        an outage) and `keep_going()`; returns how many were accepted in all."""
        sent: set[str] = set()
        while True:
            cutoff = self.clock() - timedelta(seconds=older_than_seconds)
            listed = self.store.list_pending_events(limit=page, older_than=cutoff)
            # The index is eventually consistent: a page may still list what was just marked.
            pending = [event for event in listed if event.event_id not in sent]
            if not pending:
                return len(sent)
            report = self.deliver(pending)
            sent.update(report.accepted)
            if report.failed or len(listed) < page or not keep_going():
                return len(sent)

    def close(self) -> None:
        """Release the sink's connections."""
        self.sink.close()


def build_event_sink(config: PipelineConfig, broker: dramatiq.Broker | None = None) -> EventSink | None:
    """The sink PIPELINE_EVENTS_SINK names; None for `none` and `stream` (nothing to send here).
    A dramatiq:// sink uses `broker` when given (a worker's own), else connects its own."""
    if config.events_bus_name is not None:
        return EventBridgeSink.from_config(config)
    if config.events_queue_name is not None:
        if broker is not None:
            broker.declare_queue(config.events_queue_name)
            return DramatiqQueueSink(broker, config.events_queue_name, owns_broker=False)
        return DramatiqQueueSink.from_config(config)
    return None


def build_event_publisher(config: PipelineConfig, store: ResultsStore,
                          clock: Callable[[], datetime] = _utc_now,
                          broker: dramatiq.Broker | None = None) -> EventPublisher | None:
    """The process's publisher, or None when this process does not publish (`none`, `stream`)."""
    sink = build_event_sink(config, broker)
    return None if sink is None else EventPublisher(store, sink, clock)
