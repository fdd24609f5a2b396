"""EWS operations on notifications: Subscribe, Unsubscribe, GetEvents, GetStreamingEvents.

Push delivery itself (SendNotification POSTs, keep-alives, retries) is infra.ewssim.push.
GetStreamingEvents answers on an open connection, as Exchange does: one envelope per batch of
events as they happen (ConnectionStatus OK), an empty one now and then to keep the connection
alive, and a last one (ConnectionStatus Closed) when the requested ConnectionTimeout has passed in
simulated time (or after the store's streaming_max_wait real seconds, when a test sets one).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import urlparse

from infra.ewssim.errors import EwsError, RequestFault
from infra.ewssim.models.access import require_read
from infra.ewssim.models.event_log import Notification
from infra.ewssim.models.subscriptions import SubscriptionKind, store_for
from infra.ewssim.namespaces import Element, add, child_text, local_name, m, t
from infra.ewssim.notification_xml import render_notification
from infra.ewssim.push import attach
from infra.ewssim.responses import RequestContext, operation, streaming_operation
from infra.ewssim.responses.common import error, operation_response, success
from infra.ewssim.responses.folders import resolve_folder_element

__all__ = ["get_events", "get_streaming_events", "subscribe", "unsubscribe"]

_KINDS = {
    "PushSubscriptionRequest": SubscriptionKind.PUSH,
    "PullSubscriptionRequest": SubscriptionKind.PULL,
    "StreamingSubscriptionRequest": SubscriptionKind.STREAMING,
}
EVENT_TYPES = frozenset({
    "CopiedEvent", "CreatedEvent", "DeletedEvent", "ModifiedEvent", "MovedEvent", "NewMailEvent",
    "FreeBusyChangedEvent", "StatusEvent",
})


def _minutes(request: Element, tag: str, upper: int) -> timedelta:
    """A StatusFrequency/Timeout/ConnectionTimeout in minutes, within Exchange's bounds."""
    raw = child_text(request, t(tag)) or child_text(request, m(tag)) or ""
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= upper:
        raise RequestFault("ErrorSchemaValidation", f"{tag} must be 1 to {upper} minutes, not {raw!r}.")
    return timedelta(minutes=value)


def _watched_folders(context: RequestContext, request: Element) -> tuple[str, frozenset[str] | None]:
    """The mailbox and folder ids a request watches; the caller must be able to read each folder."""
    folder_ids = request.find(t("FolderIds"))
    if folder_ids is None or len(folder_ids) == 0:
        if request.get("SubscribeToAllFolders", "false").lower() not in ("true", "1"):
            raise EwsError("ErrorInvalidSubscriptionRequest", "Name folders or set SubscribeToAllFolders.")
        mailbox = context.backend.mailbox(context.acting_as.smtp)
        return mailbox.smtp, None
    mailboxes: set[str] = set()
    watched: set[str] = set()
    for element in folder_ids:
        ref = resolve_folder_element(context, element)
        require_read(context.backend, context.acting_as, ref.mailbox.smtp, ref.folder.folder_id)
        mailboxes.add(ref.mailbox.smtp)
        watched.add(ref.folder.folder_id)
    if len(mailboxes) > 1:
        raise EwsError("ErrorInvalidSubscriptionRequest", "A subscription's folders must share a mailbox.")
    return mailboxes.pop(), frozenset(watched)


