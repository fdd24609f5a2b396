"""Graph (REST) ids and EWS ids of one item.

Exchange Online's REST id is the EWS ItemId in the URL-safe base64 alphabet ('/' -> '-',
'+' -> '_'), which is what translateExchangeIds converts between
(https://learn.microsoft.com/en-us/graph/api/user-translateexchangeids). The simulator's ids are
immutable, so restImmutableEntryId is the same text as restId.
"""

from __future__ import annotations

__all__ = ["ews_id", "is_ews_form", "rest_id"]

_TO_REST = str.maketrans({"/": "-", "+": "_"})
_TO_EWS = str.maketrans({"-": "/", "_": "+"})


def rest_id(ews: str) -> str:
    """The Graph id of an EWS ItemId (or FolderId)."""
    return ews.translate(_TO_REST)


def ews_id(rest: str) -> str:
    """The EWS ItemId of a Graph id; an id already in EWS form comes back unchanged."""
    return rest.translate(_TO_EWS)


def is_ews_form(text: str) -> bool:
    """Whether an id is spelled with EWS's alphabet (it cannot be used in a Graph URL as is)."""
    return "/" in text or "+" in text
