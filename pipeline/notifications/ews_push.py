"""The EWS push callback: Exchange POSTs SendNotification to `{callback_base_url}/notifications/{token}`.

Each subscription has its own random token in its callback URL (pipeline.subscriptions); the
table keeps only its SHA-256, so a leaked table cannot forge callbacks.

Answers, and why:
- unknown token -> FORGED_CALLBACK (HTTP 403). Not an Unsubscribe: a caller guessing URLs learns
  nothing, and a genuine subscription whose record is not written yet (a renewal's replayed
  events can arrive before the Subscribe response has been stored) gets Exchange's retry 30 s
  later instead of being killed. An orphaned subscription dies anyway: Exchange drops it once
  its retries pass StatusFrequency.
- known token of a superseded or dropped subscription -> 200 Unsubscribe: the only way to end a
  push subscription, and the token proves the POST is Exchange's.
- oversized body -> PAYLOAD_TOO_LARGE; anything but a whole SendNotification request (a body cut
  short, a SOAP fault) -> INVALID_MESSAGE, and nothing is recorded or enqueued.
- Exchange reporting an error instead of events (ErrorReadEventsFailed) -> 200 OK (the schema
  says the receiver must accept it), but the subscription is not alive and well: events were
  lost. last_seen_at and the watermark stay as they were, the subscription is marked for renewal
  and renew_subscription is enqueued at once, to re-subscribe from the last good watermark, so
  that Exchange replays what it could not send.
- keep-alive -> last_seen_at and watermark recorded; item events -> one process_change job per
  notification, enqueued before the watermark moves, so an enqueue failure loses nothing
  (the POST fails and Exchange sends it again).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipeline.errors import ErrorCode, PermanentError
from pipeline.exchange.push import PushDelivery, PushEvent, PushNotification
from pipeline.renewals import request_renewal
from pipeline.runtimes.enqueue import Enqueue
from pipeline.store.base import ResultsStore
from pipeline.store.records import SubscriptionRecord, SubscriptionStatus
from pipeline.subscriptions import hash_token

__all__ = ["MAX_BODY_BYTES", "CallbackAnswer", "receive_push"]

log = logging.getLogger(__name__)

# A SendNotification carries at most 50 events (a few hundred bytes each); 1 MiB is generous.
MAX_BODY_BYTES = 1024 * 1024
# secrets.token_urlsafe(32) gives 43 characters; accept a little either way, nothing else.
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{20,128}$")


@dataclass(frozen=True)
class CallbackAnswer:
    """What to send back to Exchange (HTTP 200, text/xml) and what the POST caused."""

    xml: str
    unsubscribe: bool
    subscription_record_id: str
    enqueued: tuple[str, ...] = ()  # message ids of the process_change jobs
    renewal: str | None = None  # message id of the renew_subscription job an error report caused


def receive_push(
    token: str,
    body: bytes,
    *,
    store: ResultsStore,
    enqueue: Enqueue,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> CallbackAnswer:
    """Verify, record and act on one SendNotification POST; returns the SOAP answer.

    Raises PermanentError with PAYLOAD_TOO_LARGE, FORGED_CALLBACK or INVALID_MESSAGE for a POST
    to refuse, and RetryableError when the table or queue is unreachable (Exchange retries).
    """
    if len(body) > MAX_BODY_BYTES:
        raise PermanentError(
            ErrorCode.PAYLOAD_TOO_LARGE, f"the notification body exceeds {MAX_BODY_BYTES} bytes"
        )
    record = _subscription_for(token, store)
    # exchangelib reads the body and writes the answer: it loads with the first POST that names a
    # known token, not with the callbacks handler (whose connectivity check never needs it).
    from pipeline.exchange.ews import notifications as soap

    delivery = soap.parse_send_notification(body)
    if record.status is not SubscriptionStatus.ACTIVE:
        log.info("push for %s subscription %s: answering Unsubscribe", record.status, record.record_id)
        return CallbackAnswer(soap.unsubscribe_answer(), True, record.record_id)
    for notification in delivery.notifications:
        if notification.subscription_id != record.subscription_id:
            raise PermanentError(
                ErrorCode.FORGED_CALLBACK,
                f"the notification names another subscription than record {record.record_id}",
            )
    # Events that did arrive are enqueued even beside an error report: process_change is
    # idempotent, and the renewal's replay may repeat them but cannot lose them.
    enqueued = tuple(
        enqueue("process_change", _process_change_kwargs(record, notification),
                message_id=_change_message_id(record, notification))
        for notification in delivery.notifications
        if notification.events
    )
    if delivery.errors:
        renewal = request_renewal(store, enqueue, record, clock())
        log.warning("Exchange reported %s for subscription %s: renewal enqueued from its last good "
                    "watermark", ", ".join(delivery.errors), record.record_id)
        return CallbackAnswer(soap.ok_answer(), False, record.record_id, enqueued, renewal)
    store.record_notification(record.record_id, clock(), _newest_watermark(delivery))
    return CallbackAnswer(soap.ok_answer(), False, record.record_id, enqueued)


def _subscription_for(token: str, store: ResultsStore) -> SubscriptionRecord:
    record = None
    if _TOKEN_SHAPE.match(token):
        record = store.find_subscription_by_token_hash(hash_token(token))
    if record is None:
        raise PermanentError(ErrorCode.FORGED_CALLBACK, "the callback token matches no subscription")
    return record


def _newest_watermark(delivery: PushDelivery) -> str | None:
    watermarks = [n.watermark for n in delivery.notifications if n.watermark]
    return watermarks[-1] if watermarks else None


def _process_change_kwargs(record: SubscriptionRecord, notification: PushNotification) -> dict[str, Any]:
    return {
        "integration_id": record.integration_id,
        "subscription_id": record.record_id,
        "events": [_event_kwargs(event) for event in notification.events],
    }


def _event_kwargs(event: PushEvent) -> dict[str, Any]:
    values: dict[str, Any] = {
        "event_type": event.event_type,
        "item_id": event.item_id,
        "folder_id": event.folder_id,
        "watermark": event.watermark,
        "timestamp": event.timestamp.isoformat() if event.timestamp else None,
    }
    return {key: value for key, value in values.items() if value is not None}


def _change_message_id(record: SubscriptionRecord, notification: PushNotification) -> str:
    # The same notification sent again (Exchange retrying after a lost answer) gets the same id,
    # so the queue and the results table run it once.
    marks = "|".join(e.watermark or "" for e in notification.events)
    digest = hashlib.sha256(f"{record.record_id}|{notification.previous_watermark}|{marks}".encode())
    return f"change-{digest.hexdigest()[:40]}"
