"""Shared by the event action tests: booking kwargs, request counting, where events land."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from infra.ewssim import EwsSimulator
from pipeline.exchange.base import ExchangeGateway
from pipeline.exchange.types import EventRef
from pipeline.integrations import load_integration
from pipeline.store.records import BookingRecord
from tests.integration.pipeline_support import PipelineHarness
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
    """EWS requests per operation made inside `counting()` blocks (the simulator's exact counters);
    graph=True: the local Graph's requests (sim.graph.request_counts()) instead."""

    def __init__(self, sim: EwsSimulator, *, graph: bool = False) -> None:
        self.sim = sim
        self.graph = graph
        self.last: Counter[str] = Counter()

    def counts(self) -> dict[str, int]:
        return self.sim.graph.request_counts() if self.graph else self.sim.request_counts()

    @contextmanager
    def counting(self) -> Iterator[Counter[str]]:
        before = Counter(self.counts())
        made: Counter[str] = Counter()
        yield made
        made.update(Counter(self.counts()) - before)
        self.last = made


def messages(sim: EwsSimulator, mailbox: str, item_class: str) -> list[dict[str, Any]]:
    """Meeting messages of one kind a mailbox received: in its inbox, or in Deleted Items once answered
    (as a room's Resource Booking Attendant answers each request at once)."""
    received = [*sim.inbox(mailbox), *sim.folder_items(mailbox, "deleteditems")]
    return [item for item in received if item.get("item_class") == item_class]


def stamped(sim: EwsSimulator, mailbox: str, booking_key: str) -> list[dict[str, Any]]:
    """Calendar items in a mailbox stamped with this booking key."""
    return [
        item
        for item in sim.calendar(mailbox)
        if booking_key in item["extended_properties"].values() and item["organizer"] == item["mailbox"]
    ]


def gateway(pipeline: PipelineHarness, integration_id: str, mailbox: str = ALICE) -> ExchangeGateway:
    """The gateway a job of this integration uses: to act as an earlier, dead attempt did."""
    settings = load_integration(pipeline.installed[integration_id])
    return pipeline.runtime.gateways.gateway(settings, mailbox)


def long_ago(pipeline: PipelineHarness) -> datetime:
    """Further back than a job lease: a job begun then has a dead worker."""
    return datetime.now(UTC) - timedelta(seconds=pipeline.runtime.config.job_lease_seconds + 5)


def abandon_attempt(pipeline: PipelineHarness, message_id: str, actor: str, integration_id: str) -> None:
    """Record that a worker began this job and died (its lease ran out): the next delivery of the
    same message takes it over as its second attempt."""
    pipeline.store.begin_job(message_id, actor, integration_id, ALICE, long_ago(pipeline))


def claim(pipeline: PipelineHarness, integration_id: str, claimed_by: str, *, at: datetime | None = None,
          booking_key: str = "interview-1:slot-1", owner: str = ALICE) -> None:
    """A pending booking record, as create_event writes before its CreateItem."""
    pipeline.store.claim_booking(BookingRecord(
        integration_id=integration_id, booking_key=booking_key, mailbox=ALICE, calendar_mailbox=owner,
        item_id="", change_key="", updated_at=at or datetime.now(UTC), attendees=(BOB, CAROL, ROOM_A),
        claimed_by=claimed_by,
    ))


def recorded_ref(
    pipeline: PipelineHarness, integration_id: str, booking_key: str = "interview-1:slot-1"
) -> EventRef:
    """Where the booking record says the booking's event is."""
    record = pipeline.store.get_booking(integration_id, booking_key)
    assert record is not None and record.item_id
    return EventRef(record.item_id, record.change_key, record.calendar_mailbox)
