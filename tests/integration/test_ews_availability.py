"""EwsGateway.get_availability over real HTTP: request counts, chunking, details by permission."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra.ewssim import EwsSimulator, FaultKind
from infra.ewssim.models import CalendarItem
from pipeline.errors import ErrorCode, PermanentError, RetryableError
from pipeline.exchange.ews import EwsConnector
from pipeline.exchange.types import BusyType
from tests.integration import ews_support
from tests.integration.ews_support import (
    integration,
    seed_secrets,
)
from tests.seed import smtp

# Fixtures shared by the connection-layer tests (pytest finds them as module attributes).
secrets_client = ews_support.secrets_client
secret_source = ews_support.secret_source
connector = ews_support.connector

MONDAY = datetime(2030, 1, 7, tzinfo=UTC)
GUA = "GetUserAvailability"


def book(sim: EwsSimulator, owner: str, start: datetime, hours: float, **fields: Any) -> None:
    item = CalendarItem(start=start, end=start + timedelta(hours=hours), **fields)
    sim.backend.mailbox(smtp(owner)).put("calendar", item)


@pytest.fixture
def gateway(sim: EwsSimulator, connector: EwsConnector, secrets_client: Any) -> Any:
    seed_secrets(secrets_client, "delegate-basic", "delegate", "basic")
    return connector.gateway(integration(sim, "delegate"))


def test_250_mailboxes_take_three_requests_and_no_time_zone_lookup(sim: EwsSimulator, gateway: Any) -> None:
    sim.seed({"users": [{"smtp": f"user{i}@example.com", "name": f"User {i}"} for i in range(250)]})
    people = [f"user{i}@example.com" for i in range(250)]
    # A cold gateway (version pinned): the first job costs exactly one request per 100 mailboxes.
    answers = gateway.get_availability(people, MONDAY, MONDAY + timedelta(days=5))
    assert sim.request_counts() == {GUA: 3}
    assert [a.mailbox for a in answers] == people and all(a.ok for a in answers)
    # A warm one: the same again, and still no GetServerTimeZones.
    gateway.get_availability(people, MONDAY, MONDAY + timedelta(days=5))
    assert sim.request_counts() == {GUA: 6}


def test_a_60_day_window_takes_two_chunks_and_joins_them(sim: EwsSimulator, gateway: Any) -> None:
    boundary = MONDAY + timedelta(days=42)
    book(sim, "alice", boundary - timedelta(hours=1), 2, subject="Across the seam")
    book(sim, "alice", MONDAY + timedelta(days=50, hours=9), 1, legacy_free_busy_status="OOF")
    answers = gateway.get_availability(
        [smtp("alice")], MONDAY, MONDAY + timedelta(days=60), merged_interval_minutes=60
    )
    assert sim.request_counts() == {GUA: 2}
    alice = answers[0]
    assert [(i.start, i.busy_type) for i in alice.intervals] == [
        (boundary - timedelta(hours=1), BusyType.BUSY),
        (MONDAY + timedelta(days=50, hours=9), BusyType.OOF),
    ]
    assert alice.merged is not None and len(alice.merged) == 60 * 24


def test_details_only_where_the_permission_gives_them(sim: EwsSimulator, gateway: Any) -> None:
    for owner in ("alice", "bob", "carol"):
        book(
            sim,
            owner,
            MONDAY + timedelta(hours=10),
            1,
            subject=f"{owner} 1:1",
            location="Room A",
            legacy_free_busy_status="Tentative",
        )
    book(sim, "carol", MONDAY + timedelta(hours=14), 1, subject="Doctor", sensitivity="Private")
    answers = gateway.get_availability(
        [smtp("alice"), smtp("bob"), smtp("carol")], MONDAY, MONDAY + timedelta(days=1), detailed=True
    )
    alice, bob, carol = answers
    assert (alice.intervals[0].subject, alice.intervals[0].location) == ("alice 1:1", "Room A")  # Delegate
    assert (bob.intervals[0].subject, bob.intervals[0].busy_type) == (None, BusyType.TENTATIVE)  # times only
    assert carol.intervals[0].subject == "carol 1:1"  # Reviewer
    assert carol.intervals[1].subject != "Doctor"  # private
    assert sim.request_counts() == {GUA: 1}


def test_working_hours(gateway: Any) -> None:
    bob = gateway.get_availability([smtp("bob")], MONDAY, MONDAY + timedelta(days=1))[0]
    assert bob.working_hours.utc_offset_minutes == -300  # America/New_York, standard time
    period = bob.working_hours.periods[0]
    assert (period.days[0], period.start_minute, period.end_minute) == ("Monday", 9 * 60, 17 * 60)


def test_one_unknown_mailbox_does_not_sink_the_others(sim: EwsSimulator, gateway: Any) -> None:
    book(sim, "bob", MONDAY + timedelta(hours=9), 1)
    asked = ["Bob@Example.com", "ghost@example.com", smtp("bob")]
    answers = gateway.get_availability(asked, MONDAY, MONDAY + timedelta(days=1))
    assert [a.mailbox for a in answers] == [smtp("bob"), "ghost@example.com", smtp("bob")]
    assert answers[1].error_code is ErrorCode.UNKNOWN_MAILBOX and answers[0].ok
    assert len(answers[0].intervals) == 1
    assert sim.request_counts() == {GUA: 1}  # duplicates are asked for once


def test_server_busy_is_retryable_with_the_servers_back_off(sim: EwsSimulator, gateway: Any) -> None:
    sim.faults.fail(FaultKind.SERVER_BUSY, operation=GUA, count=1, back_off_ms=2500)
    with pytest.raises(RetryableError) as caught:
        gateway.get_availability([smtp("alice")], MONDAY, MONDAY + timedelta(days=1))
    assert (caught.value.code, caught.value.delay_ms) == (ErrorCode.SERVER_BUSY, 2500)


def test_naive_times_are_rejected_before_any_request(sim: EwsSimulator, gateway: Any) -> None:
    with pytest.raises(PermanentError) as caught:
        gateway.get_availability([smtp("alice")], datetime(2030, 1, 7), datetime(2030, 1, 8))
    assert caught.value.code is ErrorCode.INVALID_KWARGS
    assert sim.request_counts() == {}


@pytest.mark.parametrize(("method", "auth"), [("impersonation", "basic"), ("impersonation", "oauth2")])
def test_impersonating_methods_ask_as_the_jobs_user(
    sim: EwsSimulator,
    connector: EwsConnector,
    secrets_client: Any,
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    auth: str,
) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    seed_secrets(secrets_client, f"{method}-{auth}", method, auth)
    gateway = connector.gateway(integration(sim, method, auth), smtp("alice"))
    gateway.get_availability([smtp("bob")], MONDAY, MONDAY + timedelta(days=1))
    assert [r.impersonated for r in sim.request_log(GUA)] == [smtp("alice")]


def test_rooms(gateway: Any) -> None:
    lists = gateway.list_room_lists()
    assert [(r.email, r.name) for r in lists] == [
        (smtp("building-1"), "Building 1"),
        (smtp("building-2"), "Building 2"),
    ]
    assert [r.email for r in gateway.list_rooms(smtp("building-2"))] == [smtp("room-c"), smtp("room-d")]
