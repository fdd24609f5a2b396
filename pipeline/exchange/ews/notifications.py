"""SendNotification, the EWS push callback: read the POST body, write the answer.

exchangelib's SendNotification service does both; this module turns its objects into the
backend-neutral values of pipeline.exchange.push, so pipeline.notifications never sees exchangelib.

exchangelib reads XML with lxml in recover mode (exchangelib.util._forgiving_parser): a body cut
short parses as far as it goes, and the events after the cut are silently lost. So every body is
first parsed strictly here, and only a complete SOAP envelope carrying a SendNotification request
is handed on to exchangelib.
"""

from __future__ import annotations

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
from exchangelib.util import MNS, SOAPNS
from lxml import etree

from pipeline.errors import ErrorCode, PermanentError
from pipeline.exchange.ews.item_values import plain_utc
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

    Raises PermanentError(INVALID_MESSAGE) when the body is not a complete, well-formed
    SendNotification SOAP request (a truncated body, a SOAP fault, any other message).
    """
    _require_send_notification_request(body)
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
        # receiver something went wrong on its side; the schema says it must be accepted. Reading
        # stops here, so messages after it are not read: the caller renews the subscription from
        # its last good watermark, which replays whatever they carried.
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


def _strict_parser() -> etree.XMLParser:
    # exchangelib's own parser has resolve_entities=False (and lxml's defaults no_network=True,
    # load_dtd=False); the same protections here, without recover, and without its huge_tree, so
    # libxml2's limits on nesting depth and text size stay on. A new parser per call: lxml parsers
    # must not be shared between threads (the local HTTP bridge serves requests on threads).
    return etree.XMLParser(recover=False, resolve_entities=False, no_network=True, load_dtd=False,
                           dtd_validation=False, huge_tree=False)


def _invalid(reason: str) -> PermanentError:
    return PermanentError(
        ErrorCode.INVALID_MESSAGE, f"the body is not an EWS SendNotification request: {reason}"
    )


def _require_send_notification_request(body: bytes) -> None:
    """Check, before exchangelib reads it, that the body is a whole SOAP SendNotification request."""
    try:
        root = etree.fromstring(body, _strict_parser())
    except etree.XMLSyntaxError as exc:
        # Position only: libxml2's message may quote the body.
        raise _invalid(f"it is not well-formed XML (line {exc.lineno}, column {exc.offset})") from None
    docinfo = root.getroottree().docinfo
    if docinfo.internalDTD is not None or docinfo.doctype:
        # SOAP 1.1 forbids a DTD in a message; refusing it ends entity tricks before exchangelib.
        raise _invalid("it has a document type declaration")
    if root.tag != f"{{{SOAPNS}}}Envelope":
        raise _invalid("it is not a SOAP envelope")
    soap_body = root.find(f"{{{SOAPNS}}}Body")
    if soap_body is None:
        raise _invalid("the envelope has no Body")
    contents = [child.tag for child in soap_body if isinstance(child.tag, str)]  # elements only
    if contents == [f"{{{SOAPNS}}}Fault"]:
        # A fault answers a request; Exchange never sends one as a notification, so whatever it
        # says (ErrorServerBusy, ...), it says nothing about this subscription.
        raise _invalid("it is a SOAP fault")
    if contents != [f"{{{MNS}}}SendNotification"]:
        raise _invalid("the Body holds no SendNotification request")


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
                timestamp=plain_utc(getattr(event, "timestamp", None)),
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




def ok_answer() -> str:
    """The SOAP answer that acknowledges a notification (text: exchangelib builds bytes)."""
    return bytes(SendNotification(protocol=None).ok_payload()).decode("utf-8")


def unsubscribe_answer() -> str:
    """The SOAP answer that ends a push subscription (the only way to end one)."""
    return bytes(SendNotification(protocol=None).unsubscribe_payload()).decode("utf-8")
