"""Starting a push subscription: its callback with a per-subscription secret token, and its record.

The token is random (secrets.token_urlsafe(32)) and lives only with the service: in the callback
URL EWS holds (`{base}/notifications/{token}`), or as the clientState Microsoft Graph sends back
with every notification (to `{base}/graph/notifications` and `{base}/graph/lifecycle`). The table
stores its SHA-256, which is all the callback needs to recognise it. It is never logged, returned
or stored in the clear.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from pipeline.config import PipelineConfig
from pipeline.errors import ErrorCode, PermanentError
from pipeline.exchange.base import ExchangeGateway
from pipeline.exchange.types import CallbackTarget
from pipeline.store.base import ResultsStore
from pipeline.store.records import SubscriptionRecord

__all__ = [
    "GRAPH_LIFECYCLE_PATH",
    "GRAPH_NOTIFICATIONS_PATH",
    "callback_url",
    "graph_lifecycle_url",
    "graph_notification_url",
    "hash_token",
    "new_callback_token",
    "required_callback_base_url",
    "start_subscription",
    "subscription_record_id",
]


def new_callback_token() -> str:
    """A fresh per-subscription secret for the callback URL."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """What the table stores in place of the token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# The callback function's Graph routes (template.yaml): one URL for every subscription, the token
# travelling as clientState in the body.
GRAPH_NOTIFICATIONS_PATH = "/graph/notifications"
GRAPH_LIFECYCLE_PATH = "/graph/lifecycle"


def callback_url(base_url: str, token: str) -> str:
    """The URL EWS POSTs a subscription's notifications to."""
    return f"{base_url.rstrip('/')}/notifications/{token}"


def graph_notification_url(base_url: str) -> str:
    """The notificationUrl of every Graph subscription: change notifications arrive here."""
    return base_url.rstrip("/") + GRAPH_NOTIFICATIONS_PATH


def graph_lifecycle_url(base_url: str) -> str:
    """The lifecycleNotificationUrl of every Graph subscription."""
    return base_url.rstrip("/") + GRAPH_LIFECYCLE_PATH


def required_callback_base_url(config: PipelineConfig) -> str:
    """The deployment's callback base URL; PermanentError(INVALID_INTEGRATION) when none is set."""
    if not config.callback_base_url:
        raise PermanentError(
            ErrorCode.INVALID_INTEGRATION,
            "no callback URL is configured (PIPELINE_CALLBACK_URL): Exchange would have nowhere to "
            "send notifications",
        )
    return config.callback_base_url


def subscription_record_id(message_id: str) -> str:
    """The record id a subscribing job gives its subscription: a redelivery finds its own record."""
    return "sub-" + hashlib.sha256(message_id.encode("utf-8")).hexdigest()[:32]


def start_subscription(
    gateway: ExchangeGateway,
    store: ResultsStore,
    *,
    record_id: str,
    integration_id: str,
    mailbox: str,
    callback_base_url: str,
    status_frequency_minutes: int,
    watermark: str | None,
    now: datetime,
    backend: str = "ews",
) -> SubscriptionRecord:
    """Subscribe the gateway's calendar with a fresh token and store the record (token hashed).

    One request (EWS Subscribe, Graph POST /subscriptions); WatermarkRejected when Exchange cannot
    resume from `watermark`. `backend` (an ExchangeBackend value) is recorded with the expiry.
    """
    token = new_callback_token()
    subscription = gateway.subscribe_push(
        CallbackTarget(callback_base_url, token), status_frequency_minutes, watermark, now=now
    )
    record = SubscriptionRecord(
        record_id=record_id,
        subscription_id=subscription.subscription_id,
        integration_id=integration_id,
        mailbox=mailbox,
        token_hash=hash_token(token),
        # Resuming, keep the resume point: should the new subscription die before its first
        # notification, the next renewal must still replay from there.
        watermark=watermark or subscription.watermark,
        status_frequency_minutes=status_frequency_minutes,
        created_at=now,
        last_seen_at=now,
        backend=backend,
        expires_at=subscription.expires_at,
    )
    store.put_subscription(record)
    return record
