"""dramatiq's own log lines, without the job's kwargs: mailboxes and attendees are personal data.

dramatiq's worker logs a message as `str(message)`, which is `actor(kwargs...)` in full ("Failed
to process message create_event(mailbox='alice@...', ...)"). The filter here swaps any message in
a record's arguments for its actor name and message id, which are all an operator needs to find
the job's record.
"""

from __future__ import annotations

import logging
from typing import Any

import dramatiq
from dramatiq.broker import MessageProxy

__all__ = ["DRAMATIQ_WORKER_LOGGERS", "MessageRedactingFilter", "redact_dramatiq_messages"]

# The loggers of dramatiq that are handed messages (dramatiq.logging.get_logger names them).
DRAMATIQ_WORKER_LOGGERS = ("dramatiq.worker.WorkerThread", "dramatiq.middleware.retries.Retries",
                           "dramatiq.middleware.retries.DurableRetries",
                           "dramatiq.middleware.age_limit.AgeLimit")


def _safe(value: Any) -> Any:
    if isinstance(value, dramatiq.Message | MessageProxy):
        return f"{value.actor_name}[{value.message_id}]"
    return value


class MessageRedactingFilter(logging.Filter):
    """Replaces dramatiq messages among a record's arguments with actor name and message id."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_safe(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _safe(value) for key, value in record.args.items()}
        return True


_FILTER = MessageRedactingFilter()


def redact_dramatiq_messages() -> None:
    """Install the filter on dramatiq's loggers (idempotent)."""
    for name in DRAMATIQ_WORKER_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
