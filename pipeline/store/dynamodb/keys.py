"""The table's shape: every key, index and TTL attribute, and the table definition itself."""

from __future__ import annotations

from typing import Any

__all__ = [
    "ACTIVE_INDEX",
    "ACTIVE_PARTITION",
    "BOOKING_ITEM_ATTRIBUTE",
    "BOOKING_ITEM_INDEX",
    "EVENT_TTL_DAYS",
    "INTEGRATION_PREFIX",
    "PENDING_EVENTS_INDEX",
    "PENDING_PARTITION",
    "TOKEN_INDEX",
    "TTL_ATTRIBUTE",
    "booking_item",
    "booking_key",
    "calendar_sync_key",
    "create_table",
    "event_key",
    "integration_key",
    "job_key",
    "subscription_key",
]

# One table, pk/sk. Integration ids and booking keys cannot contain '#' (see the contract's
# patterns), so the composite keys below cannot collide.
TTL_ATTRIBUTE = "expires_at"  # epoch seconds, on job records
TOKEN_INDEX = "by_token_hash"  # token_hash -> subscription; sparse: only subscriptions have it
ACTIVE_INDEX = "active_subscriptions"  # active_partition (set only while active), by last_seen_at
ACTIVE_PARTITION = "ACTIVE"
# booking_item (set only while a booking has an item id) -> booking; keys only, the store reads
# the booking itself afterwards (consistently) to confirm the item id is still its own.
BOOKING_ITEM_INDEX = "by_booking_item"
BOOKING_ITEM_ATTRIBUTE = "booking_item"
# The outbox: events not yet published carry pending_partition (sparse), sorted by occurred_at,
# so that a sweep finds what a sink missed, oldest first.
PENDING_EVENTS_INDEX = "pending_events"
PENDING_PARTITION = "PENDING"
EVENT_TTL_DAYS = 30  # published or not, an event outlives any sink outage by far


def job_key(message_id: str) -> dict[str, str]:
    """Key of a job record."""
    return {"pk": f"JOB#{message_id}", "sk": "JOB"}


def booking_key(integration_id: str, booking_key: str) -> dict[str, str]:
    """Key of a booking record."""
    return {"pk": f"BOOKING#{integration_id}#{booking_key}", "sk": "BOOKING"}


def booking_item(integration_id: str, item_id: str) -> str:
    """Value of a booking's BOOKING_ITEM_ATTRIBUTE: its Exchange item id, scoped to its integration."""
    return f"BOOKING_ITEM#{integration_id}#{item_id}"


def subscription_key(record_id: str) -> dict[str, str]:
    """Key of a subscription record."""
    return {"pk": f"SUBSCRIPTION#{record_id}", "sk": "SUBSCRIPTION"}


def event_key(event_id: str) -> dict[str, str]:
    """Key of an outbox event."""
    return {"pk": f"EVENT#{event_id}", "sk": "EVENT"}


def calendar_sync_key(integration_id: str, mailbox: str) -> dict[str, str]:
    """Key of a mailbox calendar's sync state (mailboxes are lower-cased; '#' is not in addresses
    the contract accepts, and the integration id cannot hold one)."""
    return {"pk": f"CALENDAR_SYNC#{integration_id}#{mailbox.lower()}", "sk": "CALENDAR_SYNC"}


INTEGRATION_PREFIX = "INTEGRATION#"


def integration_key(integration_id: str) -> dict[str, str]:
    """Key of an integration's settings."""
    return {"pk": f"{INTEGRATION_PREFIX}{integration_id}", "sk": "INTEGRATION"}


def create_table(client: Any, table_name: str) -> None:
    """Create the table with its indexes and TTL (for local runs and tests); no-op if it exists.

    Deployed stacks get the same table from template.yaml; keep the two in step.
    """
    try:
        client.create_table(
            TableName=table_name,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": name, "AttributeType": "S"}
                for name in ("pk", "sk", "token_hash", "active_partition", "last_seen_at",
                             BOOKING_ITEM_ATTRIBUTE, "pending_partition", "occurred_at")
            ],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                       {"AttributeName": "sk", "KeyType": "RANGE"}],
            GlobalSecondaryIndexes=[
                {"IndexName": TOKEN_INDEX,
                 "KeySchema": [{"AttributeName": "token_hash", "KeyType": "HASH"}],
                 "Projection": {"ProjectionType": "ALL"}},
                {"IndexName": ACTIVE_INDEX,
                 "KeySchema": [{"AttributeName": "active_partition", "KeyType": "HASH"},
                               {"AttributeName": "last_seen_at", "KeyType": "RANGE"}],
                 "Projection": {"ProjectionType": "ALL"}},
                {"IndexName": BOOKING_ITEM_INDEX,
                 "KeySchema": [{"AttributeName": BOOKING_ITEM_ATTRIBUTE, "KeyType": "HASH"}],
                 "Projection": {"ProjectionType": "KEYS_ONLY"}},
                {"IndexName": PENDING_EVENTS_INDEX,
                 "KeySchema": [{"AttributeName": "pending_partition", "KeyType": "HASH"},
                               {"AttributeName": "occurred_at", "KeyType": "RANGE"}],
                 "Projection": {"ProjectionType": "ALL"}},
            ],
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
        )
    except client.exceptions.ResourceInUseException:
        return
    client.get_waiter("table_exists").wait(TableName=table_name)
    client.update_time_to_live(
        TableName=table_name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
    )
