"""Splitting a free/busy query into requests, and joining the answers: the same on both backends.

EWS and Graph each limit how many mailboxes one request names and how long its window is
(pipeline/exchange/ews/availability.py, graph/availability.py hold the limits); the query is cut
into every (mailbox batch, time chunk) pair, and each mailbox's chunks are joined again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pipeline.exchange.types import MailboxAvailability

__all__ = ["Chunk", "combine", "plan_requests"]

Chunk = tuple[dt.datetime, dt.datetime]


def plan_requests(
    mailboxes: Sequence[str], start: dt.datetime, end: dt.datetime, *, per_request: int, days: int
) -> list[tuple[list[str], Chunk]]:
    """Every (mailbox batch, time chunk) pair: batches of <= per_request, chunks of <= days."""
    batches = [list(mailboxes[i : i + per_request]) for i in range(0, len(mailboxes), per_request)]
    chunks: list[Chunk] = []
    cursor = start
    while cursor < end:
        chunk_end = min(cursor + dt.timedelta(days=days), end)
        chunks.append((cursor, chunk_end))
        cursor = chunk_end
    return [(batch, chunk) for chunk in chunks for batch in batches]


def combine(mailbox: str, parts: list[MailboxAvailability]) -> MailboxAvailability:
    """One answer per mailbox from its chunks: events spanning a chunk boundary appear once."""
    failed = next((p for p in parts if not p.ok), None)
    if failed is not None:
        return failed
    if len(parts) == 1:
        return parts[0]
    intervals = tuple(dict.fromkeys(i for p in parts for i in p.intervals))
    hours = next((p.working_hours for p in parts if p.working_hours), None)
    merged = "".join(p.merged for p in parts if p.merged) or None
    return MailboxAvailability(mailbox, intervals=intervals, working_hours=hours, merged=merged)
