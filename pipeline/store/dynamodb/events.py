"""The outbox: events for upstream apps, kept in the results table until a sink has them.

An event item is the published envelope (pipeline.events.models.PipelineEvent) plus its key, a
TTL, and `pending_partition` while it is unpublished. State changes write their events in the
same transaction (TableClient.update_and_put with `event_items`), so an event exists exactly when
the change it reports does; publishing (from the table's stream on AWS, by the workers
elsewhere) removes the pending mark. An event is never lost while a sink is down: it stays
pending, and the sweep (`list_pending_events`) finds it again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from pipeline.events.models import PipelineEvent
from pipeline.store.dynamodb.items import iso
from pipeline.store.dynamodb.keys import (
    EVENT_TTL_DAYS,
    PENDING_EVENTS_INDEX,
    PENDING_PARTITION,
    TTL_ATTRIBUTE,
    event_key,
)
from pipeline.store.dynamodb.table import ConditionFailed, Item, TableClient, _from_wire

__all__ = ["EventTable", "event_from_item", "event_items", "pending_event_from_image"]

# What an event item holds besides the envelope: never part of what a sink delivers.
_STORAGE_ATTRIBUTES = ("pk", "sk", "pending_partition", "published_at", "failed_reason", "failed_at",
                       TTL_ATTRIBUTE)
_EVENT_PK_PREFIX = event_key("")["pk"]


def event_items(events: Sequence[PipelineEvent]) -> list[Item]:
    """The outbox items for `events`, pending: what a state change's transaction also puts."""
    items = []
    for event in events:
        envelope = event.model_dump(mode="json")
        # Envelope times are ISO strings already; occurred_at doubles as the index's sort key.
        expires = int((event.occurred_at + timedelta(days=EVENT_TTL_DAYS)).timestamp())
        items.append({
            **event_key(event.event_id), **envelope,
            "occurred_at": iso(event.occurred_at),
            "pending_partition": PENDING_PARTITION, TTL_ATTRIBUTE: expires,
        })
    return items


def event_from_item(item: Item) -> PipelineEvent:
    """The envelope of a stored event (what a sink delivers)."""
    return PipelineEvent.model_validate(
        {name: value for name, value in item.items() if name not in _STORAGE_ATTRIBUTES}
    )


def pending_event_from_image(image: Mapping[str, Any]) -> PipelineEvent | None:
    """The event in a stream record's NewImage (DynamoDB JSON), or None when the image is another
    kind of item or an event already published (the stream function's filter, in code)."""
    item = _from_wire(image)
    if not str(item.get("pk", "")).startswith(_EVENT_PK_PREFIX) or "pending_partition" not in item:
        return None
    return event_from_item(item)


class EventTable:
    """The outbox part of ResultsStore (see its docstrings for the contract)."""

    def __init__(self, table: TableClient) -> None:
        self.table = table

    def put_events(self, events: Sequence[PipelineEvent]) -> None:
        # One conditional put each: an event already stored (published or not) stays as it is,
        # so a fact reported twice is delivered once more at most, never reset to pending.
        for item in event_items(events):
            try:
                self.table.put(item, condition="attribute_not_exists(pk)")
            except ConditionFailed:
                continue

    def get_event(self, event_id: str) -> tuple[PipelineEvent, bool] | None:
        item = self.table.get(event_key(event_id))
        if item is None:
            return None
        return event_from_item(item), "published_at" in item

    def list_pending_events(self, limit: int = 100, older_than: datetime | None = None,
                            ) -> list[PipelineEvent]:
        pending = []
        for item in self.table.query(PENDING_EVENTS_INDEX, "pending_partition", PENDING_PARTITION):
            if older_than is not None and item["occurred_at"] >= iso(older_than):
                break  # sorted by occurred_at: the rest is newer still
            pending.append(event_from_item(item))
            if len(pending) >= limit:
                break
        return pending

    def mark_events_failed(self, event_ids: Sequence[str], reason: str, now: datetime) -> None:
        for event_id in dict.fromkeys(event_ids):
            try:
                self.table.update(
                    event_key(event_id),
                    "SET failed_reason = :reason, failed_at = :now REMOVE pending_partition",
                    condition="attribute_exists(pk)", values={":reason": reason, ":now": iso(now)},
                )
            except ConditionFailed:
                continue

    def mark_events_published(self, event_ids: Sequence[str], now: datetime) -> None:
        for event_id in dict.fromkeys(event_ids):
            try:
                self.table.update(
                    event_key(event_id), "SET published_at = :now REMOVE pending_partition",
                    condition="attribute_exists(pk)", values={":now": iso(now)},
                )
            except ConditionFailed:
                continue  # expired meanwhile: nothing left to mark

