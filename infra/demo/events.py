"""The upstream app's side of the events: an `ews_event` actor on the events queue.

This is what an app that takes events through the dramatiq sink (PIPELINE_EVENTS_SINK
dramatiq://QUEUE) declares on its own broker: one actor, named `ews_event`, on that queue, taking
the envelope as `event`. It validates each event against its type's model first and keeps each
event id once, since delivery is at least once. In the demo the broker is the worker's in-process
one, so the demo's worker runs this actor beside the pipeline's.
"""

from __future__ import annotations

import threading
from typing import Any

import dramatiq

from pipeline.events.models import PipelineEvent, typed_event
from pipeline.events.sinks import EVENT_ACTOR_NAME

__all__ = ["AppEvents"]


class AppEvents:
    """The events the app has received, in order of arrival, each event id once."""

    def __init__(self, broker: dramatiq.Broker, queue_name: str) -> None:
        self.queue_name = queue_name
        self._received: dict[str, PipelineEvent] = {}
        self._lock = threading.Lock()

        @dramatiq.actor(actor_name=EVENT_ACTOR_NAME, queue_name=queue_name, broker=broker)
        def ews_event(event: dict[str, Any]) -> None:
            typed_event(event)  # what an app does first: the event against its type's schema
            envelope = PipelineEvent.model_validate(event)
            with self._lock:
                self._received.setdefault(envelope.event_id, envelope)

        self.actor = ews_event
        # The app's own worker: the pipeline's consumes only its jobs queue, as it does anywhere.
        self._worker = dramatiq.Worker(broker, queues={queue_name}, worker_threads=1)

    def start(self) -> None:
        self._worker.start()

    def stop(self, timeout_ms: int = 10_000) -> None:
        self._worker.stop(timeout=timeout_ms)

    def received(self) -> list[PipelineEvent]:
        with self._lock:
            return list(self._received.values())
