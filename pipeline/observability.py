"""Logs, metrics and traces for every job, shared by the Lambda functions and the dramatiq workers.

One Powertools Logger, Metrics and Tracer per process, created here once:

- Logs: the pipeline's own loggers (`pipeline.*`, `handlers.*`) write JSON through the shared
  Logger's handler once `configure_logging()` has run (automatically inside Lambda; a worker calls
  it at start). While a job runs, every line carries `correlation_id` (the message_id), `actor`,
  `integration_id` and `attempt`. These keys are per thread (a ContextVar), because a worker runs
  many jobs at once on its threads. The job's mailbox is left out: it is personal data, and the
  correlation_id leads to the job record, which holds it. Every line is scrubbed of credentials.
- Metrics: CloudWatch EMF lines on stdout, one per data point, each with its own dimensions:
  JobsProcessed (action, outcome), Retries (action), EwsLatency in ms (operation). On by default
  in Lambda (CloudWatch Logs turns them into metrics); off elsewhere unless PIPELINE_METRICS=on,
  where operators ship stdout with the CloudWatch agent. POWERTOOLS_METRICS_DISABLED=true always
  turns them off. Emitting a metric never fails a job.
- Traces: an X-Ray subsegment per job and per EWS call, while tracing is on: inside Lambda unless
  POWERTOOLS_TRACE_DISABLED (Powertools' rule), so local runs and tests talk to no daemon. The
  Tracer, and the X-Ray SDK it imports (a quarter of a second), are built only then.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.base import SingleMetric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

from pipeline.errors import ErrorCode, PipelineError
from pipeline.secrets import scrub

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

__all__ = [
    "NAMESPACE",
    "SERVICE",
    "JobObservation",
    "Outcome",
    "configure_logging",
    "emit_metric",
    "job_outcome",
    "logger",
    "metrics",
    "metrics_enabled",
    "observe_ews_call",
    "observe_job",
    "set_metrics_enabled",
    "trace_lambda_handler",
    "tracer",
    "tracing_enabled",
]

SERVICE = "ews-pipeline"
NAMESPACE = "EwsPipeline"
PIPELINE_LOGGERS = ("pipeline", "handlers")

log = logging.getLogger(__name__)


class ScrubbingFormatter(LambdaPowertoolsFormatter):
    """The Powertools JSON formatter, with credentials scrubbed from the finished line.

    Scrubbing the whole line, not just the message, also covers tracebacks and extra keys.
    """

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


logger = Logger(service=SERVICE, logger_formatter=ScrubbingFormatter())
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)

Handler = TypeVar("Handler", bound=Callable[..., Any])


def tracing_enabled() -> bool:
    """Whether this process traces: Powertools' own rule (in Lambda, not SAM local, not disabled)."""
    from aws_lambda_powertools.tracing.tracer import Tracer  # lazy inside: it imports no X-Ray SDK

    return not Tracer._is_tracer_disabled()


@cache
def tracer() -> Tracer | None:
    """The process's Powertools Tracer, or None while tracing is off (the X-Ray SDK stays unimported)."""
    if not tracing_enabled():
        return None
    from aws_lambda_powertools import Tracer

    # botocore only: EWS calls get their own named subsegments below, which say more than raw HTTP.
    return Tracer(service=SERVICE, patch_modules=["botocore"])


def trace_lambda_handler(handler: Handler) -> Handler:
    """tracer.capture_lambda_handler while tracing is on (else the handler itself), keeping its
    signature for type checkers."""
    active = tracer()
    if active is None:
        return handler
    return cast(Handler, active.capture_lambda_handler(handler))


@contextmanager
def _subsegment(name: str, **annotations: str) -> Iterator[None]:
    """An X-Ray subsegment with these annotations while tracing is on; nothing otherwise."""
    active = tracer()
    if active is None:
        yield
        return
    with active.provider.in_subsegment(name) as subsegment:
        for key, value in annotations.items():
            subsegment.put_annotation(key, value)
        yield


def configure_logging() -> None:
    """Send the pipeline's log records through the shared JSON handler (idempotent)."""
    handler = logger.logger_handler
    for name in PIPELINE_LOGGERS:
        target = logging.getLogger(name)
        if handler not in target.handlers:
            target.addHandler(handler)
        target.setLevel(logger.log_level)
        # The JSON handler replaces the host's; propagating would print each line twice (Lambda's
        # runtime puts a plain-text handler on the root logger).
        target.propagate = False


def _in_lambda() -> bool:
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME")) and not os.environ.get("AWS_SAM_LOCAL")


if _in_lambda():
    # Only inside Lambda: elsewhere the host (demo, tests, the worker command) owns logging.
    configure_logging()


# Metrics -------------------------------------------------------------------------------------------

_metrics_override: list[bool] = []


@cache
def _metrics_default() -> bool:
    switch = os.environ.get("PIPELINE_METRICS", "").strip().lower()
    if switch in ("on", "true", "1"):
        return True
    if switch in ("off", "false", "0"):
        return False
    return _in_lambda()


def metrics_enabled() -> bool:
    """Whether EMF lines are written (see the module docstring for the switches)."""
    if is_metrics_disabled():
        return False
    return _metrics_override[0] if _metrics_override else _metrics_default()


