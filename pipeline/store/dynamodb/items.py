"""Table items to records: attribute names, time and result encodings (keys are in dynamodb.py)."""

from __future__ import annotations

import json
import zlib
from datetime import UTC, datetime
from typing import Any

from pipeline.contract.booking import BookingItem
from pipeline.errors import ErrorCode, PermanentError
from pipeline.store.dynamodb.table import Item
from pipeline.store.records import (
    BookingRecord,
    IntegrationRecord,
    JobRecord,
    JobStatus,
    SubscriptionRecord,
    SubscriptionStatus,
)

__all__ = [
    "booking_from_item",
    "booking_item_as_json",
    "encode_result",
    "epoch_ms",
    "integration_from_item",
    "iso",
    "job_from_item",
    "subscription_from_item",
]

# DynamoDB items are capped at 400 KB. Results above this are stored zlib-compressed (a year of
# free/busy for hundreds of people is mostly repetition); a result that is still too big fails.
_COMPRESS_ABOVE_BYTES = 64_000
_MAX_RESULT_BYTES = 350_000


def iso(moment: datetime) -> str:
    """A UTC timestamp in one fixed format, so that stored times sort as strings."""
    if moment.tzinfo is None:
        raise ValueError("store times must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since the Unix epoch (for numeric comparisons in conditions)."""
    return int(moment.timestamp() * 1000)


def _time(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def encode_result(result: dict[str, Any]) -> dict[str, Any]:
    """The attributes holding a job's result: `result` (JSON) or `result_zlib` when large."""
    try:
        text = json.dumps(result, separators=(",", ":"), sort_keys=True)
    except (TypeError, ValueError):
        raise PermanentError(ErrorCode.INTERNAL, "job result is not JSON-serialisable") from None
    data = text.encode("utf-8")
    if len(data) <= _COMPRESS_ABOVE_BYTES:
        return {"result": text}
    packed = zlib.compress(data, 6)
    if len(packed) > _MAX_RESULT_BYTES:
        raise PermanentError(
            ErrorCode.REQUEST_TOO_LARGE,
            f"job result is too large to record ({len(data)} bytes); split the request",
        )
    return {"result_zlib": packed}


def _decode_result(item: Item) -> dict[str, Any] | None:
    if "result" in item:
        decoded: dict[str, Any] = json.loads(item["result"])
        return decoded
    if "result_zlib" in item:
        packed = item["result_zlib"]
        raw = packed.value if hasattr(packed, "value") else packed  # boto3 Binary wrapper
        unpacked: dict[str, Any] = json.loads(zlib.decompress(raw))
        return unpacked
    return None


def job_from_item(item: Item) -> JobRecord:
    """Decode a job item."""
    lease_ms = item.get("lease_expires_ms")
    return JobRecord(
        message_id=item["message_id"],
        actor_name=item.get("actor_name", ""),
        integration_id=item.get("integration_id"),
        mailbox=item.get("mailbox"),
        status=JobStatus(item["status"]),
        attempts=item.get("attempts", 0),
        created_at=datetime.fromisoformat(item["created_at"]),
        updated_at=datetime.fromisoformat(item["updated_at"]),
        started_at=_time(item.get("started_at")),
        finished_at=_time(item.get("finished_at")),
        lease_expires_at=None if lease_ms is None else datetime.fromtimestamp(lease_ms / 1000, UTC),
        result=_decode_result(item),
        error_code=ErrorCode(item["error_code"]) if "error_code" in item else None,
        error_message=item.get("error_message"),
        error_retryable=item.get("error_retryable"),
        expires_at=item.get("expires_at"),
        run_started_at=_time(item.get("run_started_at")),
        redrives=item.get("redrives", 0),
    )


def booking_from_item(item: Item) -> BookingRecord:
    """Decode a booking item through its published model (BookingItem), so the two never differ."""
    stored = BookingItem.model_validate(booking_item_as_json(item))
    return BookingRecord(
        integration_id=stored.integration_id,
        booking_key=stored.booking_key,
        mailbox=stored.mailbox,
        calendar_mailbox=stored.calendar_mailbox,
        item_id=stored.item_id,
        change_key=stored.change_key,
        updated_at=stored.updated_at,
        invites_sent_to=tuple(stored.invites_sent_to),
        cancelled=stored.cancelled,
        attendees=tuple(stored.attendees),
        claimed_by=stored.claimed_by or None,
        state=stored.state,
        booked_start=stored.booked_start,
        booked_end=stored.booked_end,
        start=stored.start,
        end=stored.end,
        time_confirmed=stored.time_confirmed,
        responses=dict(stored.responses),
        attendee_classes=dict(stored.attendee_classes),
        calendar_folder_id=stored.calendar_folder_id,
        copies=tuple(stored.copies),
        invites_version=stored.invites_version or 0,
    )


def booking_item_as_json(item: Item) -> dict[str, Any]:
    """A booking item as JSON values: its string set becomes a sorted list (as the schema says)."""
    values = dict(item)
    if "invites_sent_to" in values:
        values["invites_sent_to"] = sorted(values["invites_sent_to"])
    return values


def subscription_from_item(item: Item) -> SubscriptionRecord:
    """Decode a subscription item."""
    return SubscriptionRecord(
        record_id=item["record_id"],
        subscription_id=item["subscription_id"],
        integration_id=item["integration_id"],
        mailbox=item["mailbox"],
        token_hash=item["token_hash"],
        watermark=item["watermark"],
        status_frequency_minutes=item["status_frequency_minutes"],
        created_at=datetime.fromisoformat(item["created_at"]),
        last_seen_at=datetime.fromisoformat(item["last_seen_at"]),
        status=SubscriptionStatus(item["status"]),
        superseded_by=item.get("superseded_by"),
        renewal_requested_at=_time(item.get("renewal_requested_at")),
        # Absent from items written before Graph subscriptions: EWS, no expiry.
        backend=item.get("backend", "ews"),
        expires_at=_time(item.get("expires_at")),
    )


def integration_from_item(item: Item) -> IntegrationRecord:
    """Decode an integration item."""
    return IntegrationRecord(
        integration_id=item["integration_id"],
        settings=json.loads(item["settings"]),
        updated_at=_time(item.get("updated_at")),
        login_form=item.get("login_form"),
        version=item.get("version", 0),
    )