@operation("Subscribe")
def subscribe(context: RequestContext, body: Element) -> Element:
    """Create a push, pull or streaming subscription; answers SubscriptionId and Watermark."""
    root, messages = operation_response("Subscribe")
    request = body[0]
    kind = _KINDS.get(local_name(request))
    if kind is None:
        raise RequestFault("ErrorInvalidSubscriptionRequest", f"Unknown subscription {local_name(request)}.")
    try:
        mailbox, folder_ids = _watched_folders(context, request)
        event_types = [e.text or "" for e in request.iterfind(f"{t('EventTypes')}/{t('EventType')}")]
        unknown = set(event_types) - EVENT_TYPES
        if unknown or not event_types:
            raise EwsError("ErrorInvalidSubscriptionRequest", f"Unknown event types {sorted(unknown)}.")
        # exchangelib 5.6 writes m:Watermark where the schema wants t:Watermark; read either.
        watermark = child_text(request, t("Watermark")) or child_text(request, m("Watermark"))
        store = store_for(context.backend)
        options: dict[str, object] = {}
        if kind is SubscriptionKind.PUSH:
            url = child_text(request, t("URL")) or ""
            if urlparse(url).scheme not in ("http", "https") or not urlparse(url).netloc:
                raise EwsError("ErrorInvalidPushSubscriptionUrl", f"The callback URL {url!r} is not valid.")
            attach(context.backend)  # delivery must exist before the first event arrives
            options = {"url": url, "status_frequency": _minutes(request, "StatusFrequency", 1440)}
        elif kind is SubscriptionKind.PULL:
            options = {"timeout": _minutes(request, "Timeout", 1440)}
        subscription = store.subscribe(
            kind, mailbox, folder_ids, event_types, context.acting_as.smtp,
            watermark=None if kind is SubscriptionKind.STREAMING else watermark,
            **options,  # type: ignore[arg-type]
        )
    except RequestFault:
        raise
    except EwsError as failure:
        error(messages, "SubscribeResponseMessage", failure)
        return root
    message = success(messages, "SubscribeResponseMessage")
    add(message, m("SubscriptionId"), subscription.subscription_id)
    if kind is not SubscriptionKind.STREAMING:
        add(message, m("Watermark"), subscription.cursor_watermark)
    return root


@operation("Unsubscribe")
def unsubscribe(context: RequestContext, body: Element) -> Element:
    """End a pull or streaming subscription."""
    root, messages = operation_response("Unsubscribe")
    try:
        subscription_id = child_text(body, m("SubscriptionId")) or ""
        store_for(context.backend).unsubscribe(subscription_id, context.acting_as.smtp)
    except RequestFault:
        raise
    except EwsError as failure:
        error(messages, "UnsubscribeResponseMessage", failure)
        return root
    success(messages, "UnsubscribeResponseMessage")
    return root


@operation("GetEvents")
def get_events(context: RequestContext, body: Element) -> Element:
    """The events of a pull subscription since the last GetEvents (a StatusEvent when none)."""
    root, messages = operation_response("GetEvents")
    try:
        notification = store_for(context.backend).get_events(
            child_text(body, m("SubscriptionId")) or "",
            child_text(body, m("Watermark")) or "",
            context.acting_as.smtp,
        )
    except RequestFault:
        raise
    except EwsError as failure:
        error(messages, "GetEventsResponseMessage", failure)
        return root
    render_notification(success(messages, "GetEventsResponseMessage"), notification)
    return root


@streaming_operation("GetStreamingEvents")
def get_streaming_events(context: RequestContext, body: Element) -> Iterator[Element]:
    """Events of streaming subscriptions, each batch its own response on the open connection.

    ConnectionTimeout is "the maximum number of minutes to keep a streaming connection open"
    (https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/connectiontimeout).
    """
    ids = [e.text or "" for e in body.iterfind(f"{m('SubscriptionIds')}/{t('SubscriptionId')}")]
    timeout = _minutes(body, "ConnectionTimeout", 30)
    try:
        batches = store_for(context.backend).stream(ids, context.acting_as.smtp, timeout)
    except RequestFault:
        raise
    except EwsError as failure:
        return iter([_streaming_failure(ids, failure)])
    return _streaming_answers(ids, batches)


def _streaming_answers(ids: list[str], batches: Iterator[list[Notification]]) -> Iterator[Element]:
    try:
        for notifications in batches:
            yield _streaming_response(notifications, "OK")
    except EwsError as failure:
        yield _streaming_failure(ids, failure)
        return
    yield _streaming_response([], "Closed")


def _streaming_response(notifications: list[Notification], status: str) -> Element:
    root, messages = operation_response("GetStreamingEvents")
    message = success(messages, "GetStreamingEventsResponseMessage")
    if notifications:
        container = add(message, m("Notifications"))
        for notification in notifications:
            render_notification(container, notification, in_types_ns=True)
    add(message, m("ConnectionStatus"), status)
    return root


def _streaming_failure(ids: list[str], failure: EwsError) -> Element:
    root, messages = operation_response("GetStreamingEvents")
    message = error(messages, "GetStreamingEventsResponseMessage", failure)
    failed = add(message, m("ErrorSubscriptionIds"))
    for subscription_id in ids:
        add(failed, t("SubscriptionId"), subscription_id)
    add(message, m("ConnectionStatus"), "Closed")
    return root