def set_metrics_enabled(enabled: bool | None) -> None:
    """Force metrics on or off for this process; None goes back to the environment's choice."""
    _metrics_override[:] = [] if enabled is None else [enabled]


def emit_metric(name: str, unit: MetricUnit, value: float, **dimensions: str) -> None:
    """Write one EMF line with its own dimensions to stdout; never raises.

    The shared Metrics object keeps one dimension set per flush and is not thread-safe, so per-job
    data points each get a line of their own instead.
    """
    if not metrics_enabled():
        return
    try:
        point = SingleMetric(namespace=NAMESPACE)
        point.add_metric(name=name, unit=unit, value=value)
        for dimension, dimension_value in dimensions.items():
            point.add_dimension(name=dimension, value=dimension_value)
        line = json.dumps(point.serialize_metric_set(), separators=(",", ":"))
        # One write per line, so that lines from concurrent worker threads never interleave.
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    except Exception:
        log.warning("metric %s was not emitted", name, exc_info=True)


# Jobs ----------------------------------------------------------------------------------------------


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    RETRYING = "retrying"
    # Another delivery of the same message had the job (already done, or running elsewhere).
    DUPLICATE = "duplicate"
    # Stopped by something other than a PipelineError (a worker's time limit or shutdown).
    INTERRUPTED = "interrupted"


def job_outcome(failure: PipelineError, final_attempt: bool) -> Outcome:
    """What a job's PipelineError means for its outcome."""
    if failure.code is ErrorCode.DUPLICATE_DELIVERY:
        return Outcome.DUPLICATE
    if failure.retryable and not final_attempt:
        return Outcome.RETRYING
    return Outcome.FAILED


@dataclass
class JobObservation:
    """What run_job tells the observer while a job runs."""

    actor: str
    duplicate: bool = False

    def add_integration(self, integration_id: str) -> None:
        logger.thread_safe_append_keys(integration_id=integration_id)

    def mark_duplicate(self) -> None:
        """The job had already succeeded; this delivery returned the recorded result."""
        self.duplicate = True


@contextmanager
def observe_job(message_id: str, actor: str, attempt: int, final_attempt: bool) -> Iterator[JobObservation]:
    """Log keys, a trace subsegment, an outcome line and metrics around one job delivery."""
    # The actor name comes from the message: a made-up one must not mint new metric dimensions.
    from pipeline.contract import ACTIONS  # loaded with the runner by now; not with every handler

    actor = actor if actor in ACTIONS else "unknown"
    outer_keys = dict(logger.thread_safe_get_current_keys())
    logger.thread_safe_append_keys(correlation_id=message_id, actor=actor, attempt=attempt)
    observation = JobObservation(actor)
    started = time.perf_counter()
    outcome = Outcome.INTERRUPTED
    failure: PipelineError | None = None
    try:
        with _subsegment(f"job {actor}", action=actor, message_id=message_id):
            try:
                yield observation
            except PipelineError as error:
                failure = error
                outcome = job_outcome(error, final_attempt)
                raise
            outcome = Outcome.DUPLICATE if observation.duplicate else Outcome.SUCCEEDED
    finally:
        _report_job(actor, outcome, failure, elapsed_ms=(time.perf_counter() - started) * 1000)
        logger.thread_safe_clear_keys()
        if outer_keys:
            logger.thread_safe_append_keys(**outer_keys)


_ADDRESS = re.compile(r"[^\s@'\"<>(),;:/\[\]]+@[A-Za-z0-9.\-]+\.[A-Za-z0-9\-]+")


def _without_addresses(text: str) -> str:
    """Text with every e-mail address (a mailbox: personal data) replaced by <mailbox>."""
    return _ADDRESS.sub("<mailbox>", text)


def _report_job(actor: str, outcome: Outcome, failure: PipelineError | None, elapsed_ms: float) -> None:
    details: dict[str, object] = {"outcome": outcome.value, "duration_ms": round(elapsed_ms, 1)}
    if failure is not None:
        # The job record keeps the message as it is; the log line leaves its mailboxes out.
        details.update(error_code=failure.code.value, error_message=_without_addresses(failure.message))
    quiet = outcome in (Outcome.SUCCEEDED, Outcome.DUPLICATE)
    code = f" ({failure.code.value})" if failure is not None else ""
    log.log(logging.INFO if quiet else logging.WARNING, "job %s%s", outcome.value, code, extra=details)
    emit_metric("JobsProcessed", MetricUnit.Count, 1, action=actor, outcome=outcome.value)
    if outcome is Outcome.RETRYING:
        emit_metric("Retries", MetricUnit.Count, 1, action=actor)


# EWS calls -----------------------------------------------------------------------------------------


@contextmanager
def observe_ews_call(operation: str) -> Iterator[None]:
    """A trace subsegment and an EwsLatency data point around one EWS operation (failed ones too)."""
    started = time.perf_counter()
    try:
        with _subsegment(f"ews {operation}", operation=operation):
            yield
    finally:
        elapsed_ms = (time.perf_counter() - started) * 1000
        emit_metric("EwsLatency", MetricUnit.Milliseconds, elapsed_ms, operation=operation)
