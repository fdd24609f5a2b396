"""Graph change-notification subscriptions: state and rules, no HTTP (webhooks.py delivers).

What a subscription watches: the calendar events of one mailbox, `/users/{u}/events` (or
`/me/events`, `/users/{u}/calendar/events`: the default calendar) or
`/users/{u}/calendars/{id}/events` (that calendar). It expires at its expirationDateTime on the
simulator's clock and is gone from then on, as Graph deletes a subscription it was not renewed
in time (learn.microsoft.com/graph/change-notifications-delivery-webhooks, "Renew a subscription").

Limits, from Microsoft's documentation:
- expirationDateTime at most 10,080 minutes (under 7 days) ahead for Outlook events without
  resource data (learn.microsoft.com/graph/change-notifications-overview, "Subscription
  lifetime"); beyond it Graph answers 400 ExtensionError "Subscription expiration can only be
  N minutes in the future." (the message as reported in microsoftgraph/microsoft-graph-docs#2988);
- clientState at most 128 characters (learn.microsoft.com/graph/api/resources/subscription);
- changeType a comma-separated list of created, updated, deleted (CSDL enum changeType).

Backend changes map onto Graph's change types as Outlook reports them: created/modified/deleted
items of a watched folder are created/updated/deleted; an item moved out of a watched folder
(Deleted Items) is deleted, moved or copied into one is created.
"""

from __future__ import annotations

import re
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from infra.ewssim.models.backend import Change, EwsBackend
from infra.graphsim.errors import GraphError
from infra.graphsim.models.ids import ews_id, rest_id

__all__ = [
    "CHANGE_TYPES",
    "MAX_CLIENT_STATE",
    "MAX_LIFETIME",
    "GraphSubscription",
    "SubscriptionBook",
    "graph_time",
    "notification_item",
]

MAX_LIFETIME = timedelta(minutes=10_080)
MAX_CLIENT_STATE = 128
CHANGE_TYPES = frozenset({"created", "updated", "deleted"})

_RESOURCE = re.compile(
    r"^/?(?:(?P<me>me)|users/(?P<user>[^/]+))/(?:events|calendar/events|calendars/(?P<calendar>[^/]+)/events)/?$",
    re.IGNORECASE,
)


def graph_time(moment: datetime) -> str:
    """A DateTimeOffset as Graph writes it (UTC, seven fractional digits, Z)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


@dataclass
class GraphSubscription:
    subscription_id: str
    resource: str  # as the client gave it
    mailbox: str
    folder_ids: frozenset[str]  # EWS folder ids watched
    change_types: frozenset[str]
    notification_url: str
    lifecycle_url: str | None
    client_state: str | None
    expires: datetime
    application_id: str
    creator_id: str
    tenant_id: str
    created: datetime
    latest_tls: str = "v1_2"

    def render(self) -> dict[str, Any]:
        """The subscription resource (clientState is never returned, as Graph does not)."""
        return {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity",
            "id": self.subscription_id,
            "resource": self.resource,
            "applicationId": self.application_id,
            "changeType": ",".join(sorted(self.change_types)),
            "clientState": None,
            "notificationUrl": self.notification_url,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "expirationDateTime": graph_time(self.expires),
            "creatorId": self.creator_id,
            "includeResourceData": False,
            "latestSupportedTlsVersion": self.latest_tls,
            "encryptionCertificate": None,
            "encryptionCertificateId": None,
            "notificationQueryOptions": None,
            "notificationUrlAppId": None,
        }

    def change_type_for(self, change: Change) -> str | None:
        """Graph's changeType for a backend change, or None when this subscription does not see it."""
        inside, was_inside = change.folder_id in self.folder_ids, change.old_folder_id in self.folder_ids
        kind = {"CreatedEvent": "created", "ModifiedEvent": "updated", "DeletedEvent": "deleted"}.get(
            change.event_type)
        if kind is not None:
            found = kind if inside else None
        elif change.event_type == "MovedEvent":
            moved = {(True, True): "updated", (True, False): "created", (False, True): "deleted"}
            found = moved.get((inside, was_inside))
        elif change.event_type == "CopiedEvent":
            found = "created" if inside else None
        else:
            found = None  # NewMailEvent: not an event of the calendar
        return found if found in self.change_types else None


