"""SendNotification, the EWS push callback: read the POST body, write the answer.

exchangelib's SendNotification service does both; this module turns its objects into the
backend-neutral values of pipeline.exchange.push, so pipeline.notifications never sees exchangelib.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from exchangelib import errors as ews
from exchangelib.properties import (
    CopiedEvent,
    CreatedEvent,
    DeletedEvent,
    ModifiedEvent,
    MovedEvent,
    NewMailEvent,
    StatusEvent,
)
from exchangelib.services import SendNotification

from pipeline.errors import ErrorCode, PermanentError
from pipeline.exchange.push import PushDelivery, PushEvent, PushNotification

__all__ = ["ok_answer", "parse_send_notification", "unsubscribe_answer"]

# exchangelib event class -> the contract's event type. FreeBusyChangedEvent carries no item and
# is not subscribed to; an unknown kind is skipped rather than failing the whole POST.
_EVENT_TYPES: dict[type, str] = {
    CreatedEvent: "created",
    ModifiedEvent: "modified",
    DeletedEvent: "deleted",
    MovedEvent: "moved",
    CopiedEvent: "copied",
    NewMailEvent: "new_mail",
}


def parse_send_notification(body: bytes) -> PushDelivery:
    """The notifications (and reported errors) in a SendNotification POST.

    Raises PermanentError(INVALID_MESSAGE) when the body is not a SendNotification SOAP message.
    """
    service = SendNotification(protocol=None)
    notifications: list[PushNotification] = []
    errors: list[str] = []
    try:
        for answer in service.parse(body):
            if isinstance(answer, ews.ResponseMessageError):
                errors.append(type(answer).__name__)
            elif isinstance(answer, Exception):
                raise answer
            else:
                notifications.append(_notification(answer))
    except ews.ResponseMessageError as reported:
        # A message with ResponseClass="Error" (e.g. ErrorReadEventsFailed): Exchange tells the
        # receiver something went wrong on its side; the schema says it must be accepted.
        errors.append(type(reported).__name__)
    except (ews.EWSError, ValueError, TypeError, AttributeError) as exc:
        raise PermanentError(
            ErrorCode.INVALID_MESSAGE,
            f"the body is not an EWS SendNotification message ({type(exc).__name__})",
        ) from None  # exchangelib quotes the body in its text
    if not notifications and not errors:
        raise PermanentError(
            ErrorCode.INVALID_MESSAGE, "the SendNotification message carries no notification"
        )
    return PushDelivery(tuple(notifications), tuple(errors))


def _notification(raw: Any) -> PushNotification:
    events: list[PushEvent] = []
    watermark: str | None = None
    for event in raw.events or ():
        watermark = getattr(event, "watermark", None) or watermark
        if isinstance(event, StatusEvent):
            continue
        event_type = _EVENT_TYPES.get(type(event))
        if event_type is None:
            continue
        item_id = getattr(event, "item_id", None)
        folder_id = getattr(event, "parent_folder_id", None)
        events.append(
            PushEvent(
                event_type=event_type,
                item_id=item_id.id if item_id is not None else None,
                folder_id=folder_id.id if folder_id is not None else None,
                watermark=getattr(event, "watermark", None),
                timestamp=_plain_time(getattr(event, "timestamp", None)),
            )
        )
    if not raw.subscription_id:
        raise ValueError("a Notification without a SubscriptionId")
    return PushNotification(
        subscription_id=raw.subscription_id,
        previous_watermark=raw.previous_watermark,
        more_events=bool(raw.more_events),
        events=tuple(events),
        watermark=watermark,
    )


def _plain_time(moment: datetime | None) -> datetime | None:
    # EWSDateTime is a datetime subclass that pydantic and json do not know; keep only the instant.
    return None if moment is None else datetime.fromtimestamp(moment.timestamp(), UTC)


def ok_answer() -> str:
    """The SOAP answer that acknowledges a notification (text: exchangelib builds bytes)."""
    return bytes(SendNotification(protocol=None).ok_payload()).decode("utf-8")


def unsubscribe_answer() -> str:
    """The SOAP answer that ends a push subscription (the only way to end one)."""
    return bytes(SendNotification(protocol=None).unsubscribe_payload()).decode("utf-8")
