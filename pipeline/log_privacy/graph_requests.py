"""Graph request lines never name a mailbox in a log: urllib3's DEBUG records of them are rewritten.

At DEBUG urllib3 logs every request it sends, `https://host:443 "POST /v1.0/users/alice%40contoso.com
/calendar/events HTTP/1.1" 201 1667`, and (urllib3.util.retry, connectionpool) the URL of a retry
or redirect. EWS URLs carry no mailbox; Graph's do: `/users/{address}/...` and
`/places/{room list address}/...` in the path, and in the query `$filter` values (booking keys,
extended property values), `$deltatoken`/`$skiptoken` and the like.

The filter does not search the text for something address-shaped. It rewrites the parts of a URL
it knows by position: the segment after `users/` or `places/` becomes `<mailbox>`, and every
query value becomes `<withheld>` (the parameter names stay: they say what was asked). Method,
host, status and size stay in the line. A record that cannot be checked is withheld whole; none
is dropped. Installed by the Graph connector (an EWS-only process never needs it).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

__all__ = [
    "GRAPH_REQUEST_LOGGERS", "GraphRequestFilter", "redact_graph_url", "withhold_graph_request_details",
]

# Filters do not inherit to child loggers: the urllib3 modules that log request targets.
GRAPH_REQUEST_LOGGERS = ("urllib3.connectionpool", "urllib3.util.retry", "urllib3.poolmanager")
_MAILBOX = "<mailbox>"
_WITHHELD = "<withheld>"
_UNCHECKED = "<withheld: the record could not be checked for mailboxes>"
# The segment after users/ or places/ (any case, percent-encoded or not), up to the next / ? # or space.
# (Not a type cast such as /places/microsoft.graph.roomList, which names no one.)
_OWNER_SEGMENT = re.compile(r"(?i)(/(?:users|places)/)(?!microsoft\.graph\.)([^/?#\s\"'<>]+)")
# A query string: from ? to the end of the URL (a space, a quote or the end of the text).
_QUERY = re.compile(r"\?([^\s\"'<>#]*)")


def redact_graph_url(text: str) -> str:
    """`text` with every /users/{x} and /places/{x} segment and every query value withheld."""
    text = _OWNER_SEGMENT.sub(lambda m: m.group(1) + _MAILBOX, text)
    return _QUERY.sub(lambda m: "?" + _names_only(m.group(1)), text)


def _names_only(query: str) -> str:
    if not query:
        return ""
    names = (part.partition("=")[0] for part in query.split("&"))
    return "&".join(f"{name}={_WITHHELD}" for name in names)


class GraphRequestFilter(logging.Filter):
    """Rewrites the URLs in a record's message and arguments (redact_graph_url); never drops it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            if isinstance(record.msg, str):
                record.msg = redact_graph_url(record.msg)
            if isinstance(record.args, tuple):
                record.args = tuple(_redacted(arg) for arg in record.args)
            elif record.args is not None:
                record.msg, record.args = _UNCHECKED, None
        except Exception:  # a filter that raises would fail the request, not just the log line
            record.msg, record.args = _UNCHECKED, None
        return True


def _redacted(arg: Any) -> Any:
    if isinstance(arg, int | float | bool) or arg is None:
        return arg
    if isinstance(arg, str):
        return redact_graph_url(arg)
    # Anything else (a Retry, an exception quoting the URL) is shown as its redacted repr.
    return redact_graph_url(repr(arg))


_INSTALLED: set[str] = set()


def withhold_graph_request_details(names: Iterable[str] = GRAPH_REQUEST_LOGGERS) -> None:
    """Put the filter on each named logger (process-wide, for every session); idempotent."""
    for name in names:
        if name not in _INSTALLED:
            logging.getLogger(name).addFilter(GraphRequestFilter())
            _INSTALLED.add(name)
