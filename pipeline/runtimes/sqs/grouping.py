"""Which SQS FIFO message group a job belongs to: one group per mailbox."""

from __future__ import annotations

import hashlib
import re
from typing import Any, Protocol

__all__ = ["MAX_GROUP_ID_LENGTH", "message_group_id"]

# SQS allows 1-128 characters from this set in a MessageGroupId.
MAX_GROUP_ID_LENGTH = 128
_VALID_GROUP_ID = re.compile(r"^[A-Za-z0-9!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~]{1,128}$")


class _HasQueueAndKwargs(Protocol):
    @property
    def queue_name(self) -> str: ...

    @property
    def kwargs(self) -> dict[str, Any]: ...


def message_group_id(message: _HasQueueAndKwargs) -> str:
    """The FIFO message group of a dramatiq message: its mailbox, else its integration, else its queue.

    One group per mailbox keeps one mailbox's jobs in send order while other mailboxes' jobs run
    in parallel. Mailbox addresses are case-insensitive in Exchange, so they are lower-cased: two
    spellings of one address must not become two groups, or their jobs could overtake each other.
    The Lambda handler and upstream senders reuse this function so every path agrees on the group.
    """
    mailbox = message.kwargs.get("mailbox")
    if isinstance(mailbox, str) and mailbox.strip():
        return _valid_group_id(mailbox.strip().lower())
    integration_id = message.kwargs.get("integration_id")
    if integration_id is not None and str(integration_id).strip():
        return _valid_group_id(str(integration_id).strip())
    return _valid_group_id(message.queue_name)


def _valid_group_id(value: str) -> str:
    """The value itself when SQS accepts it, else a stable digest of it (same input, same group)."""
    if _VALID_GROUP_ID.match(value):
        return value
    return "sha256-" + hashlib.sha256(value.encode("utf-8")).hexdigest()