class SubscriptionBook:
    """The subscriptions of one simulated tenant; thread-safe."""

    def __init__(self, backend: EwsBackend) -> None:
        self.backend = backend
        self._lock = threading.Lock()
        self._subs: dict[str, GraphSubscription] = {}

    # Rules -------------------------------------------------------------------------------------

    def watched_mailbox(self, resource: str) -> tuple[str | None, str | None]:
        """(user segment or None for /me, calendar id or None) of a supported resource; 400 otherwise."""
        found = _RESOURCE.match(resource or "")
        if found is None:
            raise GraphError(400, "InvalidRequest",
                             f"Resource '{resource}' is not supported for subscriptions here.")
        # Graph decodes each segment of the resource path, as of a request's (routes.match).
        user, calendar = found.group("user"), found.group("calendar")
        return (None if found.group("me") else unquote(user)), (calendar and unquote(calendar))

    def folders_for(self, mailbox: str, calendar_id: str | None) -> frozenset[str]:
        box = self.backend.mailbox(mailbox)
        if calendar_id is None:
            return frozenset({box.folder("calendar").folder_id})
        folder_id = ews_id(calendar_id)
        if not box.owns_folder(folder_id) or not box.folder(folder_id).is_calendar:
            raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        return frozenset({folder_id})

    def expiry(self, value: Any, now: datetime) -> datetime:
        """A requested expirationDateTime, checked against the lifetime Outlook events allow."""
        if not isinstance(value, str) or not value:
            raise GraphError(400, "InvalidRequest",
                             "expirationDateTime is a required property for subscription creation.")
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise GraphError(400, "BadRequest", "Cannot convert the literal to a DateTimeOffset.") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        if moment <= now:
            raise GraphError(400, "ExtensionError", "Subscription expiration must be in the future.")
        if moment - now > MAX_LIFETIME:
            minutes = int(MAX_LIFETIME.total_seconds() // 60)
            raise GraphError(400, "ExtensionError",
                             f"Subscription expiration can only be {minutes} minutes in the future.")
        return moment

    @staticmethod
    def change_types(value: Any) -> frozenset[str]:
        kinds = frozenset(part.strip() for part in str(value or "").split(",") if part.strip())
        if not kinds or not kinds <= CHANGE_TYPES:
            raise GraphError(400, "InvalidRequest", "changeType must be a comma-separated list of created, "
                             "updated, deleted.")
        return kinds

    # State -------------------------------------------------------------------------------------

    def add(self, **values: Any) -> GraphSubscription:
        subscription = GraphSubscription(subscription_id=str(uuid.uuid4()), created=self.backend.clock.now(),
                                         **values)
        with self._lock:
            self._subs[subscription.subscription_id] = subscription
        return subscription

    def get(self, subscription_id: str) -> GraphSubscription:
        """A live subscription; 404 ResourceNotFound when unknown or expired."""
        found = self.find(subscription_id)
        if found is None:
            raise GraphError(404, "ResourceNotFound", "The object was not found.")
        return found

    def find(self, subscription_id: str) -> GraphSubscription | None:
        with self._lock:
            self._expire(self.backend.clock.now())
            return self._subs.get(subscription_id)

    def remove(self, subscription_id: str) -> GraphSubscription | None:
        with self._lock:
            return self._subs.pop(subscription_id, None)

    def live(self) -> list[GraphSubscription]:
        with self._lock:
            self._expire(self.backend.clock.now())
            return list(self._subs.values())

    def watching(self, change: Change) -> list[tuple[GraphSubscription, str]]:
        """The live subscriptions that see `change`, with the changeType each reports."""
        found = []
        for subscription in self.live():
            if subscription.mailbox != change.mailbox:
                continue
            kind = subscription.change_type_for(change)
            if kind is not None:
                found.append((subscription, kind))
        return found

    def _expire(self, now: datetime) -> None:
        for subscription_id in [s.subscription_id for s in self._subs.values() if s.expires <= now]:
            del self._subs[subscription_id]

    def reset(self) -> None:
        with self._lock:
            self._subs.clear()


def notification_item(subscription: GraphSubscription, change_type: str, item_id: str,
                      change_key: str | None, user_id: str) -> dict[str, Any]:
    """One changeNotification of a basic (no resource data) Outlook event notification."""
    rest = rest_id(item_id)
    path = f"Users/{user_id}/Events/{rest}"
    data: dict[str, Any] = {"@odata.type": "#Microsoft.Graph.Event", "@odata.id": path, "id": rest}
    if change_key is not None and change_type != "deleted":
        data["@odata.etag"] = f'W/"{change_key}"'
    return {
        "subscriptionId": subscription.subscription_id,
        "subscriptionExpirationDateTime": graph_time(subscription.expires),
        "changeType": change_type,
        "resource": path,
        "resourceData": data,
        "clientState": subscription.client_state,
        "tenantId": subscription.tenant_id,
    }

