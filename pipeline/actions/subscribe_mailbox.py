"""subscribe_mailbox: a push subscription on a mailbox's calendar (one EWS Subscribe, or one Graph
POST /subscriptions with its validation handshake)."""

from __future__ import annotations

from pipeline.actions.context import ActionContext
from pipeline.contract.subscribe_mailbox import SubscribeMailboxKwargs, SubscribeMailboxResult
from pipeline.store.records import SubscriptionRecord
from pipeline.subscriptions import required_callback_base_url, start_subscription, subscription_record_id

__all__ = ["subscribe_mailbox"]


def subscribe_mailbox(context: ActionContext, kwargs: SubscribeMailboxKwargs) -> SubscribeMailboxResult:
    """Subscribe to the calendar the connection method acts on, calling back to this deployment."""
    base_url = required_callback_base_url(context.config)
    record_id = subscription_record_id(context.message_id)
    # A redelivery of a job that subscribed but died before recording success finds its record
    # instead of subscribing a second time (which would double every notification).
    record = context.store.get_subscription(record_id)
    if record is None:
        record = start_subscription(
            context.gateway(kwargs.mailbox),
            context.store,
            record_id=record_id,
            integration_id=context.integration.integration_id,
            mailbox=kwargs.mailbox,
            callback_base_url=base_url,
            status_frequency_minutes=kwargs.status_frequency_minutes,
            watermark=None,
            now=context.now(),
            backend=context.integration.backend.value,
        )
    return _result(record)


def _result(record: SubscriptionRecord) -> SubscribeMailboxResult:
    return SubscribeMailboxResult(
        subscription_id=record.record_id,
        ews_subscription_id=record.subscription_id,
        mailbox=record.mailbox,
        watermark=record.watermark,
        stale_after=record.stale_at(),
    )
