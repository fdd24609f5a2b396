"""The Microsoft Graph webhooks: POST {callback_base_url}/graph/notifications and /graph/lifecycle.

Every Graph subscription calls back to the same two URLs; what tells them apart is each item's
clientState, the subscription's secret token (pipeline.subscriptions), of which the table keeps
only the SHA-256. An item is genuine when its clientState hashes to a subscription record (the
hashes compared in constant time, hmac.compare_digest) whose Graph subscription id is the item's.

Answers, and why:
- `?validationToken=...` (the handshake Graph runs when a subscription is created): the token,
  URL-decoded, as text/plain with 200, at once and touching nothing else: Graph gives the
  endpoint 10 seconds (learn.microsoft.com/graph/change-notifications-delivery-webhooks,
  "notificationUrl validation"). See validation_answer.
- change notifications: one process_change job per genuine item (the same kwargs as an EWS push
  event: contract event types, the record id) and last_seen_at recorded; then 202 Accepted. Graph
  wants a 2xx within 3 seconds or it retries and, for an endpoint that is often slow, throttles
  and drops notifications (same page, "Throttling"): the jobs do the work, the callback only
  enqueues. A job id depends on the item (record, change type, item id, etag), so Graph sending
  the same notification again gives the same job, run once.
- items whose clientState matches no subscription, or the subscription of another id: ignored
  and counted (Graph batches items of several subscriptions in one POST; one bad item must not
  lose the others). A POST whose items are all such forgeries: FORGED_CALLBACK (403), as EWS.
  Items of a subscription that is no longer active (superseded, dropped) are ignored too.
- lifecycle (learn.microsoft.com/graph/change-notifications-lifecycle-events):
  reauthorizationRequired -> renew_subscription at once (a PATCH, which reauthorizes);
  subscriptionRemoved -> renew_subscription, which finds the subscription gone and creates a new
  one; missed -> a sync of the mailbox's calendar (coalesced as process_change's syncs are).
- a failing table or queue: 503 (RetryableError), and Graph sends the POST again.

Nothing logged here names a mailbox, an item, a clientState or a validation token.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipeline.errors import ErrorCode, PermanentError
from pipeline.exchange.push import LifecycleNotification, WebhookNotification
from pipeline.renewals import request_renewal
from pipeline.runtimes.enqueue import Enqueue
from pipeline.store.base import ResultsStore
from pipeline.store.records import SubscriptionRecord, SubscriptionStatus
from pipeline.subscriptions import hash_token

__all__ = [
    "LIFECYCLE_EVENTS",
    "WebhookAnswer",
    "receive_graph_lifecycle",
    "receive_graph_notifications",
    "validation_answer",
]

log = logging.getLogger(__name__)

LIFECYCLE_EVENTS = ("reauthorizationRequired", "subscriptionRemoved", "missed")
# Graph's clientState is at most 128 characters; ours are secrets.token_urlsafe(32) (43).
_CLIENT_STATE_SHAPE = re.compile(r"^[A-Za-z0-9_-]{20,128}$")
# Graph's validation tokens are opaque text (their format "can change without notice"); printable
# ASCII without markup, and bounded, is all that is echoed.
_VALIDATION_TOKEN_SHAPE = re.compile(r"^[\x20-\x7e]{1,1024}$")


@dataclass(frozen=True)
class WebhookAnswer:
    """What one webhook POST caused (the HTTP answer is 202, empty, whatever it is)."""

    accepted: int  # genuine items acted on
    ignored: int  # forged, unknown, or of a subscription no longer active
    enqueued: tuple[str, ...] = ()  # message ids of the jobs


def validation_answer(token: str) -> str:
    """The body answering Graph's validation handshake: the token itself (already URL-decoded).

    Graph never sends markup in it; anything else is refused (INVALID_MESSAGE), so the endpoint
    cannot be made to reflect script (the answer is text/plain with nosniff besides).
    """
    if not _VALIDATION_TOKEN_SHAPE.match(token) or "<" in token or ">" in token:
        raise PermanentError(ErrorCode.INVALID_MESSAGE, "the validation token is not one Graph sends")
    return token


def receive_graph_notifications(
    body: bytes,
    *,
    store: ResultsStore,
    enqueue: Enqueue,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> WebhookAnswer:
    """Verify each change notification; enqueue process_change for the genuine ones.

    Raises PermanentError with PAYLOAD_TOO_LARGE or INVALID_MESSAGE for a body to refuse,
    FORGED_CALLBACK when no item is genuine, RetryableError when the table or queue is out.
    """
    from pipeline.exchange.graph.notifications import parse_change_notifications

    items = parse_change_notifications(body)
    verified = _verify(items, store)
    enqueued = []
    seen: set[str] = set()
    for item, record in verified.genuine:
        enqueued.append(enqueue("process_change", _process_change_kwargs(record, item),
                                message_id=_change_message_id(record, item)))
        seen.add(record.record_id)
    now = clock()
    for record_id in sorted(seen):  # after the enqueues: a failed enqueue leaves it unrecorded
        store.record_notification(record_id, now)
    return verified.answer(enqueued)


def receive_graph_lifecycle(
    body: bytes,
    *,
    store: ResultsStore,
    enqueue: Enqueue,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> WebhookAnswer:
    """Verify each lifecycle notification and enqueue what it asks for (see the module docstring)."""
    from pipeline.exchange.graph.notifications import parse_lifecycle_notifications

    items = parse_lifecycle_notifications(body)
    verified = _verify(items, store)
    now = clock()
    enqueued: list[str] = []
    for item, record in verified.genuine:
        event = item.lifecycle_event
        if event in ("reauthorizationRequired", "subscriptionRemoved"):
            # Named by the expiry it came under: repeated, it is one job; after the renewal
            # moved the expiry, the next request is a new one.
            under = record.expires_at.strftime("%Y%m%d%H%M%S") if record.expires_at else "none"
            cause = f"{'reauthorize' if event == 'reauthorizationRequired' else 'removed'}-{under}"
            enqueued.append(request_renewal(store, enqueue, record, now, cause=cause))
            log.info("Graph asked subscription %s for %s: renewal enqueued", record.record_id, event)
        elif event == "missed":
            # The coalesced request process_change makes (loads the actions: a rare event).
            from pipeline.actions.calendar_sync_requests import enqueue_calendar_sync

            sync = enqueue_calendar_sync(store, enqueue, record.integration_id, record.mailbox, now)
            if sync is not None:
                enqueued.append(sync)
            log.warning("Graph missed notifications of subscription %s: calendar sync %s",
                        record.record_id, "enqueued" if sync else "already pending")
        else:
            log.info("subscription %s: lifecycle event %r ignored", record.record_id, event[:40])
    return verified.answer(enqueued)


@dataclass(frozen=True)
class _Verified:
    genuine: list[tuple[Any, SubscriptionRecord]]
    forged: int
    inactive: int

    def answer(self, enqueued: Sequence[str]) -> WebhookAnswer:
        return WebhookAnswer(accepted=len(self.genuine), ignored=self.forged + self.inactive,
                             enqueued=tuple(enqueued))


def _verify(items: Sequence[WebhookNotification | LifecycleNotification], store: ResultsStore) -> _Verified:
    """Split the items into genuine ones (with their records), forgeries and stale ones;
    FORGED_CALLBACK when every item is forged."""
    genuine: list[tuple[Any, SubscriptionRecord]] = []
    forged = inactive = 0
    records: dict[str, SubscriptionRecord | None] = {}  # by clientState hash: one lookup each
    for item in items:
        record = _record_for(item.client_state, store, records)
        if record is None or not hmac.compare_digest(record.subscription_id, item.subscription_id):
            forged += 1
        elif record.status is not SubscriptionStatus.ACTIVE:
            inactive += 1
        else:
            genuine.append((item, record))
    if forged:
        log.warning("Graph webhook: %d of %d items match no subscription; ignored", forged, len(items))
    if items and forged == len(items):
        raise PermanentError(ErrorCode.FORGED_CALLBACK, "no item's clientState matches its subscription")
    return _Verified(genuine, forged, inactive)


def _record_for(
    client_state: str | None, store: ResultsStore, cache: dict[str, SubscriptionRecord | None]
) -> SubscriptionRecord | None:
    if client_state is None or not _CLIENT_STATE_SHAPE.match(client_state):
        return None
    digest = hash_token(client_state)
    if digest not in cache:
        cache[digest] = store.find_subscription_by_token_hash(digest)
    record = cache[digest]
    # The index found it by this hash; compared again in constant time, whatever the index does.
    if record is None or not hmac.compare_digest(record.token_hash, digest):
        return None
    return record


def _process_change_kwargs(record: SubscriptionRecord, item: WebhookNotification) -> dict[str, Any]:
    # ProcessChangeKwargs, as pipeline.notifications.ews_push builds them for EWS events.
    event = item.event
    return {
        "integration_id": record.integration_id,
        "subscription_id": record.record_id,
        "events": [{"event_type": event.event_type, "item_id": event.item_id}],
    }


def _change_message_id(record: SubscriptionRecord, item: WebhookNotification) -> str:
    event = item.event
    key = f"{record.record_id}|{event.event_type}|{event.item_id}|{item.version or ''}"
    return f"change-{hashlib.sha256(key.encode()).hexdigest()[:40]}"
