"""fetch_free_busy with busy calendars beyond the default ones: secondary calendars, another
mailbox's shared calendar, per-mailbox overrides, permission shortfalls, exact request counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra.ewssim import EwsSimulator
from infra.ewssim.models import CalendarItem
from pipeline.contract import JobOutcome, JobStatus
from pipeline.errors import ErrorCode
from tests.integration.pipeline_support import METHOD_AUTH_PAIRS, PipelineHarness, pipeline
from tests.seed import smtp

__all__ = ["pipeline"]  # the fixture, re-exported for pytest

MONDAY = datetime(2030, 1, 7, tzinfo=UTC)
GUA = "GetUserAvailability"
ALICE, BOB, CAROL = smtp("alice"), smtp("bob"), smtp("carol")


@pytest.fixture(autouse=True)
def _local_oauth(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


def secondary(sim: EwsSimulator, owner: str, path: str, **grants: str) -> str:
    """A calendar at `path` in owner's mailbox, shared with the named logons; its folder id."""
    folder_id = sim.create_folder(owner, path)
    for grantee, level in grants.items():
        sim.grant_folder_permission(owner, smtp(grantee), level, path)
    return folder_id


def book(
    sim: EwsSimulator, owner: str, folder: str, start: datetime, hours: float = 1, **fields: Any
) -> None:
    item = CalendarItem(start=start, end=start + timedelta(hours=hours), **fields)
    sim.backend.mailbox(owner).put(folder, item)


def fetch(pipeline: PipelineHarness, integration_id: str, mailboxes: list[str], days: float = 1,
          **kwargs: Any) -> JobOutcome:
    return pipeline.run(
        "fetch_free_busy", integration_id=integration_id, mailboxes=mailboxes,
        start=MONDAY.isoformat(), end=(MONDAY + timedelta(days=days)).isoformat(), **kwargs,
    )


def succeeded(outcome: JobOutcome) -> dict[str, Any]:
    assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    assert outcome.result is not None
    return outcome.result


