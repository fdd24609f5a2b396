"""XML namespaces of EWS and small element builders shared by every response module."""

from __future__ import annotations

from typing import TypeAlias

from lxml import etree

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
MESSAGES_NS = "http://schemas.microsoft.com/exchange/services/2006/messages"
TYPES_NS = "http://schemas.microsoft.com/exchange/services/2006/types"
AUTODISCOVER_NS = "http://schemas.microsoft.com/exchange/2010/Autodiscover"
WSA_NS = "http://www.w3.org/2005/08/addressing"

NSMAP = {"s": SOAP_NS, "m": MESSAGES_NS, "t": TYPES_NS}

Element: TypeAlias = etree._Element


def m(tag: str) -> str:
    """Clark name of an element in the messages namespace."""
    return f"{{{MESSAGES_NS}}}{tag}"


def t(tag: str) -> str:
    """Clark name of an element in the types namespace."""
    return f"{{{TYPES_NS}}}{tag}"


def s(tag: str) -> str:
    """Clark name of an element in the SOAP envelope namespace."""
    return f"{{{SOAP_NS}}}{tag}"


def new(tag: str, text: str | None = None, **attrs: str) -> Element:
    """A detached element with the EWS prefixes declared."""
    element = etree.Element(tag, nsmap=NSMAP)
    if text is not None:
        element.text = text
    for key, value in attrs.items():
        element.set(key, value)
    return element


def add(parent: Element, tag: str, text: str | None = None, **attrs: str) -> Element:
    """Append a child element, with optional text and attributes, and return it."""
    element = etree.SubElement(parent, tag)
    if text is not None:
        element.text = text
    for key, value in attrs.items():
        element.set(key, value)
    return element


def local_name(element: Element) -> str:
    """The tag without its namespace."""
    return etree.QName(element).localname


def child_text(parent: Element, tag: str, default: str | None = None) -> str | None:
    """Text of the first child with this Clark name, or the default."""
    found = parent.find(tag)
    if found is None or found.text is None:
        return default
    return found.text
