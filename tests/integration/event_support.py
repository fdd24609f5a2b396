"""Shared by the event action tests: booking kwargs, request counting, where events land."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from infra.ewssim import EwsSimulator
from tests.seed import smtp

ALICE, BOB, CAROL, ROOM_A = smtp("alice"), smtp("bob"), smtp("carol"), smtp("room-a")
MEETING_REQUEST = "IPM.Schedule.Meeting.Request"
MEETING_CANCELLED = "IPM.Schedule.Meeting.Canceled"


def booking(integration_id: str, booking_key: str = "interview-1:slot-1", **overrides: Any) -> dict[str, Any]:
    """create_event kwargs for alice, inviting bob (required), carol (optional) and room A."""
    kwargs: dict[str, Any] = {
        "integration_id": integration_id,
        "mailbox": ALICE,
        "booking_key": booking_key,
        "subject": "Interview: {{ candidate }}",
        "body": "<p>Panel interview with {{ candidate }}</p>",
        "body_type": "html",
        "start": "2026-11-03T14:00:00Z",
        "end": "2026-11-03T15:00:00Z",
        "time_zone": "Europe/London",
        "location": "Room A",
        "required_attendees": [{"email": BOB, "name": "Bob Baker"}],
        "optional_attendees": [{"email": CAROL}],
        "rooms": [ROOM_A],
        "template_vars": {"candidate": "Dana Diaz"},
    }
    kwargs.update(overrides)
    return kwargs


def follow_up(integration_id: str, booking_key: str = "interview-1:slot-1", **extra: Any) -> dict[str, Any]:
    """Kwargs of send_invite / update_event / cancel_event for the same booking."""
    return {"integration_id": integration_id, "mailbox": ALICE, "booking_key": booking_key, **extra}


def calendar_owner(method: str) -> str:
    """Whose calendar a booking for alice lands in under each connection method."""
    return smtp("svc") if method == "dedicated" else ALICE


class RequestCounter:
    """EWS requests per operation made inside `counting()` blocks (the simulator's exact counters)."""

    def __init__(self, sim: EwsSimulator) -> None:
        self.sim = sim
        self.last: Counter[str] = Counter()

    @contextmanager
    def counting(self) -> Iterator[Counter[str]]:
        before = Counter(self.sim.request_counts())
        made: Counter[str] = Counter()
        yield made
        made.update(Counter(self.sim.request_counts()) - before)
        self.last = made


def messages(sim: EwsSimulator, mailbox: str, item_class: str) -> list[dict[str, Any]]:
    """Meeting messages of one kind in a mailbox's inbox."""
    return [item for item in sim.inbox(mailbox) if item.get("item_class") == item_class]


def stamped(sim: EwsSimulator, mailbox: str, booking_key: str) -> list[dict[str, Any]]:
    """Calendar items in a mailbox stamped with this booking key."""
    return [
        item
        for item in sim.calendar(mailbox)
        if booking_key in item["extended_properties"].values() and item["organizer"] == item["mailbox"]
    ]
