"""Any operation's normal response with every message failed: HTTP 200, ResponseClass="Error".

Exchange reports some failures of a whole request this way rather than as a SOAP fault, notably
ErrorServerBusy with its BackOffMilliseconds in the message's MessageXml. This module is the one
place that knows, per operation, where the response messages sit (ResponseMessages, the bare
response of GetRoomLists and GetRooms, FreeBusyResponseArray of GetUserAvailability), what they
are called (<Op>ResponseMessage in a list), how many the request asks for, and which children
the schema or exchangelib requires in an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from infra.ewssim.errors import EwsError
from infra.ewssim.namespaces import Element, add, m, new, t
from infra.ewssim.responses.common import describe_failure, error, operation_response

__all__ = ["ERROR_SHAPES", "ErrorShape", "Layout", "error_response"]


class Layout(Enum):
    """Where an operation's response messages sit."""

    # <Op>Response/ResponseMessages/<message>, one per requested item (most operations).
    MESSAGES = "messages"
    # <Op>Response is itself the one response message (GetRoomLists, GetRooms).
    BARE = "bare"
    # GetUserAvailabilityResponse/FreeBusyResponseArray/FreeBusyResponse/ResponseMessage, per mailbox.
    FREE_BUSY = "free_busy"


@dataclass(frozen=True)
class ErrorShape:
    """How one operation answers when it fails as a whole."""

    layout: Layout = Layout.MESSAGES
    # The request's list of items (an m: child of the operation element), one message per item;
    # None: one message.
    items: str | None = None
    # Children (name, text) after the error fields that the schema or exchangelib requires.
    children: tuple[tuple[str, str | None], ...] = ()


_ITEMS = (("Items", None),)  # ItemInfoResponseMessageType requires m:Items, even when nothing came back

ERROR_SHAPES: dict[str, ErrorShape] = {
    "CreateItem": ErrorShape(items="Items", children=_ITEMS),
    "UpdateItem": ErrorShape(items="ItemChanges", children=_ITEMS),
    "DeleteItem": ErrorShape(items="ItemIds"),
    "GetItem": ErrorShape(items="ItemIds", children=_ITEMS),
    "FindItem": ErrorShape(items="ParentFolderIds"),
    "GetFolder": ErrorShape(items="FolderIds"),
    "FindFolder": ErrorShape(items="ParentFolderIds"),
    "CreateFolder": ErrorShape(items="Folders"),
    "ConvertId": ErrorShape(items="SourceIds"),
    "ResolveNames": ErrorShape(),
    "Subscribe": ErrorShape(),
    "Unsubscribe": ErrorShape(),
    "GetEvents": ErrorShape(),
    "GetStreamingEvents": ErrorShape(),
    # exchangelib reads both before it looks at the ResponseClass; Exchange sends them on errors too.
    "SyncFolderItems": ErrorShape(children=(("SyncState", None), ("IncludesLastItemInRange", "true"))),
    "GetServerTimeZones": ErrorShape(children=(("TimeZoneDefinitions", None),)),
    "GetRoomLists": ErrorShape(Layout.BARE),
    "GetRooms": ErrorShape(Layout.BARE),
    "GetUserAvailability": ErrorShape(Layout.FREE_BUSY, items="MailboxDataArray"),
}
ERROR_SHAPES["GetUserAvailabilityRequest"] = ERROR_SHAPES["GetUserAvailability"]

_DEFAULT = ErrorShape()


def _requested(body: Element, items: str | None) -> int:
    """How many messages the request asks for: one per element of its item list, at least one."""
    found = body.find(m(items)) if items else None
    return max(1, sum(isinstance(child.tag, str) for child in found)) if found is not None else 1


def error_response(operation: str, body: Element, failure: EwsError) -> Element:
    """The response element of `operation` in which every message reports `failure`.

    `body` is the request's operation element: a message is rendered per requested item (per
    mailbox for GetUserAvailability), as Exchange answers. An operation without a known shape
    gets the common ResponseMessages form with one <Op>ResponseMessage.
    """
    shape = ERROR_SHAPES.get(operation, _DEFAULT)
    name = operation.removesuffix("Request")
    count = _requested(body, shape.items)
    if shape.layout is Layout.BARE:
        root = new(m(f"{name}Response"), ResponseClass="Error")
        describe_failure(root, failure)
        return root
    if shape.layout is Layout.FREE_BUSY:
        root = new(m(f"{name}Response"))
        array = add(root, m("FreeBusyResponseArray"))
        for _ in range(count):
            response = add(array, m("FreeBusyResponse"))
            error(response, "ResponseMessage", failure)
            add(add(response, m("FreeBusyView")), t("FreeBusyViewType"), "None")
        return root
    root, messages = operation_response(name)
    for _ in range(count):
        message = error(messages, f"{name}ResponseMessage", failure)
        for child, text in shape.children:
            add(message, m(child), text)
    return root
