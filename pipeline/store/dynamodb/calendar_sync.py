"""Calendar sync records: a mailbox calendar's SyncFolderItems state, and coalesced sync requests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pipeline.events.models import PipelineEvent
from pipeline.store.dynamodb.events import event_items
from pipeline.store.dynamodb.items import iso
from pipeline.store.dynamodb.keys import calendar_sync_key
from pipeline.store.dynamodb.table import ConditionFailed, Item, TableClient, TransactUpdate
from pipeline.store.records import CalendarSyncRecord

__all__ = ["CalendarSyncTable"]


def _record(item: Item) -> CalendarSyncRecord:
    def moment(name: str) -> datetime | None:
        return datetime.fromisoformat(item[name]) if item.get(name) else None

    return CalendarSyncRecord(
        integration_id=item["integration_id"], mailbox=item["mailbox"],
        sync_state=item.get("sync_state") or None, synced_at=moment("synced_at"),
        requested_at=moment("requested_at"),
    )


class CalendarSyncTable:
    """The calendar-sync part of ResultsStore (see its docstrings for the contract)."""

    def __init__(self, table: TableClient) -> None:
        self.table = table

    def get_calendar_sync(self, integration_id: str, mailbox: str) -> CalendarSyncRecord | None:
        item = self.table.get(calendar_sync_key(integration_id, mailbox))
        return None if item is None else _record(item)

    def request_calendar_sync(self, integration_id: str, mailbox: str, now: datetime,
                              expired_before: datetime) -> bool:
        try:
            self.table.update(
                calendar_sync_key(integration_id, mailbox),
                "SET integration_id = :integration_id, mailbox = :mailbox, requested_at = :now",
                condition="attribute_not_exists(requested_at) OR requested_at < :expired",
                values={":integration_id": integration_id, ":mailbox": mailbox.lower(),
                        ":now": iso(now), ":expired": iso(expired_before)},
            )
            return True
        except ConditionFailed:
            return False

    def begin_calendar_sync(self, integration_id: str, mailbox: str) -> CalendarSyncRecord:
        item = self.table.update(
            calendar_sync_key(integration_id, mailbox),
            "SET integration_id = :integration_id, mailbox = :mailbox REMOVE requested_at",
            values={":integration_id": integration_id, ":mailbox": mailbox.lower()},
        )
        return _record(item)

    def save_calendar_sync(self, integration_id: str, mailbox: str, sync_state: str | None,
                           now: datetime, events: Sequence[PipelineEvent] = (),
                           also: Sequence[TransactUpdate] = ()) -> None:
        values: dict[str, Any] = {":integration_id": integration_id, ":mailbox": mailbox.lower(),
                                  ":now": iso(now), ":state": sync_state or ""}
        self.table.update_and_put(
            calendar_sync_key(integration_id, mailbox),
            "SET integration_id = :integration_id, mailbox = :mailbox, sync_state = :state, "
            "synced_at = :now",
            event_items(events), values=values, also=also,
        )
