"""fetch_free_busy through run_job: every connection method, request counts, titles by permission."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra.ewssim import EwsSimulator
from infra.ewssim.models import CalendarItem
from pipeline.contract import JobOutcome, JobStatus
from tests.integration.pipeline_support import METHOD_AUTH_PAIRS, PipelineHarness, pipeline
from tests.seed import smtp

__all__ = ["pipeline"]  # the fixture, re-exported for pytest

MONDAY = datetime(2030, 1, 7, tzinfo=UTC)
GUA = "GetUserAvailability"


@pytest.fixture(autouse=True)
def _local_oauth(monkeypatch: pytest.MonkeyPatch) -> None:
    # The simulator's token endpoint is plain http on localhost.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


def book(sim: EwsSimulator, owner: str, start: datetime, hours: float, **fields: Any) -> None:
    item = CalendarItem(start=start, end=start + timedelta(hours=hours), **fields)
    sim.backend.mailbox(smtp(owner)).put("calendar", item)


def fetch(pipeline: PipelineHarness, integration_id: str, mailboxes: list[str], days: float = 1,
          **kwargs: Any) -> JobOutcome:
    return pipeline.run(
        "fetch_free_busy",
        integration_id=integration_id,
        mailboxes=mailboxes,
        start=MONDAY.isoformat(),
        end=(MONDAY + timedelta(days=days)).isoformat(),
        **kwargs,
    )


def succeeded(outcome: JobOutcome) -> dict[str, Any]:
    assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    assert outcome.result is not None
    return outcome.result


def many_users(sim: EwsSimulator, count: int) -> list[str]:
    people = [f"user{i}@example.com" for i in range(count)]
    sim.seed({"users": [{"smtp": person, "name": person} for person in people]})
    return people


@pytest.mark.parametrize(("method", "auth"), METHOD_AUTH_PAIRS)
def test_every_connection_method_and_auth_type(
    pipeline: PipelineHarness, sim: EwsSimulator, method: str, auth: str
) -> None:
    # Given a meeting in alice's and an out-of-office day in bob's calendar
    book(sim, "alice", MONDAY + timedelta(hours=9), 1)
    book(sim, "bob", MONDAY, 24, legacy_free_busy_status="OOF")
    integration_id = pipeline.install(method, auth)

    # When one job asks for all three users
    result = succeeded(fetch(pipeline, integration_id, [smtp("alice"), smtp("bob"), smtp("carol")]))

    # Then each comes back in order, with its intervals, in exactly one EWS request
    alice, bob, carol = result["mailboxes"]
    assert [m["email"] for m in result["mailboxes"]] == [smtp("alice"), smtp("bob"), smtp("carol")]
    assert [(i["start"], i["busy_type"]) for i in alice["intervals"]] == [("2030-01-07T09:00:00Z", "busy")]
    assert [i["busy_type"] for i in bob["intervals"]] == ["oof"]
    assert carol["intervals"] == [] and carol["error"] is None
    assert sim.request_counts() == {GUA: 1}


def test_ten_mailboxes_cost_one_request_and_a_warm_worker_asks_no_time_zones(
    pipeline: PipelineHarness, sim: EwsSimulator
) -> None:
    people = many_users(sim, 10)
    integration_id = pipeline.install("delegate")

    succeeded(fetch(pipeline, integration_id, people))
    assert sim.request_counts() == {GUA: 1}

    # The second job on the same (now warm) runtime: again one request, and no GetServerTimeZones.
    succeeded(fetch(pipeline, integration_id, people))
    assert sim.request_counts() == {GUA: 2}
    assert sim.request_counts().get("GetServerTimeZones", 0) == 0


def test_250_mailboxes_cost_three_requests(pipeline: PipelineHarness, sim: EwsSimulator) -> None:
    people = many_users(sim, 250)
    integration_id = pipeline.install("dedicated")

    result = succeeded(fetch(pipeline, integration_id, people))

    assert [m["email"] for m in result["mailboxes"]] == people
    assert all(m["error"] is None for m in result["mailboxes"])
    assert sim.request_counts() == {GUA: 3}
    # Each request stayed within EWS's limit of 100 mailboxes.
    assert len(sim.request_log(GUA)) == 3


def test_a_60_day_window_costs_two_chunks_per_hundred_mailboxes(
    pipeline: PipelineHarness, sim: EwsSimulator
) -> None:
    people = [smtp("alice"), *many_users(sim, 149)]  # 150 mailboxes: two batches
    boundary = MONDAY + timedelta(days=42)
    book(sim, "alice", boundary - timedelta(hours=1), 2)  # straddles the chunk boundary
    integration_id = pipeline.install("delegate")

    result = succeeded(fetch(pipeline, integration_id, people, days=60, merged_interval_minutes=60))

    assert sim.request_counts() == {GUA: 2 * 2}
    alice = result["mailboxes"][0]
    assert [(i["start"], i["end"]) for i in alice["intervals"]] == [
        ("2030-02-17T23:00:00Z", "2030-02-18T01:00:00Z")  # once, though both chunks saw it
    ]
    merged = alice["merged_free_busy"]
    assert len(merged) == 60 * 24 and merged.count("2") == 2


def test_titles_shown_only_where_the_integration_and_the_permission_allow(
    pipeline: PipelineHarness, sim: EwsSimulator
) -> None:
    for owner in ("alice", "bob", "carol"):
        book(sim, owner, MONDAY + timedelta(hours=10), 1, subject=f"{owner} 1:1", location="Room A")
    book(sim, "alice", MONDAY + timedelta(hours=14), 1, subject="Doctor", location="Clinic",
         sensitivity="Private")
    shown = pipeline.install("delegate", integration_id="titles-on", show_event_titles=True)

    result = succeeded(fetch(pipeline, shown, [smtp("alice"), smtp("bob"), smtp("carol")], view="detailed"))

    alice, bob, carol = result["mailboxes"]
    assert (carol["intervals"][0]["subject"], carol["intervals"][0]["location"]) == ("carol 1:1", "Room A")
    assert (bob["intervals"][0]["subject"], bob["intervals"][0]["location"]) == (None, None)  # times only
    assert alice["intervals"][0]["subject"] == "alice 1:1"  # delegate
    private = alice["intervals"][1]
    assert (private["subject"], private["location"]) == (None, None)


def test_no_titles_when_the_integration_hides_them_even_for_the_owner(
    pipeline: PipelineHarness, sim: EwsSimulator
) -> None:
    book(sim, "alice", MONDAY + timedelta(hours=10), 1, subject="Board meeting", location="Room A")
    # Exchange shows owners their own private items in full; the pipeline still never does.
    book(sim, "alice", MONDAY + timedelta(hours=14), 1, subject="Doctor", location="Clinic",
         sensitivity="Private")
    hidden = pipeline.install("personal", integration_id="titles-off", show_event_titles=False)
    shown = pipeline.install("personal", integration_id="titles-on", show_event_titles=True)

    # A personal integration reads as alice: she owns the calendar, yet titles stay hidden.
    off = succeeded(fetch(pipeline, hidden, [smtp("alice")], view="detailed"))
    on = succeeded(fetch(pipeline, shown, [smtp("alice")], view="detailed"))
    # Without view=detailed the job never asks for details, whatever the integration allows.
    plain = succeeded(fetch(pipeline, shown, [smtp("alice")]))

    assert [(i["subject"], i["location"]) for i in off["mailboxes"][0]["intervals"]] == [(None, None)] * 2
    assert [(i["subject"], i["location"]) for i in on["mailboxes"][0]["intervals"]] == [
        ("Board meeting", "Room A"),
        (None, None),
    ]
    assert plain["mailboxes"][0]["intervals"][0]["subject"] is None
    assert [r.caller for r in sim.request_log(GUA)] == [smtp("alice")] * 3


def test_an_unknown_mailbox_is_reported_without_failing_the_job(
    pipeline: PipelineHarness, sim: EwsSimulator
) -> None:
    book(sim, "bob", MONDAY + timedelta(hours=9), 1, legacy_free_busy_status="Tentative")
    integration_id = pipeline.install("delegate")

    result = succeeded(fetch(pipeline, integration_id, [smtp("bob"), "ghost@example.com"]))

    bob, ghost = result["mailboxes"]
    assert [i["busy_type"] for i in bob["intervals"]] == ["tentative"] and bob["error"] is None
    assert ghost["error"]["code"] == "UNKNOWN_MAILBOX" and ghost["intervals"] == []
    assert sim.request_counts() == {GUA: 1}


def test_working_hours_and_free_items(pipeline: PipelineHarness, sim: EwsSimulator) -> None:
    book(sim, "bob", MONDAY + timedelta(hours=12), 1, legacy_free_busy_status="Free")
    integration_id = pipeline.install("delegate")

    bob = succeeded(fetch(pipeline, integration_id, [smtp("bob")]))["mailboxes"][0]

    assert bob["working_hours"] == {
        "time_zone": "Etc/GMT+5",  # America/New_York's standard offset
        "days": ["monday", "tuesday", "wednesday", "thursday", "friday"],
        "start_time": "09:00:00",
        "end_time": "17:00:00",
    }
    assert bob["intervals"] == []  # free time is not busy time