def spans(entry: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    return [(i["start"], i["busy_type"], i["calendar"]) for i in entry["intervals"]]


@pytest.mark.parametrize(("method", "auth"), METHOD_AUTH_PAIRS)
def test_busy_time_from_a_secondary_calendar(
    pipeline: PipelineHarness, sim: EwsSimulator, method: str, auth: str
) -> None:
    # Given bob's Interviews calendar beneath his Calendar, shared (Reviewer) with the service
    # logon and with alice (a personal integration reads as her; she sees that bob's Calendar has
    # it); impersonation reads as bob.
    sim.grant_folder_permission(BOB, ALICE, "FreeBusyTimeOnly")
    interviews = secondary(sim, BOB, "Calendar/Interviews", svc="Reviewer", alice="Reviewer")
    book(sim, BOB, "calendar", MONDAY + timedelta(hours=9))
    book(sim, BOB, interviews, MONDAY + timedelta(hours=11), legacy_free_busy_status="Tentative")
    integration_id = pipeline.install(method, auth, busy_calendars=["Calendar/Interviews"])

    # When alice's booking page asks for bob's busy time
    result = succeeded(fetch(pipeline, integration_id, [BOB], mailbox=ALICE))

    # Then both calendars count, the secondary one marked, for one more FindItem and one FindFolder
    assert spans(result["mailboxes"][0]) == [
        ("2030-01-07T09:00:00Z", "busy", None),
        ("2030-01-07T11:00:00Z", "tentative", "Calendar/Interviews"),
    ]
    assert sim.request_counts() == {GUA: 1, "FindFolder": 1, "FindItem": 1}
    assert (result["calendar_view_requests"], result["folder_lookup_requests"]) == (1, 1)

    # A warm worker has the folder: the next job costs exactly one FindItem more than before.
    again = succeeded(fetch(pipeline, integration_id, [BOB], mailbox=ALICE))
    assert sim.request_counts() == {GUA: 2, "FindFolder": 1, "FindItem": 2}
    assert (again["calendar_view_requests"], again["folder_lookup_requests"]) == (1, 0)


def test_busy_time_from_another_mailboxs_shared_calendar(
    pipeline: PipelineHarness, sim: EwsSimulator
) -> None:
    # carol's calendar is shared with svc (Reviewer, in the standard organisation).
    book(sim, CAROL, "calendar", MONDAY + timedelta(hours=13), subject="Team offsite", location="Hall")
    integration_id = pipeline.install("delegate", busy_calendars=[{"mailbox": CAROL, "path": "Calendar"}],
                                      show_event_titles=True)

    result = succeeded(fetch(pipeline, integration_id, [ALICE], view="detailed"))

    [interval] = result["mailboxes"][0]["intervals"]
    assert interval["calendar"] == f"{CAROL}:Calendar"
    assert (interval["start"], interval["subject"], interval["location"]) == (
        "2030-01-07T13:00:00Z", "Team offsite", "Hall"
    )
    # Another mailbox's default calendar is checked for Reviewer with one GetFolder.
    assert sim.request_counts() == {GUA: 1, "GetFolder": 1, "FindItem": 1}


def test_250_mailboxes_and_two_shared_calendars_cost_three_plus_two_requests(
    pipeline: PipelineHarness, sim: EwsSimulator
) -> None:
    people = [f"user{i}@example.com" for i in range(250)]
    sim.seed({"users": [{"smtp": person, "name": person} for person in people]})
    holidays = secondary(sim, BOB, "Calendar/Holidays", svc="Reviewer")
    book(sim, BOB, holidays, MONDAY, hours=24, legacy_free_busy_status="OOF")
    book(sim, CAROL, "calendar", MONDAY + timedelta(hours=15))
    integration_id = pipeline.install("dedicated", busy_calendars=[
        {"mailbox": CAROL, "path": "Calendar"}, {"mailbox": BOB, "path": "Calendar/Holidays"},
    ])
    # Default calendars only: one GetUserAvailability per 100 mailboxes, as without calendars.
    plain = pipeline.install("dedicated", integration_id="dedicated-plain")
    succeeded(fetch(pipeline, plain, people))
    assert sim.request_counts() == {GUA: 3}

    cold = succeeded(fetch(pipeline, integration_id, people))
    warm = succeeded(fetch(pipeline, integration_id, people))

    # Each shared calendar is read once for all 250 people that count it.
    assert sim.request_counts() == {GUA: 9, "GetFolder": 1, "FindFolder": 1, "FindItem": 4}
    assert (cold["calendar_view_requests"], cold["folder_lookup_requests"]) == (2, 2)
    assert (warm["calendar_view_requests"], warm["folder_lookup_requests"]) == (2, 0)
    assert all(
        spans(entry) == [
            ("2030-01-07T00:00:00Z", "oof", f"{BOB}:Calendar/Holidays"),
            ("2030-01-07T15:00:00Z", "busy", f"{CAROL}:Calendar"),
        ]
        for entry in warm["mailboxes"]
    )


def test_a_60_day_window_reads_an_extra_calendar_in_two_chunks(
    pipeline: PipelineHarness, sim: EwsSimulator
) -> None:
    interviews = secondary(sim, ALICE, "Calendar/Interviews")
    boundary = MONDAY + timedelta(days=42)
    book(sim, ALICE, interviews, boundary - timedelta(hours=1), hours=2)  # in both chunks
    integration_id = pipeline.install("delegate", busy_calendars=["Calendar/Interviews"])

    result = succeeded(fetch(pipeline, integration_id, [ALICE], days=60, merged_interval_minutes=60))

    assert sim.request_counts() == {GUA: 2, "FindFolder": 1, "FindItem": 2}
    alice = result["mailboxes"][0]
    assert [(i["start"], i["end"]) for i in alice["intervals"]] == [
        ("2030-02-17T23:00:00Z", "2030-02-18T01:00:00Z")  # once, though both chunks saw it
    ]
    # The merged digits show it too: busy (2) in the two hours around the boundary.
    hours = int((boundary - MONDAY).total_seconds() // 3600)
    assert alice["merged_free_busy"][hours - 1 : hours + 1] == "22"
    assert alice["merged_free_busy"].count("2") == 2


def test_the_override_of_a_mailbox_wins(pipeline: PipelineHarness, sim: EwsSimulator) -> None:
    interviews = secondary(sim, BOB, "Calendar/Interviews", svc="Reviewer")
    book(sim, BOB, interviews, MONDAY + timedelta(hours=10))
    book(sim, CAROL, "calendar", MONDAY + timedelta(hours=16))
    integration_id = pipeline.install(
        "delegate",
        busy_calendars=[{"mailbox": CAROL, "path": "Calendar"}],
        calendar_overrides={BOB: {"busy_calendars": ["Calendar/Interviews"]}},
    )

    result = succeeded(fetch(pipeline, integration_id, [ALICE, BOB]))

    alice, bob = result["mailboxes"]
    assert spans(alice) == [("2030-01-07T16:00:00Z", "busy", f"{CAROL}:Calendar")]
    assert spans(bob) == [("2030-01-07T10:00:00Z", "busy", "Calendar/Interviews")]
    assert sim.request_counts() == {GUA: 1, "GetFolder": 1, "FindFolder": 1, "FindItem": 2}


def test_reading_without_reviewer_names_the_calendar_and_the_permission(
    pipeline: PipelineHarness, sim: EwsSimulator
) -> None:
    # svc holds only FreeBusyTimeOnly on bob's calendar; his new sub-folder starts with the same.
    secondary(sim, BOB, "Calendar/Interviews")
    integration_id = pipeline.install("delegate", calendar_overrides={
        ALICE: {"busy_calendars": [{"mailbox": BOB, "path": "Calendar"}]},
        CAROL: {"busy_calendars": [{"mailbox": BOB, "path": "Calendar/Interviews"}]},
    })

    outcome = fetch(pipeline, integration_id, [ALICE, CAROL, BOB])

    # The job succeeds once; the mailboxes whose calendars cannot be read carry a permanent error.
    result = succeeded(outcome)
    assert outcome.attempts == 1
    alice, carol, bob = result["mailboxes"]
    assert alice["error"]["code"] == ErrorCode.ACCESS_DENIED
    assert alice["error"]["message"] == (
        f"{smtp('svc')} needs the Reviewer permission (or higher) on the default calendar of {BOB} "
        "to read its busy time"
    )
    assert carol["error"]["code"] == ErrorCode.ACCESS_DENIED
    assert f"'Calendar/Interviews' of {BOB}" in carol["error"]["message"]
    assert "Reviewer" in carol["error"]["message"]
    assert bob["error"] is None
    assert sim.request_counts().get("FindItem", 0) == 0


def test_a_calendar_that_is_not_there_is_calendar_not_found(
    pipeline: PipelineHarness, sim: EwsSimulator
) -> None:
    integration_id = pipeline.install("delegate", busy_calendars=["Calendar/Nowhere"])

    result = succeeded(fetch(pipeline, integration_id, [ALICE]))

    error = result["mailboxes"][0]["error"]
    assert error["code"] == ErrorCode.CALENDAR_NOT_FOUND
    assert f"'Calendar/Nowhere' of {ALICE}" in error["message"]
    assert sim.request_counts() == {GUA: 1, "FindFolder": 1}


def test_a_calendar_by_folder_id_and_one_under_the_top_of_the_mailbox(
    pipeline: PipelineHarness, sim: EwsSimulator
) -> None:
    # Shared only on the sub-folder: svc cannot walk bob's Calendar, but the id reaches it.
    by_id = secondary(sim, BOB, "Calendar/Private Clinic")
    sim.grant_folder_permission(BOB, smtp("svc"), "None", "calendar")
    sim.grant_folder_permission(BOB, smtp("svc"), "Reviewer", by_id)
    team = sim.backend.create_folder(ALICE, "Team Calendars/Sales", "IPF.Appointment").folder_id
    for path in ("Team Calendars", "Team Calendars/Sales"):
        sim.grant_folder_permission(ALICE, smtp("svc"), "Reviewer", path)
    book(sim, BOB, by_id, MONDAY + timedelta(hours=8))
    book(sim, ALICE, team, MONDAY + timedelta(hours=12))
    integration_id = pipeline.install("delegate", calendar_overrides={
        BOB: {"busy_calendars": [{"mailbox": BOB, "folder_id": by_id}]},
        ALICE: {"busy_calendars": ["Team Calendars/Sales"]},
    })

    alice, bob = succeeded(fetch(pipeline, integration_id, [ALICE, BOB]))["mailboxes"]

    assert spans(bob) == [("2030-01-07T08:00:00Z", "busy", f"{BOB}:id:{by_id}")]
    assert spans(alice) == [("2030-01-07T12:00:00Z", "busy", "Team Calendars/Sales")]
    # The id costs one GetFolder; the path from the top one FindFolder per folder name.
    assert sim.request_counts() == {GUA: 1, "GetFolder": 1, "FindFolder": 2, "FindItem": 2}


def test_one_calendar_named_two_ways_is_read_once(pipeline: PipelineHarness, sim: EwsSimulator) -> None:
    carols = sim.backend.mailbox(CAROL).folder("calendar").folder_id
    book(sim, CAROL, "calendar", MONDAY + timedelta(hours=14))
    integration_id = pipeline.install("delegate", busy_calendars=[{"mailbox": CAROL, "path": "Calendar"}],
                                      calendar_overrides={BOB: {"busy_calendars": [{"folder_id": carols}]}})

    alice, bob = succeeded(fetch(pipeline, integration_id, [ALICE, BOB]))["mailboxes"]

    assert spans(alice) == [("2030-01-07T14:00:00Z", "busy", f"{CAROL}:Calendar")]
    assert spans(bob) == [("2030-01-07T14:00:00Z", "busy", f"id:{carols}")]
    assert sim.request_counts() == {GUA: 1, "GetFolder": 2, "FindItem": 1}
