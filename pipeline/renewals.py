"""The renewal schedule: find push subscriptions gone silent and enqueue their renewal.

Exchange sends a keep-alive every StatusFrequency; a subscription that has sent nothing for
twice that is presumed dropped (SubscriptionRecord.is_stale) and renew_subscription re-subscribes
it from its last watermark. The schedule only enqueues: the renewal itself is an ordinary job.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from pipeline.enqueue import Enqueue
from pipeline.store.base import ResultsStore

__all__ = ["RenewalRun", "enqueue_stale_renewals"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RenewalRun:
    """What one run of the schedule did."""

    active: int  # active subscriptions looked at
    enqueued: tuple[str, ...]  # message ids of the renew_subscription jobs


def enqueue_stale_renewals(store: ResultsStore, enqueue: Enqueue, now: datetime) -> RenewalRun:
    """Enqueue renew_subscription for every active subscription that is stale at `now`."""
    active = store.list_active_subscriptions()
    enqueued = []
    for record in active:
        if not record.is_stale(now):
            continue
        # One renewal per subscription per hour, however often the schedule runs: the same
        # message id is de-duplicated by the queue and run at most once by the results table.
        # (A renewal that failed for good is tried again in the next hour.)
        message_id = f"renew-{record.record_id}-{now:%Y%m%d%H}"
        kwargs = {"integration_id": record.integration_id, "subscription_id": record.record_id}
        enqueued.append(enqueue("renew_subscription", kwargs, message_id=message_id))
        log.info("subscription %s is stale (last heard %s); renewal enqueued",
                 record.record_id, record.last_seen_at.isoformat())
    return RenewalRun(active=len(active), enqueued=tuple(enqueued))
