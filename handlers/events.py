"""Lambda entry point for events: the results table's stream, and a sweep on a schedule.

A DynamoDB Streams batch is published through the configured sink with partial batch failures;
any other event (the schedule's) sweeps the table for events still pending. The outbox (the sink,
the store, the event models) is imported and built by the first invocation.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from pipeline.observability import logger, trace_lambda_handler

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from pipeline.events.stream import StreamOutbox

__all__ = ["lambda_handler"]


@cache
def _outbox() -> StreamOutbox:
    from pipeline.events.stream import build_stream_outbox

    return build_stream_outbox()


@logger.inject_lambda_context(clear_state=True)
@trace_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    from pipeline.events.stream import is_stream_batch

    if is_stream_batch(event):
        return _outbox().publish_batch(event, context)
    return {"published": _outbox().sweep(context)}
