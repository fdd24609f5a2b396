"""Lambda entry point for job messages from SQS: a partial-batch response over run_job."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline.observability import logger, metrics, trace_lambda_handler
from pipeline.runtimes.lambda_jobs import SqsJobProcessor
from pipeline.runtimes.lambda_runtime import build_job_processor


@cache
def _processor() -> SqsJobProcessor:
    return build_job_processor()


@logger.inject_lambda_context(clear_state=True)
@trace_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    records = event.get("Records") or []
    # Per-job metrics are written as each job ends (pipeline.observability); this is per batch.
    metrics.add_metric(name="SqsRecordsReceived", unit=MetricUnit.Count, value=len(records))
    return _processor().process_batch(event, context)
