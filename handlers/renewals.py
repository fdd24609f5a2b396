"""Lambda entry point run on a schedule: enqueue renew_subscription for stale subscriptions."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline.observability import emit_metric, trace_lambda_handler
from pipeline.renewals import enqueue_stale_renewals
from pipeline.runtimes.enqueue import DependencySlot, QueueingDependencies

__all__ = ["RenewalDependencies", "lambda_handler", "use_dependencies"]


# The test and local-run seam: handlers.renewals.use_dependencies(RenewalDependencies(...)).
RenewalDependencies = QueueingDependencies
_dependencies = DependencySlot()
use_dependencies = _dependencies.use


@trace_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    deps = _dependencies.get()
    run = enqueue_stale_renewals(deps.store, deps.enqueue, deps.clock())
    emit_metric("RenewalsEnqueued", MetricUnit.Count, len(run.enqueued))
    return {"active": run.active, "renewals_enqueued": list(run.enqueued)}
