"""Renewals: find push subscriptions gone silent, near expiry, or reported broken, and enqueue
their renewal.

Graph subscriptions send no keep-alives; they expire instead, and are due a day before
(SubscriptionRecord.stale_at). A reauthorizationRequired or subscriptionRemoved lifecycle
notification requests a renewal at once, as an EWS error report does.

Exchange sends a keep-alive every StatusFrequency; a subscription that has sent nothing for
twice that is presumed dropped (SubscriptionRecord.is_stale) and renew_subscription re-subscribes
it from its last watermark. When Exchange reports that it lost events (ErrorReadEventsFailed),
the callback requests a renewal at once (request_renewal); the record is stale from then on, so
the schedule keeps trying should that renewal fail. Both only enqueue: the renewal itself is an
ordinary job.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pipeline.runtimes.enqueue import Enqueue
from pipeline.store.base import ResultsStore
from pipeline.store.records import SubscriptionRecord

__all__ = ["RenewalRun", "enqueue_stale_renewals", "request_renewal"]

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
        enqueued.append(enqueue("renew_subscription", _renewal_kwargs(record), message_id=message_id))
        if record.renewal_requested_at is not None:
            log.info("subscription %s: renewal requested %s; renewal enqueued",
                     record.record_id, record.renewal_requested_at.isoformat())
        elif record.expires_at is not None:
            log.info("subscription %s expires %s; renewal enqueued",
                     record.record_id, record.expires_at.isoformat())
        else:
            log.info("subscription %s is stale (last heard %s); renewal enqueued",
                     record.record_id, record.last_seen_at.isoformat())
    return RenewalRun(active=len(active), enqueued=tuple(enqueued))


def request_renewal(
    store: ResultsStore, enqueue: Enqueue, record: SubscriptionRecord, now: datetime, cause: str = "requested"
) -> str:
    """Mark the subscription for renewal and enqueue renew_subscription for it; its message id.

    Marked first: should the enqueue fail, the subscription is stale already and the schedule
    renews it on its next run. The message id depends on the record and `cause` alone, so a
    repeated report enqueues one job. An EWS record is renewed at most once (it is superseded
    then), so its cause is always "requested"; a Graph record renewed in place lives on, and its
    callers name each request (the expiry it was made under), so that a later request is a new
    job. A renewal that failed for good is retried by the schedule, under the schedule's own ids.
    """
    store.mark_subscription_for_renewal(record.record_id, now)
    message_id = f"renew-{record.record_id}-{cause}"
    return enqueue("renew_subscription", _renewal_kwargs(record), message_id=message_id)


def _renewal_kwargs(record: SubscriptionRecord) -> dict[str, Any]:
    # RenewSubscriptionKwargs. No `force`: a requested renewal makes the record stale, which is
    # what renew_subscription checks.
    return {"integration_id": record.integration_id, "subscription_id": record.record_id}
