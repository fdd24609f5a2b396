"""PipelineConfig: the environment, read once at the edge and passed down as a value."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

__all__ = ["DEFAULT_SETTINGS_CACHE_SECONDS", "ENVIRONMENT_VARIABLES", "PipelineConfig"]

# Field name -> environment variables, first one set wins. One place, so that the error for a
# bad value can name the variable the operator has to fix.
ENVIRONMENT_VARIABLES: Mapping[str, tuple[str, ...]] = {
    "table_name": ("PIPELINE_TABLE",),
    "aws_region": ("AWS_REGION", "AWS_DEFAULT_REGION"),
    "aws_endpoint_url": ("AWS_ENDPOINT_URL",),
    "broker_url": ("PIPELINE_BROKER",),
    "worker_concurrency": ("PIPELINE_CONCURRENCY",),
    "job_ttl_days": ("PIPELINE_JOB_TTL_DAYS",),
    "job_timeout_seconds": ("PIPELINE_JOB_TIMEOUT",),
    "secret_cache_seconds": ("PIPELINE_SECRET_CACHE_SECONDS",),
    "settings_cache_seconds": ("PIPELINE_SETTINGS_CACHE_SECONDS",),
    "ews_timeout_seconds": ("PIPELINE_EWS_TIMEOUT",),
    "ews_connect_timeout_seconds": ("PIPELINE_EWS_CONNECT_TIMEOUT",),
    "max_retry_wait_seconds": ("PIPELINE_MAX_RETRY_WAIT",),
    "retry_window_seconds": ("PIPELINE_RETRY_WINDOW",),
    "callback_base_url": ("PIPELINE_CALLBACK_URL",),
    "events_sink": ("PIPELINE_EVENTS_SINK",),
    "events_sweep_interval_seconds": ("PIPELINE_EVENTS_SWEEP_INTERVAL",),
    "events_sweep_age_seconds": ("PIPELINE_EVENTS_SWEEP_AGE",),
}

# How long a process's jobs use the integration settings they read before reading them again: an
# edit made elsewhere is seen this soon, and a busy worker reads each integration this seldom.
DEFAULT_SETTINGS_CACHE_SECONDS = 5

# A redelivery may take over a job whose worker has been silent this long past the job timeout:
# the margin covers clock skew between workers and the final table write.
LEASE_MARGIN_SECONDS = 60

# PIPELINE_EVENTS_SINK: where events for upstream apps go (pipeline.events.sinks). `stream` means
# this process only writes them to the table and the table's stream function publishes them.
_EVENTS_SINK = re.compile(
    r"^(?:none|stream|eventbridge://(?P<bus>[A-Za-z0-9._/:-]{1,1600})"
    r"|dramatiq://(?P<queue>[A-Za-z_][A-Za-z0-9._-]{0,127}))$"
)
EVENTS_SINK_FORMS = "none, stream, eventbridge://BUS_NAME (or bus ARN) or dramatiq://QUEUE"


class PipelineConfig(BaseModel):
    """Runtime settings of a worker, Lambda function or local run."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    table_name: str = Field(default="ews-pipeline", min_length=3, max_length=255,
                            pattern=r"^[A-Za-z0-9_.-]+$", description="The results table.")
    aws_region: str = Field(default="us-east-1", min_length=1)
    aws_endpoint_url: str | None = Field(
        default=None, pattern=r"^https?://", description="Local AWS (moto server); None for AWS itself."
    )
    broker_url: str = Field(default="stub://", pattern=r"^(stub|redis|rediss|amqp|amqps|sqs)://",
                            description="stub:// (in process), redis://, amqp:// or sqs://.")
    worker_concurrency: int = Field(default=8, ge=1, le=256,
                                    description="Jobs run at once; also sizes the EWS connection pool.")
    job_ttl_days: int = Field(default=30, ge=1, le=3650, description="How long job records are kept.")
    job_timeout_seconds: int = Field(
        default=300, ge=10, le=900,
        description="Longest a job may run: the Lambda function's timeout (at most 900 s).",
    )
    secret_cache_seconds: int = Field(default=300, ge=0, le=86400)
    settings_cache_seconds: int = Field(
        default=DEFAULT_SETTINGS_CACHE_SECONDS, ge=0, le=300,
        description="How long jobs use integration settings read before (0: read them for every "
        "job); an edit made in another process is seen within it, one made in this one at once.",
    )
    ews_timeout_seconds: int = Field(default=30, ge=1, le=600,
                                     description="Timeout of one EWS HTTP request.")
    ews_connect_timeout_seconds: int = Field(
        default=5, ge=1, le=120,
        description="Longest wait for the EWS server (or its token endpoint) to accept a connection: "
        "an unreachable server fails the attempt this soon, not after the request timeout.",
    )
    retry_window_seconds: int = Field(
        default=1800, ge=60, le=3 * 3600,
        description="How long a job's transient failures are retried (back-off growing from 1 s "
        "to 5 min, at least the server's BackOffMilliseconds) before it is failed for good.",
    )
    max_retry_wait_seconds: int = Field(
        default=60, ge=0, le=840,
        description="Longest in-job wait for a throttled EWS server before the job is retried later.",
    )
    callback_base_url: str | None = Field(
        default=None, pattern=r"^https?://",
        description="Public base URL of the push-notification callback function.",
    )
    events_sink: str = Field(default="none", description=f"Where events are published: {EVENTS_SINK_FORMS}.")
    events_sweep_interval_seconds: int = Field(
        default=5, ge=1, le=3600,
        description="How often a worker sends the events that an inline publish missed.",
    )
    events_sweep_age_seconds: int = Field(
        default=30, ge=0, le=86400,
        description="A sweep sends only pending events at least this old (younger ones are still "
        "being published inline, or by the stream function).",
    )

    @field_validator("events_sink")
    @classmethod
    def _known_sink(cls, value: str) -> str:
        if not _EVENTS_SINK.match(value):
            raise ValueError(f"must be {EVENTS_SINK_FORMS}")
        return value

    @model_validator(mode="after")
    def _waits_fit_in_a_job(self) -> PipelineConfig:
        # exchangelib's FaultTolerance would otherwise sleep past the Lambda timeout and the
        # job would die without recording its outcome.
        for field in ("ews_timeout_seconds", "ews_connect_timeout_seconds", "max_retry_wait_seconds"):
            if getattr(self, field) >= self.job_timeout_seconds:
                raise ValueError(
                    f"{field} ({ENVIRONMENT_VARIABLES[field][0]}) must be below job_timeout_seconds "
                    f"({ENVIRONMENT_VARIABLES['job_timeout_seconds'][0]})"
                )
        return self

    @model_validator(mode="after")
    def _events_queue_fits_the_broker(self) -> PipelineConfig:
        from pipeline.contract.message import JOBS_QUEUE

        queue = self.events_queue_name
        if queue is None:
            return self
        # The SQS broker maps every dramatiq queue onto the one FIFO jobs queue.
        if self.broker_url.startswith("sqs://"):
            raise ValueError("PIPELINE_EVENTS_SINK dramatiq:// needs a Redis, RabbitMQ or stub broker in "
                             "PIPELINE_BROKER; with sqs:// use eventbridge://BUS_NAME")
        if queue == JOBS_QUEUE:
            raise ValueError(f"PIPELINE_EVENTS_SINK must not name the jobs queue {JOBS_QUEUE!r}")
        return self

    @property
    def events_bus_name(self) -> str | None:
        """The EventBridge bus of an eventbridge:// sink, else None."""
        match = _EVENTS_SINK.match(self.events_sink)
        return match["bus"] if match else None

    @property
    def events_queue_name(self) -> str | None:
        """The dramatiq queue of a dramatiq:// sink, else None."""
        match = _EVENTS_SINK.match(self.events_sink)
        return match["queue"] if match else None

    @property
    def aws_pool_connections(self) -> int:
        """HTTP connections per AWS client: one per worker thread, never below botocore's 10."""
        return max(10, self.worker_concurrency + 2)

    @property
    def job_lease_seconds(self) -> int:
        """How long a running job is held before another delivery may take it over."""
        return self.job_timeout_seconds + LEASE_MARGIN_SECONDS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PipelineConfig:
        """Read the configuration from environ (default os.environ).

        Raises ValueError naming the environment variable at fault; values are not echoed
        (a broker URL may carry a password).
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        source: dict[str, str] = {}
        for field, names in ENVIRONMENT_VARIABLES.items():
            for name in names:
                raw = env.get(name, "").strip()
                if raw:
                    values[field] = raw
                    source[field] = name
                    break
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = []
            for error in exc.errors(include_input=False, include_url=False):
                if not error["loc"]:  # a rule across fields; its message names the variables
                    problems.append(error["msg"].removeprefix("Value error, "))
                    continue
                field = str(error["loc"][0])
                variable = source.get(field) or "/".join(ENVIRONMENT_VARIABLES.get(field, (field,)))
                problems.append(f"{variable}: {error['msg'].removeprefix('Value error, ')}")
        raise ValueError("invalid pipeline configuration: " + "; ".join(problems))
