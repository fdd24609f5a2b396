"""Subscription records: one per push subscription; a renewal adds a record and supersedes the old."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pipeline.errors import ErrorCode, PermanentError
from pipeline.store.dynamodb.items import iso, subscription_from_item
from pipeline.store.dynamodb.keys import ACTIVE_INDEX, ACTIVE_PARTITION, TOKEN_INDEX, subscription_key
from pipeline.store.dynamodb.table import ConditionFailed, TableClient
from pipeline.store.records import SubscriptionRecord, SubscriptionStatus

__all__ = ["SubscriptionTable"]


def _not_found(record_id: str) -> PermanentError:
    return PermanentError(ErrorCode.SUBSCRIPTION_NOT_FOUND, f"no subscription record {record_id!r}")


class SubscriptionTable:
    """The subscription part of ResultsStore (see its docstrings for the contract)."""

    def __init__(self, table: TableClient) -> None:
        self.table = table

    def put_subscription(self, subscription: SubscriptionRecord) -> None:
        item: dict[str, Any] = {
            **subscription_key(subscription.record_id),
            "record_id": subscription.record_id,
            "subscription_id": subscription.subscription_id,
            "integration_id": subscription.integration_id,
            "mailbox": subscription.mailbox,
            "token_hash": subscription.token_hash,
            "watermark": subscription.watermark,
            "status_frequency_minutes": subscription.status_frequency_minutes,
            "created_at": iso(subscription.created_at),
            "last_seen_at": iso(subscription.last_seen_at),
            "status": subscription.status.value,
        }
        if subscription.superseded_by:
            item["superseded_by"] = subscription.superseded_by
        if subscription.renewal_requested_at:
            item["renewal_requested_at"] = iso(subscription.renewal_requested_at)
        if subscription.backend != "ews":  # EWS items keep the shape they always had
            item["backend"] = subscription.backend
        if subscription.expires_at:
            item["expires_at"] = iso(subscription.expires_at)
        if subscription.status is SubscriptionStatus.ACTIVE:
            item["active_partition"] = ACTIVE_PARTITION
        try:
            self.table.put(item, condition="attribute_not_exists(pk)")
        except ConditionFailed:
            raise PermanentError(
                ErrorCode.CONFLICT, f"subscription record {subscription.record_id!r} already exists"
            ) from None

    def get_subscription(self, record_id: str) -> SubscriptionRecord | None:
        item = self.table.get(subscription_key(record_id))
        return None if item is None else subscription_from_item(item)

    def find_subscription_by_token_hash(self, token_hash: str) -> SubscriptionRecord | None:
        for item in self.table.query(TOKEN_INDEX, "token_hash", token_hash):
            return subscription_from_item(item)
        return None

    def list_active_subscriptions(self) -> list[SubscriptionRecord]:
        return [subscription_from_item(item)
                for item in self.table.query(ACTIVE_INDEX, "active_partition", ACTIVE_PARTITION)]

    def record_notification(self, record_id: str, seen_at: datetime, watermark: str | None = None) -> None:
        assignments = "last_seen_at = :seen" + (", watermark = :watermark" if watermark else "")
        values: dict[str, Any] = {":seen": iso(seen_at)}
        if watermark:
            values[":watermark"] = watermark
        try:
            # Notifications can arrive out of order; an older one must not move the watermark back.
            # Once a renewal is requested the record keeps its last good watermark, even against a
            # notification that read the record before the request was written.
            self.table.update(subscription_key(record_id), "SET " + assignments,
                              condition="attribute_exists(pk) AND last_seen_at <= :seen "
                                        "AND attribute_not_exists(renewal_requested_at)",
                              values=values)
        except ConditionFailed:
            if self.get_subscription(record_id) is None:
                raise _not_found(record_id) from None

    def mark_subscription_for_renewal(self, record_id: str, now: datetime) -> None:
        try:
            # if_not_exists: a repeated report keeps the time events were first lost.
            self.table.update(subscription_key(record_id),
                              "SET renewal_requested_at = if_not_exists(renewal_requested_at, :now)",
                              condition="attribute_exists(pk)", values={":now": iso(now)})
        except ConditionFailed:
            raise _not_found(record_id) from None

    def record_subscription_extended(self, record_id: str, expires_at: datetime, now: datetime) -> bool:
        try:
            # Renewed in place: the new expiry, and a requested renewal is done. Only while active:
            # a superseded or dropped record stays as it is.
            self.table.update(subscription_key(record_id),
                              "SET expires_at = :expires, updated_at = :now REMOVE renewal_requested_at",
                              condition="#status = :active",
                              names={"#status": "status"},
                              values={":expires": iso(expires_at), ":now": iso(now),
                                      ":active": SubscriptionStatus.ACTIVE.value})
            return True
        except ConditionFailed:
            if self.get_subscription(record_id) is None:
                raise _not_found(record_id) from None
            return False

    def mark_subscription_superseded(self, record_id: str, new_record_id: str, now: datetime) -> bool:
        try:
            self.table.update(
                subscription_key(record_id),
                "SET #status = :superseded, superseded_by = :new, updated_at = :now "
                "REMOVE active_partition",
                condition="#status = :active",
                names={"#status": "status"},
                values={":superseded": SubscriptionStatus.SUPERSEDED.value, ":new": new_record_id,
                        ":now": iso(now), ":active": SubscriptionStatus.ACTIVE.value},
            )
            return True
        except ConditionFailed:
            if self.get_subscription(record_id) is None:
                raise _not_found(record_id) from None
            return False

    def mark_subscription_dropped(self, record_id: str, now: datetime) -> None:
        try:
            self.table.update(
                subscription_key(record_id),
                "SET #status = :dropped, updated_at = :now REMOVE active_partition",
                condition="attribute_exists(pk)",
                names={"#status": "status"},
                values={":dropped": SubscriptionStatus.DROPPED.value, ":now": iso(now)},
            )
        except ConditionFailed:
            raise _not_found(record_id) from None
