"""Builders for the ResponseMessages envelope that most EWS operations answer with."""

from __future__ import annotations

from infra.ewssim.errors import EwsError
from infra.ewssim.namespaces import Element, add, m, new, t


def operation_response(operation: str) -> tuple[Element, Element]:
    """The `m:<Operation>Response` root and its `m:ResponseMessages` container."""
    root = new(m(f"{operation}Response"))
    return root, add(root, m("ResponseMessages"))


def success(container: Element, message_tag: str) -> Element:
    """Append a ResponseClass="Success" message, e.g. message_tag="CreateItemResponseMessage"."""
    message = add(container, m(message_tag), ResponseClass="Success")
    add(message, m("ResponseCode"), "NoError")
    return message


def error(container: Element, message_tag: str, failure: EwsError) -> Element:
    """Append a ResponseClass="Error" message carrying the failure's code and text."""
    message = add(container, m(message_tag), ResponseClass="Error")
    describe_failure(message, failure)
    return message


def describe_failure(message: Element, failure: EwsError) -> None:
    """Write MessageText, ResponseCode, DescriptiveLinkKey and, for a throttled request, the
    MessageXml with BackOffMilliseconds into a message whose ResponseClass is "Error"."""
    add(message, m("MessageText"), failure.message)
    add(message, m("ResponseCode"), failure.code)
    add(message, m("DescriptiveLinkKey"), "0")
    if failure.back_off_ms is not None:
        add(add(message, m("MessageXml")), t("Value"), str(failure.back_off_ms), Name="BackOffMilliseconds")
