"""Starting a push subscription: its callback URL with a per-subscription secret token, and its record.

The token is random (secrets.token_urlsafe(32)) and lives only in the URL Exchange holds; the
table stores its SHA-256, which is all the callback needs to recognise it. It is never logged,
returned or stored in the clear.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from pipeline.config import PipelineConfig
from pipeline.errors import ErrorCode, PermanentError
from pipeline.exchange.base import ExchangeGateway
from pipeline.store.base import ResultsStore
from pipeline.store.records import SubscriptionRecord

__all__ = [
    "callback_url",
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


def callback_url(base_url: str, token: str) -> str:
    """The URL Exchange POSTs a subscription's notifications to."""
    return f"{base_url.rstrip('/')}/notifications/{token}"


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
) -> SubscriptionRecord:
    """Subscribe the gateway's calendar with a fresh token and store the record (token hashed).

    One EWS request; WatermarkRejected when Exchange cannot resume from `watermark`.
    """
    token = new_callback_token()
    subscription = gateway.subscribe_push(
        callback_url(callback_base_url, token), status_frequency_minutes, watermark
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
    )
    store.put_subscription(record)
    return record
