"""The events function on AWS: the results table's stream in, the configured sink out.

Jobs functions only write events to the table (PIPELINE_EVENTS_SINK=stream). The table's stream
(NEW_IMAGE) hands each new event item to this function, which publishes the batch's pending
events (EventBridge by default), marks what the sink accepted, and reports the rest as batch
item failures so that Lambda delivers them again: nothing is lost while the sink is down. The
function also runs on a schedule and sweeps the table for events still pending, for records
the stream gave up on after its retries (they then sit in the on-failure destination).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline.config import EVENTS_SINK_FORMS, PipelineConfig
from pipeline.events.models import PipelineEvent
from pipeline.events.publisher import EventPublisher, build_event_publisher
from pipeline.store.factory import get_store

__all__ = ["EventNotPublished", "StreamOutbox", "build_stream_outbox", "is_stream_batch"]

log = logging.getLogger(__name__)

# The sweep stops taking another page when less than this is left of the invocation.
SWEEP_RESERVE_MS = 10_000


class EventNotPublished(Exception):
    """A record's event was not taken by the sink (reported as a batch item failure)."""


def is_stream_batch(event: Mapping[str, Any]) -> bool:
    """True for a DynamoDB Streams batch (the scheduled sweep's event is anything else)."""
    records = event.get("Records") or []
    return bool(records) and all(record.get("eventSource") == "aws:dynamodb" for record in records)


@dataclass(frozen=True)
class StreamOutbox:
    """The events function's work: publish stream batches, sweep what they missed."""

    publisher: EventPublisher
    sweep_age_seconds: int

    def publish_batch(self, event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
        """Publish the pending events of a stream batch; the response names the records whose
        event the sink did not take (Lambda retries from the first of them)."""
        # With the store (boto3), not with the handler's import.
        from pipeline.store.dynamodb.events import pending_event_from_image

        records: list[dict[str, Any]] = event.get("Records") or []
        by_sequence: dict[str, PipelineEvent] = {}
        undecodable: set[str] = set()
        for record in records:
            sequence = str(record.get("dynamodb", {}).get("SequenceNumber", ""))
            try:
                found = pending_event_from_image(record.get("dynamodb", {}).get("NewImage") or {})
            except Exception as exc:
                # Not a valid envelope: retried, then left to the on-failure destination.
                log.error("stream record %s holds no valid event (%s)", sequence, type(exc).__name__)
                undecodable.add(sequence)
                continue
            if found is not None:
                by_sequence[sequence] = found
        # A store failure while marking fails the invocation: the whole batch is retried.
        report = self.publisher.deliver(list(by_sequence.values()))
        accepted = set(report.accepted)

        def settle(record: DynamoDBRecord) -> None:
            sequence = str(record.dynamodb.sequence_number if record.dynamodb else "")
            if sequence in undecodable:
                raise EventNotPublished(f"record {sequence} holds no valid event")
            published = by_sequence.get(sequence)
            if published is not None and published.event_id not in accepted:
                raise EventNotPublished(published.event_id)

        # All records failing (the sink is down) is still a partial response, not an error of
        # the function: Lambda then retries from the first record, bisecting as configured.
        processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)
        return process_partial_response(event, settle, processor, context)

    def sweep(self, context: LambdaContext | None = None) -> int:
        """Drain the table's pending events (older than the sweep age) while time is left."""

        def time_left() -> bool:
            return context is None or context.get_remaining_time_in_millis() > SWEEP_RESERVE_MS

        return self.publisher.drain(self.sweep_age_seconds, keep_going=time_left)


def build_stream_outbox(environ: Mapping[str, str] | None = None) -> StreamOutbox:
    """The events function's outbox from PIPELINE_* variables (once per container).

    Raises ValueError unless PIPELINE_EVENTS_SINK names a sink that publishes.
    """
    config = PipelineConfig.from_env(dict(os.environ if environ is None else environ))
    publisher = build_event_publisher(config, get_store(config))
    if publisher is None:
        raise ValueError(
            f"the events function needs PIPELINE_EVENTS_SINK to name a sink ({EVENTS_SINK_FORMS}; "
            f"not none or stream)"
        )
    return StreamOutbox(publisher, config.events_sweep_age_seconds)
