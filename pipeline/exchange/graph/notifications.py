"""Graph webhook bodies -> the pipeline's values (pipeline.exchange.push).

A change notification POST is a changeNotificationCollection, `{"value": [changeNotification, ...]}`
(CSDL: changeNotification has subscriptionId, subscriptionExpirationDateTime, changeType, resource,
resourceData, clientState, tenantId, lifecycleEvent; resourceData is open: for an event it carries
@odata.type, @odata.id, @odata.etag and id, learn.microsoft.com/graph/change-notifications-delivery-
webhooks). A lifecycle notification has the same envelope with lifecycleEvent instead of changeType
(learn.microsoft.com/graph/change-notifications-lifecycle-events).

Graph's changeType maps onto the contract's event types: created -> created, updated ->
modified, deleted -> deleted (a move to Deleted Items is a deletion to Graph). Only the items'
shape is checked here; whether a clientState is genuine is the callback's business
(pipeline.notifications.graph_webhooks). Nothing here is JSON-decoded from a body of more than
MAX_BODY_BYTES, and no error quotes the body.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pipeline.errors import ErrorCode, PermanentError
from pipeline.exchange.push import LifecycleNotification, PushEvent, WebhookNotification

__all__ = [
    "CHANGE_EVENT_TYPES",
    "MAX_BODY_BYTES",
    "parse_change_notifications",
    "parse_lifecycle_notifications",
]

# Graph delivers notifications in batches; 1 MiB is far above any batch of basic notifications.
MAX_BODY_BYTES = 1024 * 1024
CHANGE_EVENT_TYPES = {"created": "created", "updated": "modified", "deleted": "deleted"}


def parse_change_notifications(body: bytes) -> tuple[WebhookNotification, ...]:
    """The change notifications of a POST to /graph/notifications, in order.

    Items without an item id or with an unknown changeType are skipped; a body that is not a
    changeNotificationCollection raises PermanentError(INVALID_MESSAGE), PAYLOAD_TOO_LARGE when
    oversized.
    """
    found = []
    for item in _items(body):
        subscription_id = _subscription_id(item)
        change = CHANGE_EVENT_TYPES.get(str(item.get("changeType") or ""))
        data = item.get("resourceData")
        item_id = data.get("id") if isinstance(data, Mapping) else None
        if change is None or not isinstance(item_id, str) or not item_id:
            continue
        etag = data.get("@odata.etag") if isinstance(data, Mapping) else None
        found.append(WebhookNotification(
            subscription_id=subscription_id,
            client_state=_client_state(item),
            event=PushEvent(event_type=change, item_id=item_id, folder_id=None, watermark=None,
                            timestamp=None),
            version=etag if isinstance(etag, str) and etag else None,
        ))
    return tuple(found)


def parse_lifecycle_notifications(body: bytes) -> tuple[LifecycleNotification, ...]:
    """The lifecycle notifications of a POST to /graph/lifecycle, in order (items without a
    lifecycleEvent are skipped)."""
    found = []
    for item in _items(body):
        subscription_id = _subscription_id(item)
        event = item.get("lifecycleEvent")
        if not isinstance(event, str) or not event:
            continue
        found.append(LifecycleNotification(
            subscription_id=subscription_id,
            client_state=_client_state(item),
            lifecycle_event=event,
            subscription_expires_at=_time(item.get("subscriptionExpirationDateTime")),
        ))
    return tuple(found)


def _invalid(reason: str) -> PermanentError:
    return PermanentError(
        ErrorCode.INVALID_MESSAGE, f"the body is not a Graph notification collection: {reason}"
    )


def _items(body: bytes) -> list[Mapping[str, Any]]:
    if len(body) > MAX_BODY_BYTES:
        raise PermanentError(
            ErrorCode.PAYLOAD_TOO_LARGE, f"the notification body exceeds {MAX_BODY_BYTES} bytes"
        )
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise _invalid("it is not JSON") from None
    except RecursionError:  # JSON nested deeper than the parser goes: no notification is
        raise _invalid("it nests too deeply") from None
    if not isinstance(document, Mapping) or not isinstance(document.get("value"), list):
        raise _invalid("it has no value array")
    items = document["value"]
    if not all(isinstance(item, Mapping) for item in items):
        raise _invalid("an item of value is not an object")
    if not items:
        raise _invalid("the value array is empty")
    return items


def _subscription_id(item: Mapping[str, Any]) -> str:
    value = item.get("subscriptionId")
    if not isinstance(value, str) or not value:
        raise _invalid("an item has no subscriptionId")
    return value


def _client_state(item: Mapping[str, Any]) -> str | None:
    value = item.get("clientState")
    return value if isinstance(value, str) and value else None


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).astimezone(UTC)
    except ValueError:
        return None
