"""Lambda entry point for events: the results table's stream, and a sweep on a schedule.

A DynamoDB Streams batch is published through the configured sink with partial batch failures;
any other event (the schedule's) sweeps the table for events still pending.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline.events.stream import StreamOutbox, build_stream_outbox, is_stream_batch
from pipeline.observability import logger, trace_lambda_handler

__all__ = ["lambda_handler"]


@cache
def _outbox() -> StreamOutbox:
    return build_stream_outbox()


@logger.inject_lambda_context(clear_state=True)
@trace_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    if is_stream_batch(event):
        return _outbox().publish_batch(event, context)
    return {"published": _outbox().sweep(context)}
