"""Mailbox event logs and watermarks: the ordered record that notification subscriptions read.

A watermark is a position in one mailbox's log. Exchange keeps events for 30 days, so a watermark
older than that, or one it never issued, cannot be resumed.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from infra.ewssim.errors import EwsError
from infra.ewssim.models.backend import Change

__all__ = [
    "EVENT_RETENTION",
    "Event",
    "MailboxLog",
    "Notification",
    "WatermarkPosition",
    "decode_watermark",
    "encode_watermark",
]

# Exchange keeps mailbox events (and so honours watermarks) for 30 days.
EVENT_RETENTION = timedelta(days=30)


@dataclass(frozen=True)
class Event:
    """One entry in a mailbox's event log; seq orders it within the mailbox."""

    seq: int
    mailbox: str
    event_type: str
    timestamp: datetime
    item_id: str
    folder_id: str
    old_folder_id: str = ""

    @property
    def watermark(self) -> str:
        return encode_watermark(self.mailbox, self.seq, self.timestamp)


def encode_watermark(mailbox: str, seq: int, issued: datetime) -> str:
    """An opaque token for a log position: base64 of mailbox, sequence number and issue time."""
    raw = f"{mailbox}|{seq}|{int(issued.timestamp())}"
    return base64.b64encode(raw.encode()).decode()


@dataclass(frozen=True)
class WatermarkPosition:
    mailbox: str
    seq: int
    issued: datetime


def decode_watermark(token: str) -> WatermarkPosition:
    """Read a watermark, or ErrorInvalidWatermark for anything the simulator did not issue."""
    try:
        mailbox, seq, issued = base64.b64decode(token.encode(), validate=True).decode().split("|")
        return WatermarkPosition(mailbox, int(seq), datetime.fromtimestamp(int(issued), UTC))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise EwsError("ErrorInvalidWatermark", "The watermark is not valid.") from exc


@dataclass(frozen=True)
class Notification:
    """What one GetEvents answer, streaming message or SendNotification POST carries.

    events is empty for a status (keep-alive) notification; status_watermark is then the
    subscription's current position.
    """

    subscription_id: str
    previous_watermark: str
    events: tuple[Event, ...]
    more_events: bool
    status_watermark: str

    @property
    def last_seq(self) -> int | None:
        return self.events[-1].seq if self.events else None


class MailboxLog:
    """The ordered events of one mailbox; events older than the retention are forgotten."""

    def __init__(self, mailbox: str) -> None:
        self.mailbox = mailbox
        self.events: list[Event] = []
        # Highest sequence number forgotten so far: watermarks before it cannot be resumed.
        self.horizon = 0
        self.last_seq = 0

    def append(self, change: Change, when: datetime) -> Event:
        self.last_seq += 1
        event = Event(self.last_seq, self.mailbox, change.event_type, when, change.item_id,
                      change.folder_id, change.old_folder_id)
        self.events.append(event)
        return event

    def prune(self, now: datetime) -> None:
        while self.events and now - self.events[0].timestamp > EVENT_RETENTION:
            self.horizon = self.events.pop(0).seq

    def after(self, seq: int) -> Sequence[Event]:
        start = max(0, seq - self.horizon)
        return self.events[start:]
