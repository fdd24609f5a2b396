"""XML of notifications: the t:Notification element, the SendNotification POST and its answer.

Shared by GetEvents/GetStreamingEvents responses and by push delivery, which is why it sits
outside responses/ (push.py must not import the operation registry).
"""

from __future__ import annotations

from lxml import etree

from infra.ewssim.models.subscriptions import Event, Notification
from infra.ewssim.namespaces import NSMAP, Element, add, m, s, t

__all__ = ["SubscriptionAnswer", "parse_answer", "render_notification", "send_notification_body"]

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)

# Exchange names a moved item's old id in OldItemId; the simulator keeps ids across moves.
_MOVE_EVENTS = {"MovedEvent", "CopiedEvent"}


def _timestamp(event: Event) -> str:
    return event.timestamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def _add_event(parent: Element, event: Event) -> None:
    element = add(parent, t(event.event_type))
    add(element, t("Watermark"), event.watermark)
    add(element, t("TimeStamp"), _timestamp(event))
    add(element, t("ItemId"), Id=event.item_id)
    add(element, t("ParentFolderId"), Id=event.folder_id)
    if event.event_type in _MOVE_EVENTS:
        add(element, t("OldItemId"), Id=event.item_id)
        add(element, t("OldParentFolderId"), Id=event.old_folder_id or event.folder_id)


def render_notification(parent: Element, notification: Notification, in_types_ns: bool = False) -> Element:
    """Append a Notification (SubscriptionId, PreviousWatermark, MoreEvents, events) to parent.

    It is m:Notification in GetEvents and SendNotification messages, but t:Notification inside
    GetStreamingEvents' m:Notifications (a types-schema array): pass in_types_ns=True there.
    """
    element = add(parent, t("Notification") if in_types_ns else m("Notification"))
    add(element, t("SubscriptionId"), notification.subscription_id)
    add(element, t("PreviousWatermark"), notification.previous_watermark)
    add(element, t("MoreEvents"), "true" if notification.more_events else "false")
    if not notification.events:
        status = add(element, t("StatusEvent"))
        add(status, t("Watermark"), notification.status_watermark)
    for event in notification.events:
        _add_event(element, event)
    return element


def send_notification_element(notification: Notification) -> Element:
    """The m:SendNotification body element Exchange POSTs to a push subscription's callback."""
    root = etree.Element(m("SendNotification"), nsmap=NSMAP)
    messages = add(root, m("ResponseMessages"))
    message = add(messages, m("SendNotificationResponseMessage"), ResponseClass="Success")
    add(message, m("ResponseCode"), "NoError")
    render_notification(message, notification)
    return root


def send_notification_body(notification: Notification) -> bytes:
    """The whole SOAP envelope of a SendNotification POST."""
    envelope = etree.Element(s("Envelope"), nsmap=NSMAP)
    header = add(envelope, s("Header"))
    add(header, t("RequestServerVersion"), Version="Exchange2013")
    etree.SubElement(envelope, s("Body")).append(send_notification_element(notification))
    return etree.tostring(envelope, xml_declaration=True, encoding="utf-8")


class SubscriptionAnswer:
    OK = "OK"
    UNSUBSCRIBE = "Unsubscribe"


def parse_answer(payload: bytes) -> str | None:
    """The SubscriptionStatus (OK or Unsubscribe) of a callback's answer, or None if unreadable."""
    try:
        envelope = etree.fromstring(payload, _PARSER)
    except etree.XMLSyntaxError:
        return None
    status = envelope.findtext(f"{s('Body')}/{m('SendNotificationResult')}/{m('SubscriptionStatus')}")
    status = (status or "").strip()
    return status if status in (SubscriptionAnswer.OK, SubscriptionAnswer.UNSUBSCRIBE) else None
