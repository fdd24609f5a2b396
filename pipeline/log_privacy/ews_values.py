"""How each kind of value in an EWS library's log record is shown: kept, summarised or withheld.

Each function takes one argument of a record and returns what the log line shows in its stead.
None of them looks for personal data in free text: they keep what they know by type or by
position (a number, a URL's host, a SOAP body's operation element, a header's name) and put a
placeholder in place of everything else. Used by the rules in ews_payloads.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = [
    "Show", "headers", "keep", "keys", "number", "soap", "type_name", "url", "withheld", "withheld_as",
]

Show = Callable[[Any], Any]

MAILBOX = "<mailbox>"
WITHHELD = "<withheld>"
# Header values that say how the exchange went, never whom it was about or how it was signed.
_SHOWN_HEADERS = frozenset({
    "accept", "accept-encoding", "connection", "content-encoding", "content-length", "content-type",
    "date", "keep-alive", "request-id", "client-request-id", "retry-after", "server", "soapaction",
    "transfer-encoding", "user-agent", "x-backendhttpstatus", "x-request-id",
})
# A SOAP body's first element is the operation (CreateItem) or its answer (CreateItemResponse); a
# ResponseCode is one of the schema's codes (NoError, ErrorServerBusy). Names only: \w, no @, no space.
_OPERATION = re.compile(rb"<(?:\w+:)?Body\b[^>]*>\s*<(?:\w+:)?(\w+)")
_RESPONSE_CODE = re.compile(rb"<(?:\w+:)?ResponseCode>(\w+)</")
_STREAMING = "[STREAMING]"  # exchangelib's stand-in for a streamed answer's body


def keep(value: Any) -> Any:
    """The value as it is: its rule vouches for it (a service name, an API version, a server)."""
    return value


def number(value: Any) -> Any:
    """A number, a flag or None as it is (a count, seconds, a status, a session id); else withheld."""
    if value is None or isinstance(value, int | float):
        return value
    return withheld(value)


def withheld(value: Any) -> str:
    """A placeholder that says only what type of value was there."""
    return f"<withheld: a {type(value).__name__}>"


def withheld_as(what: str) -> Show:
    """A placeholder naming what was there ("an Account", "a cache key")."""
    return lambda value: f"<withheld: {what}>"


def type_name(value: Any) -> str:
    """Only the value's type (an auth object, an HTTP adapter: their reprs say no more)."""
    return f"<{type(value).__name__}>"


def keys(value: Any) -> str:
    """A mapping's keys (keyword argument names), its values withheld."""
    if not isinstance(value, Mapping):
        return withheld(value)
    return "{" + ", ".join(f"{key!s}: {WITHHELD}" for key in value if isinstance(key, str)) + "}"


def url(value: Any) -> str:
    """Scheme, host, port and path of a URL; a path segment naming a mailbox and the query withheld."""
    if not isinstance(value, str):
        return withheld(value)
    parts = urlsplit(value)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host  # never user:password@
    segments = [MAILBOX if "@" in unquote(unquote(segment)) else segment for segment in parts.path.split("/")]
    query = f"?{WITHHELD}" if parts.query else ""
    return f"{parts.scheme}://{netloc}{'/'.join(segments)}{query}"


def headers(value: Any) -> Any:
    """Every header's name; the values of those that say how the exchange went (_SHOWN_HEADERS)."""
    if value is None:
        return None
    items = getattr(value, "items", None)
    if items is None:
        return withheld(value)
    shown: dict[str, Any] = {}
    for name, header in items():
        name = name.decode("latin-1") if isinstance(name, bytes) else str(name)
        plain = isinstance(header, str | bytes | int)
        shown[name] = header if plain and name.lower() in _SHOWN_HEADERS else WITHHELD
    return shown


def soap(value: Any) -> Any:
    """A SOAP request or response, reduced to its operation, its response codes and its size."""
    if value is None or value == _STREAMING:
        return value
    if isinstance(value, str):
        body = value.encode("utf-8", "surrogatepass")
    elif isinstance(value, bytes | bytearray | memoryview):
        body = bytes(value)
    else:
        return withheld(value)
    found = _OPERATION.search(body)
    operation = found.group(1).decode() if found else "XML"
    codes = sorted({code.decode() for code in _RESPONSE_CODE.findall(body)})
    answered = f" ({', '.join(codes)})" if codes else ""
    return f"<{operation}{answered}: {len(body)} bytes withheld>"
