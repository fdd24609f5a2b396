"""Item ids an EWS integration stored, made usable on Graph: translateExchangeIds, cached.

Exchange Online gives one item two spellings: EWS's ItemId (base64) and Graph's REST id (the
same bytes, URL-safe: '/' and '+' become '-' and '_'). A booking recorded while its integration
used EWS keeps its EWS id in the results table; once the integration moves to Graph, that id is
turned into the REST id with `POST /users/{id}/translateExchangeIds` (sourceIdType ewsId,
targetIdType restId; learn.microsoft.com/graph/api/user-translateexchangeids), one request for
all the ids a call needs, remembered per process (an id never changes its translation). A REST id
(no '/' or '+') is used as it is, so the common path costs nothing extra. The translated id is
what the gateway returns in its EventRef, so the booking record holds the REST form after the
first job that touches it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pipeline.errors import ErrorCode, PermanentError

if TYPE_CHECKING:
    from pipeline.exchange.graph.connection import GraphLive

__all__ = ["IdCache", "is_ews_id", "rest_id", "rest_ids"]

OPERATION = "translateExchangeIds"
_MAX_PER_REQUEST = 1000  # inputIds: up to 1,000 per request (the API reference)


def is_ews_id(item_id: str) -> bool:
    """True when the id is in EWS's alphabet only ('/' or '+'), so Graph would not take it as is."""
    return "/" in item_id or "+" in item_id


class IdCache:
    """EWS id -> REST id, bounded (least recently used go first); thread-safe."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._max = max_entries
        self._entries: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, ews_id: str) -> str | None:
        with self._lock:
            found = self._entries.get(ews_id)
            if found is not None:
                self._entries.move_to_end(ews_id)
            return found

    def put(self, ews_id: str, rest_id: str) -> None:
        with self._lock:
            self._entries[ews_id] = rest_id
            self._entries.move_to_end(ews_id)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)


def rest_ids(live: GraphLive, item_ids: Sequence[str], mailbox: str | None = None) -> list[str]:
    """`item_ids` in REST form, in order: EWS-form ids translated (one request for all that are not
    cached), REST ids as they are."""
    wanted = [i for i in dict.fromkeys(item_ids) if is_ews_id(i) and live.ids.get(i) is None]
    owner = (mailbox or live.target.mailbox).lower()
    for start in range(0, len(wanted), _MAX_PER_REQUEST):
        chunk = wanted[start : start + _MAX_PER_REQUEST]
        answer = live.request(
            "POST", f"{live.user(owner)}/translateExchangeIds", OPERATION, mailbox=owner,
            body={"inputIds": chunk, "sourceIdType": "ewsId", "targetIdType": "restId"},
        )
        for entry in (answer or {}).get("value", ()):
            source, target = entry.get("sourceId"), entry.get("targetId")
            if source and target:
                live.ids.put(str(source), str(target))
    converted = []
    for item_id in item_ids:
        if not is_ews_id(item_id):
            converted.append(item_id)
            continue
        found = live.ids.get(item_id)
        if found is None:
            raise PermanentError(ErrorCode.ITEM_NOT_FOUND, f"{OPERATION}: Exchange could not translate an id")
        converted.append(found)
    return converted


def rest_id(live: GraphLive, item_id: str, mailbox: str | None = None) -> str:
    """One id in REST form (a request only for an EWS-form id not translated before)."""
    return rest_ids(live, [item_id], mailbox)[0]
