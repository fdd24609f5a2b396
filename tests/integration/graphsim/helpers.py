"""Small builders shared by the Graph simulator tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.exchange.ews.booking_stamp import PROPERTY_SET_ID
from tests.seed import smtp

BOOKING_KEY_ID = f"String {{{PROPERTY_SET_ID}}} Name BookingKey"
ALICE = smtp("alice")
BOB = smtp("bob")


def when(days: int = 7, hour: int = 10) -> datetime:
    base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=days)
    return base.replace(hour=hour)


def dtz(moment: datetime, zone: str = "UTC") -> dict[str, str]:
    return {"dateTime": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": zone}


def event_body(
    subject: str = "Booking",
    *,
    start: datetime | None = None,
    minutes: int = 60,
    attendees: list[str] = (),
    key: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    start = start or when()
    body: dict[str, Any] = {
        "subject": subject,
        "start": dtz(start),
        "end": dtz(start + timedelta(minutes=minutes)),
        "attendees": [{"emailAddress": {"address": a}, "type": "required"} for a in attendees],
        **extra,
    }
    if key is not None:
        body["singleValueExtendedProperties"] = [{"id": BOOKING_KEY_ID, "value": key}]
    return body
