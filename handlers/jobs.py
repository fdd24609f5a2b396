"""Lambda entry point for job messages from SQS: a partial-batch response over run_job."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    SqsFifoPartialProcessor,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline.lambda_jobs import SqsJobProcessor
from pipeline.lambda_runtime import build_job_processor, logger


@cache
def _processor() -> SqsJobProcessor:
    return build_job_processor()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    records = event.get("Records") or []
    fifo = bool(records) and str(records[0].get("eventSourceARN", "")).endswith(".fifo")
    # On a FIFO queue a failed record must hold back the rest of its message group (a mailbox's
    # later jobs) but not the other groups in the batch.
    batch = SqsFifoPartialProcessor(skip_group_on_error=True) if fifo else BatchProcessor(EventType.SQS)
    return process_partial_response(event, _processor().handle, batch, context)
