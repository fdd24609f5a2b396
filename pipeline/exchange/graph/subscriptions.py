"""Graph change-notification subscriptions on the target calendar: create, renew, delete.

- Create: `POST /subscriptions` for created, updated and deleted events of `/users/{mailbox}/events`,
  with notificationUrl `{base}/graph/notifications`, lifecycleNotificationUrl `{base}/graph/lifecycle`
  and the subscription's secret token as clientState (Graph sends it back with every notification;
  "The maximum length is 128 characters", learn.microsoft.com/graph/api/resources/subscription).
  Before it answers, Graph POSTs `{url}?validationToken=...` to both URLs and needs the token echoed
  within 10 seconds; if either fails, the subscription is not created and Graph answers 400
  (learn.microsoft.com/graph/change-notifications-delivery-webhooks, "notificationUrl validation").
- Renew: `PATCH /subscriptions/{id}` with a new expirationDateTime, which also reauthorizes it
  (learn.microsoft.com/graph/change-notifications-lifecycle-events: "reauthorize ... or renew").
- Delete: `DELETE /subscriptions/{id}` (204; a subscription already gone is not an error here).

Lifetime: Outlook event subscriptions without resource data last at most 10,080 minutes (under
7 days) (learn.microsoft.com/graph/change-notifications-overview, "Subscription lifetime"; older
copies of that table said 4,230 minutes). Graph counts from its own clock, so the pipeline asks
for MAX_LIFETIME less a margin, and renews a day before expiry (pipeline.store.records).

No request, answer or error here quotes the clientState or the callback URL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.errors import ErrorCode, PermanentError
from pipeline.exchange.graph.connection import GraphLive
from pipeline.exchange.graph.paths import mailbox_path, segment
from pipeline.exchange.types import CallbackTarget, PushSubscription
from pipeline.subscriptions import graph_lifecycle_url, graph_notification_url

__all__ = [
    "CHANGE_TYPES",
    "MAX_LIFETIME",
    "REQUESTED_LIFETIME",
    "delete_subscription",
    "renew_subscription",
    "subscribe_push",
    "subscription_resource",
]

# What changes a booking: its event created, changed (moved, answered) or deleted.
CHANGE_TYPES = "created,updated,deleted"
# Outlook event, basic notifications (see the module docstring for the source).
MAX_LIFETIME = timedelta(minutes=10_080)
# Asked for on create and renew: below the maximum by enough for clocks that disagree.
REQUESTED_LIFETIME = MAX_LIFETIME - timedelta(minutes=15)


def subscription_resource(live: GraphLive) -> str:
    """The watched resource: the events of the target mailbox's calendar."""
    return f"{mailbox_path(live.target.mailbox.lower())}/events"


def subscribe_push(
    live: GraphLive,
    callback: CallbackTarget,
    status_frequency_minutes: int = 0,
    watermark: str | None = None,
    *,
    now: datetime | None = None,
) -> PushSubscription:
    """One POST /subscriptions (Graph runs the validation handshake before it answers).

    The arguments of ExchangeGateway.subscribe_push: Graph has no keep-alives and no watermark, so
    `status_frequency_minutes` and `watermark` are not used.
    """
    body = {
        "changeType": CHANGE_TYPES,
        "notificationUrl": graph_notification_url(callback.base_url),
        "lifecycleNotificationUrl": graph_lifecycle_url(callback.base_url),
        "resource": subscription_resource(live),
        "expirationDateTime": _expiry(now),
        "clientState": callback.token,
        "latestSupportedTlsVersion": "v1_2",
    }
    try:
        answer = live.request("POST", "/subscriptions", "createSubscription", body=body)
    except PermanentError as refused:
        if refused.message.endswith("ValidationError"):
            raise PermanentError(
                refused.code,
                refused.message + ": Microsoft Graph could not validate the callback; the callback "
                "URL (PIPELINE_CALLBACK_URL) must be reachable from Graph over HTTPS and serve "
                "/graph/notifications and /graph/lifecycle",
            ) from None
        raise
    return _subscription(answer)


def renew_subscription(
    live: GraphLive, subscription_id: str, *, now: datetime | None = None
) -> PushSubscription:
    """One PATCH of expirationDateTime; SUBSCRIPTION_NOT_FOUND when Graph no longer has it."""
    try:
        answer = live.request("PATCH", f"/subscriptions/{segment(subscription_id)}", "updateSubscription",
                              body={"expirationDateTime": _expiry(now)})
    except PermanentError as refused:
        if _not_found(refused):
            raise PermanentError(
                ErrorCode.SUBSCRIPTION_NOT_FOUND,
                "updateSubscription: Graph no longer has the subscription (removed or expired)",
            ) from None
        raise
    return _subscription(answer)


def delete_subscription(live: GraphLive, subscription_id: str) -> None:
    """One DELETE; a subscription Graph no longer has counts as deleted."""
    try:
        live.request("DELETE", f"/subscriptions/{segment(subscription_id)}", "deleteSubscription")
    except PermanentError as refused:
        if not _not_found(refused):
            raise


def _expiry(now: datetime | None) -> str:
    moment = (now or datetime.now(UTC)).astimezone(UTC) + REQUESTED_LIFETIME
    return moment.strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def _not_found(error: PermanentError) -> bool:
    return " HTTP 404" in error.message


def _subscription(answer: Any) -> PushSubscription:
    if not isinstance(answer, dict) or not answer.get("id"):
        raise PermanentError(
            ErrorCode.EWS_ERROR, "Graph answered a subscription request without a subscription"
        )
    expires = answer.get("expirationDateTime")
    return PushSubscription(
        subscription_id=str(answer["id"]),
        watermark="",  # Graph has none: a lost subscription cannot replay
        expires_at=datetime.fromisoformat(expires).astimezone(UTC) if isinstance(expires, str) else None,
    )
