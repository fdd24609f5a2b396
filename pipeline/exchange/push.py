"""Push notifications as the pipeline sees them, whichever backend produced them.

The EWS implementation (ews/notifications.py) turns a SendNotification POST into PushDelivery;
the Graph one (graph/notifications.py) turns a webhook POST into WebhookNotification items (each
with the same PushEvent) or LifecycleNotification items. Datetimes are timezone-aware; no
exchangelib types cross this boundary.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pipeline.errors import ErrorCode, PermanentError
from pipeline.exchange.calendar_items import AttendeeResponse

__all__ = [
    "ChangedItem",
    "LifecycleNotification",
    "PushDelivery",
    "PushEvent",
    "PushNotification",
    "WatermarkRejected",
    "WebhookNotification",
]


@dataclass(frozen=True)
class PushEvent:
    """One item or folder event; event_type uses the contract's names ("created", "moved", ...)."""

    event_type: str
    item_id: str | None
    folder_id: str | None
    watermark: str | None
    timestamp: datetime | None


@dataclass(frozen=True)
class PushNotification:
    """One notification of one subscription: its item events and the newest watermark it carried.

    A keep-alive has no events (only a watermark): it proves the subscription is alive.
    """

    subscription_id: str
    previous_watermark: str | None
    more_events: bool
    events: tuple[PushEvent, ...]
    watermark: str | None

    @property
    def is_keep_alive(self) -> bool:
        return not self.events


@dataclass(frozen=True)
class PushDelivery:
    """Everything one callback POST carried: notifications, and error codes Exchange reported
    instead of a notification (for example ErrorReadEventsFailed), which a receiver must accept."""

    notifications: tuple[PushNotification, ...]
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class WebhookNotification:
    """One change notification of a webhook POST (Graph): which subscription, the clientState it
    carried (the subscription's secret token, to check; never log it), and the change.

    `version` tells a resend of one change from the next change of the same item (Graph's
    @odata.etag, the item's change key); None when the notification has none (a deletion).
    """

    subscription_id: str
    client_state: str | None
    event: PushEvent
    version: str | None = None


@dataclass(frozen=True)
class LifecycleNotification:
    """One lifecycle notification (Graph): reauthorizationRequired, subscriptionRemoved or missed
    (another value is kept as sent, and ignored). client_state as for WebhookNotification."""

    subscription_id: str
    client_state: str | None
    lifecycle_event: str
    subscription_expires_at: datetime | None = None


@dataclass(frozen=True)
class ChangedItem:
    """What process_change needs to know about an item a notification named."""

    item_id: str
    change_key: str
    booking_key: str | None  # the pipeline's stamp; None for items the pipeline did not write
    is_cancelled: bool
    parent_folder_id: str | None
    start: datetime | None = None
    end: datetime | None = None
    # Required, optional and resource attendees with their responses, as the organiser's item has them.
    attendees: tuple[AttendeeResponse, ...] = ()
    # The message id of the pipeline job whose UpdateItem changed the item last (its stamp).
    last_update: str | None = None
    # A copy of a booking in an additional booking calendar (stamped CopyOf): not the booking.
    is_copy: bool = False


class WatermarkRejected(PermanentError):
    """Exchange refused to resume from a watermark (older than 30 days, or never valid here)."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.EWS_ERROR, message)
