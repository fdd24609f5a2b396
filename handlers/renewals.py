"""Lambda entry point run on a schedule: enqueue renew_subscription for stale subscriptions."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline.broker import build_broker
from pipeline.config import PipelineConfig
from pipeline.enqueue import Enqueue, broker_enqueue
from pipeline.observability import emit_metric, trace_lambda_handler
from pipeline.renewals import enqueue_stale_renewals
from pipeline.store.base import ResultsStore
from pipeline.store.factory import get_store

__all__ = ["RenewalDependencies", "lambda_handler", "use_dependencies"]


@dataclass(frozen=True)
class RenewalDependencies:
    store: ResultsStore
    enqueue: Enqueue
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)


_injected: list[RenewalDependencies] = []


def use_dependencies(dependencies: RenewalDependencies | None) -> None:
    """Run the handler on these (local runs and tests); None goes back to the environment's."""
    _injected[:] = [] if dependencies is None else [dependencies]


@cache
def _from_environment() -> RenewalDependencies:
    config = PipelineConfig.from_env(os.environ)
    enqueue = broker_enqueue(build_broker(config.broker_url))
    return RenewalDependencies(store=get_store(config), enqueue=enqueue)


@trace_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    deps = _injected[0] if _injected else _from_environment()
    run = enqueue_stale_renewals(deps.store, deps.enqueue, deps.clock())
    emit_metric("RenewalsEnqueued", MetricUnit.Count, len(run.enqueued))
    return {"active": run.active, "renewals_enqueued": list(run.enqueued)}
