"""Lambda entry point for job messages from SQS: a partial-batch response over run_job.

The processor (the runtime, the broker and the actors, and with them the contracts, dramatiq,
boto3 and exchangelib) is imported and built by the first invocation, and kept for the next.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from pipeline.observability import logger, metrics, trace_lambda_handler

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from pipeline.runtimes.lambda_jobs import SqsJobProcessor


@cache
def _processor() -> SqsJobProcessor:
    from pipeline.runtimes.lambda_runtime import build_job_processor

    return build_job_processor()


@logger.inject_lambda_context(clear_state=True)
@trace_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    records = event.get("Records") or []
    # Per-job metrics are written as each job ends (pipeline.observability); this is per batch.
    metrics.add_metric(name="SqsRecordsReceived", unit=MetricUnit.Count, value=len(records))
    return _processor().process_batch(event, context)
