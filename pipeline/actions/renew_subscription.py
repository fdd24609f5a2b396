"""renew_subscription: re-subscribe a stale push subscription from its last watermark, or extend
a Graph subscription before it expires.

EWS: stale means nothing (no notification, no keep-alive) for twice its status frequency: Exchange
has most likely dropped it. The renewal is a new Subscribe that resumes from the last watermark,
so the events in between are replayed to the new subscription; it is recorded as a new record and
the old one is kept, marked superseded. When Exchange refuses the watermark (older than 30 days)
the new subscription starts from now, and the result says so.

Graph: due a day before it expires (SubscriptionRecord.stale_at), or at once when Graph asks for
reauthorization. The renewal is one PATCH of expirationDateTime to Graph's longest lifetime, which
also reauthorizes it; the record stays (same id, same token) with its new expiry, and nothing is
missed. When Graph no longer has the subscription (subscriptionRemoved, or it expired), a new one
is created, as a new record superseding the old; Graph has no watermark to replay from, so the
app is told (subscription.lost) and the mailbox's calendar is synced.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from pipeline.actions.calendar_sync_requests import request_calendar_sync
from pipeline.actions.context import ActionContext
from pipeline.contract.renew_subscription import RenewSubscriptionKwargs, RenewSubscriptionResult
from pipeline.errors import ErrorCode, PermanentError
from pipeline.events.models import SubscriptionLostData, SubscriptionRenewedData
from pipeline.exchange.base import ExchangeGateway
from pipeline.exchange.push import WatermarkRejected
from pipeline.store.records import SubscriptionRecord, SubscriptionStatus
from pipeline.subscriptions import required_callback_base_url, start_subscription, subscription_record_id

__all__ = ["renew_subscription"]

log = logging.getLogger(__name__)

# Exchange keeps a watermark resumable for 30 days; an older one is not worth a request.
WATERMARK_LIFETIME = timedelta(days=30)


def renew_subscription(context: ActionContext, kwargs: RenewSubscriptionKwargs) -> RenewSubscriptionResult:
    """Renew the subscription if it is stale (or `force`); no EWS request otherwise."""
    store = context.store
    old = store.get_subscription(kwargs.subscription_id)
    if old is None or old.integration_id != context.integration.integration_id:
        raise PermanentError(
            ErrorCode.SUBSCRIPTION_NOT_FOUND,
            f"no subscription {kwargs.subscription_id} in integration {context.integration.integration_id}",
        )
    new_record_id = subscription_record_id(context.message_id)
    now = context.now()
    redelivered = store.get_subscription(new_record_id)
    if redelivered is not None:  # an earlier delivery of this job subscribed, then died
        return _supersede(context, old, redelivered, resumed=redelivered.watermark == old.watermark)
    if old.status is not SubscriptionStatus.ACTIVE:
        return _not_renewed(old)
    if not kwargs.force and not old.is_stale(now):
        return _not_renewed(old)
    base_url = required_callback_base_url(context.config)

    gateway = context.gateway(old.mailbox)
    if old.expires_at is not None:
        return _renew_expiring(context, gateway, old, new_record_id, base_url)
    watermark: str | None = old.watermark if now - old.last_seen_at < WATERMARK_LIFETIME else None
    if watermark is None:
        _missed_events(context, old, "watermark_expired")

    def subscribe(from_watermark: str | None) -> SubscriptionRecord:
        return start_subscription(
            gateway, store, record_id=new_record_id, integration_id=old.integration_id,
            mailbox=old.mailbox, callback_base_url=base_url,
            status_frequency_minutes=old.status_frequency_minutes, watermark=from_watermark, now=now,
            backend=old.backend,
        )

    try:
        try:
            new = subscribe(watermark)
        except WatermarkRejected:
            log.warning("subscription %s: Exchange refused its watermark; subscribing from now",
                        old.record_id)
            _missed_events(context, old, "watermark_rejected")
            watermark = None
            new = subscribe(None)
    except PermanentError as refused:
        if not isinstance(refused, WatermarkRejected):
            _lost(context, old, refused.code.value)  # access revoked, mailbox gone: no renewal
        raise
    return _supersede(context, old, new, resumed=watermark is not None)


def _renew_expiring(
    context: ActionContext, gateway: ExchangeGateway, old: SubscriptionRecord, new_record_id: str,
    base_url: str,
) -> RenewSubscriptionResult:
    """Graph: extend the subscription in place (one PATCH); re-create it when Graph has lost it."""
    store, now = context.store, context.now()
    try:
        extended = gateway.renew_push(old.subscription_id, now=now)
    except PermanentError as refused:
        if refused.code is not ErrorCode.SUBSCRIPTION_NOT_FOUND:
            _lost(context, old, refused.code.value)  # access revoked, mailbox gone: no renewal
            raise
        log.warning("subscription %s: Graph no longer has it; creating a new one", old.record_id)
    else:
        if extended.expires_at is not None and store.record_subscription_extended(
            old.record_id, extended.expires_at, now
        ):
            return RenewSubscriptionResult(
                old_subscription_id=old.record_id, new_subscription_id=old.record_id,
                renewed=True, resumed_from_watermark=True,  # in place: nothing was missed
            )
        return _not_renewed(store.get_subscription(old.record_id) or old)
    # Removed or expired at Graph: what changed since is not coming; a new subscription from now.
    _missed_events(context, old, "subscription_removed")
    try:
        new = start_subscription(
            gateway, store, record_id=new_record_id, integration_id=old.integration_id,
            mailbox=old.mailbox, callback_base_url=base_url,
            status_frequency_minutes=old.status_frequency_minutes, watermark=None, now=now,
            backend=old.backend,
        )
    except PermanentError as refused:
        _lost(context, old, refused.code.value)
        raise
    return _supersede(context, old, new, resumed=False)


def _missed_events(context: ActionContext, old: SubscriptionRecord, reason: str) -> None:
    """The subscription cannot resume: what changed since its watermark is gone for good. Tell the
    app, and sync the calendar, so that the events missed in between are reported after all."""
    _lost(context, old, reason)
    request_calendar_sync(context, old.mailbox)


def _lost(context: ActionContext, old: SubscriptionRecord, reason: str) -> None:
    lost = context.event(
        SubscriptionLostData(subscription_record_id=old.record_id, mailbox=old.mailbox, reason=reason),
        cause=f"{old.record_id}|{reason}",
    )
    context.store.put_events([lost])
    context.written([lost])


def _supersede(
    context: ActionContext, old: SubscriptionRecord, new: SubscriptionRecord, *, resumed: bool
) -> RenewSubscriptionResult:
    store, now = context.store, context.now()
    if old.superseded_by != new.record_id and not store.mark_subscription_superseded(
        old.record_id, new.record_id, now
    ):
        # Another renewal won the race: keep its subscription, retire ours (EWS: its first
        # callback is answered Unsubscribe, which ends it at Exchange; Graph: deleted now).
        store.mark_subscription_dropped(new.record_id, now)
        if new.expires_at is not None:
            context.gateway(old.mailbox).end_push(new.subscription_id)
        return _not_renewed(store.get_subscription(old.record_id) or old)
    # Also on a redelivery that finds its renewal done: the same id, stored once.
    renewed = context.event(
        SubscriptionRenewedData(subscription_record_id=new.record_id, previous_record_id=old.record_id,
                                mailbox=old.mailbox),
        cause=new.record_id,
    )
    store.put_events([renewed])
    context.written([renewed])
    return _renewed(old, new, resumed=resumed)


def _renewed(old: SubscriptionRecord, new: SubscriptionRecord, *, resumed: bool) -> RenewSubscriptionResult:
    return RenewSubscriptionResult(
        old_subscription_id=old.record_id,
        new_subscription_id=new.record_id,
        renewed=True,
        resumed_from_watermark=resumed,
    )


def _not_renewed(old: SubscriptionRecord) -> RenewSubscriptionResult:
    return RenewSubscriptionResult(
        old_subscription_id=old.record_id,
        new_subscription_id=old.superseded_by,
        renewed=False,
        resumed_from_watermark=False,
    )
