"""Asking for a calendar sync, coalesced: a burst of notifications about others' events gives one sync.

The request is a conditional write on the mailbox's sync record: only the first request since
the last sync began enqueues a sync_calendar job; the rest find it pending and do nothing. The
sync clears the request as it begins (before reading Exchange), so a change that arrives while
it runs asks for the next one, and nothing is missed. A request whose job never ran (the enqueue
failed after the write) expires, and the next notification asks again.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from pipeline.actions.context import ActionContext
from pipeline.errors import ErrorCode, PermanentError
from pipeline.runtimes.enqueue import Enqueue
from pipeline.store.base import ResultsStore

__all__ = ["SYNC_REQUEST_EXPIRY", "enqueue_calendar_sync", "request_calendar_sync"]

SYNC_REQUEST_EXPIRY = timedelta(minutes=15)


def request_calendar_sync(context: ActionContext, mailbox: str) -> str | None:
    """Enqueue a sync of `mailbox`'s calendar unless one is pending; its message id, or None."""
    if context.enqueue is None:
        raise PermanentError(ErrorCode.INTERNAL, "this runtime cannot enqueue jobs (no broker)")
    return enqueue_calendar_sync(
        context.store, context.enqueue, context.integration.integration_id, mailbox, context.now()
    )


def enqueue_calendar_sync(
    store: ResultsStore, enqueue: Enqueue, integration_id: str, mailbox: str, now: datetime
) -> str | None:
    """request_calendar_sync for callers without a job (the Graph callback's `missed`)."""
    if not store.request_calendar_sync(integration_id, mailbox, now, now - SYNC_REQUEST_EXPIRY):
        return None
    # A stable id per request: a redelivered process_change that enqueues again is de-duplicated.
    digest = hashlib.sha256(f"{integration_id}|{mailbox.lower()}|{now.isoformat()}".encode()).hexdigest()
    return enqueue(
        "sync_calendar", {"integration_id": integration_id, "mailbox": mailbox},
        message_id=f"sync-{digest[:40]}",
    )
