"""Lambda entry point run on a schedule: enqueue renew_subscription for stale subscriptions.

pipeline.renewals (the store's records, the contracts) loads with the first invocation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from pipeline.observability import emit_metric, trace_lambda_handler
from pipeline.runtimes.enqueue import DependencySlot, QueueingDependencies

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

__all__ = ["RenewalDependencies", "lambda_handler", "use_dependencies"]


# The test and local-run seam: handlers.renewals.use_dependencies(RenewalDependencies(...)).
RenewalDependencies = QueueingDependencies
_dependencies = DependencySlot()
use_dependencies = _dependencies.use


@trace_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    from pipeline.renewals import enqueue_stale_renewals

    deps = _dependencies.get()
    run = enqueue_stale_renewals(deps.store, deps.enqueue, deps.clock())
    emit_metric("RenewalsEnqueued", MetricUnit.Count, len(run.enqueued))
    return {"active": run.active, "renewals_enqueued": list(run.enqueued)}
