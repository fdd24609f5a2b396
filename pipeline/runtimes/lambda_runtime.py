"""Building the Lambda functions' long-lived objects from their environment, once per container."""

from __future__ import annotations

import os

# Before pydantic (pipeline.config): Powertools' batch utility builds its pydantic record models
# (utilities.parser.models: SQS, DynamoDB, Kinesis, Kafka records, 1 MiB) only when pydantic is
# loaded before it, and the processor never parses records into them (no `model=`).
import aws_lambda_powertools.utilities.batch  # noqa: F401

from pipeline.config import PipelineConfig
from pipeline.observability import logger
from pipeline.runtimes.actors import declare_actors
from pipeline.runtimes.broker import MAX_RETRIES, worker_middleware
from pipeline.runtimes.lambda_jobs import SqsJobProcessor
from pipeline.runtimes.runtime import Runtime
from pipeline.runtimes.sqs import SqsFifoBroker

__all__ = ["DEFAULT_MAX_RECEIVE_COUNT", "build_job_processor", "logger"]

# Must equal the jobs queue's RedrivePolicy maxReceiveCount (template.yaml passes it in).
DEFAULT_MAX_RECEIVE_COUNT = MAX_RETRIES + 1


def build_job_processor(environ: dict[str, str] | None = None) -> SqsJobProcessor:
    """The job processor for this container, from PIPELINE_* variables."""
    env = dict(os.environ if environ is None else environ)
    config = PipelineConfig.from_env(env)
    runtime = Runtime.from_config(config)
    broker = SqsFifoBroker.from_url(config.broker_url, middleware=worker_middleware())
    declare_actors(broker, lambda: runtime)
    max_receive_count = int(env.get("PIPELINE_MAX_RECEIVE_COUNT", DEFAULT_MAX_RECEIVE_COUNT))
    return SqsJobProcessor(runtime=runtime, broker=broker, max_receive_count=max_receive_count)
