"""XML written as text into an answer: kept as a placeholder in the tree, spliced in on the wire.

A GetUserAvailability answer for 100 calendars holds about 3,000 CalendarEvents (1.5 MB). Built
element by element it costs a dozen lxml calls an event; written as text and parsed, it costs the
parse and then its serialisation again. A fragment added here is neither: the tree holds one
processing instruction per fragment, and soap.py replaces each by its text in the serialised
answer, so the bytes on the wire are those the parsed elements would have been written as. The
schema check (schema.py) validates a copy with every fragment parsed into elements, so a checked
answer is checked whole.

A fragment is well-formed XML in the prefixes that every envelope declares (s, m, t), with text
escaped as lxml writes it (&amp; &lt; &gt;), hence never "?>", which ends a processing instruction.
"""

from __future__ import annotations

from collections.abc import Iterator
from copy import deepcopy

from lxml import etree

from infra.ewssim.namespaces import NSMAP, Element

__all__ = ["add_raw", "expanded", "splice"]

_TARGET = "ewssim-raw"
_OPEN, _CLOSE = f"<?{_TARGET} ".encode(), b"?>"
_DECLARATIONS = "".join(f' xmlns:{prefix}="{uri}"' for prefix, uri in NSMAP.items())


def add_raw(parent: Element, fragment: str) -> None:
    """Append XML text as the last child of `parent`, to be written as it is."""
    try:
        placeholder = etree.PI(_TARGET, fragment)
    except ValueError:  # "?>" cannot be held in a processing instruction: parse it now
        parent.extend(_parsed(fragment))
        return
    parent.append(placeholder)


def splice(data: bytes) -> bytes:
    """A serialised answer with each placeholder replaced by its fragment."""
    if _OPEN not in data:
        return data
    # "<?" is never text (lxml writes "<" as &lt;) and a fragment never holds "?>".
    head, *rest = data.split(_OPEN)
    parts = [head]
    for piece in rest:
        fragment, _, after = piece.partition(_CLOSE)
        parts += (fragment, after)
    return b"".join(parts)


def expanded(element: Element) -> Element:
    """`element`, or a copy of it with every fragment parsed into elements (for the schema check).

    A fragment that is not well-formed raises etree.XMLSyntaxError.
    """
    if next(_placeholders(element), None) is None:
        return element
    copy = deepcopy(element)
    for placeholder in list(_placeholders(copy)):
        parent = placeholder.getparent()
        assert parent is not None
        index = parent.index(placeholder)
        parent.remove(placeholder)
        for offset, child in enumerate(_parsed(placeholder.text or "")):
            parent.insert(index + offset, child)
    return copy


def _placeholders(element: Element) -> Iterator[Element]:
    return (pi for pi in element.iter(etree.ProcessingInstruction) if pi.target == _TARGET)


def _parsed(fragment: str) -> list[Element]:
    return list(etree.fromstring(f"<raw{_DECLARATIONS}>{fragment}</raw>"))
