"""Every Exchange version the simulator presents, pinned by its operators' name: the booking
lifecycle and free/busy work on each; the room-list lookups that Exchange 2007 lacks fail for good
with VERSION_NOT_SUPPORTED. Real HTTP to the simulator, through run_job, with exchangelib."""

from __future__ import annotations

from collections import Counter

import pytest

from infra.ewssim.versions import PRODUCTS
from pipeline.contract import JobOutcome, JobStatus
from pipeline.errors import ErrorCode
from pipeline.exchange.versions import EXCHANGE_VERSIONS
from tests.integration.event_support import (
    ALICE,
    BOB,
    CAROL,
    MEETING_CANCELLED,
    MEETING_REQUEST,
    ROOM_A,
    booking,
    follow_up,
    messages,
    stamped,
)
from tests.integration.pipeline_support import PipelineHarness, pipeline

__all__ = ["pipeline"]  # the fixture, re-exported for pytest

KEY = "interview-1:slot-1"
VERSIONS = [version.name for version in EXCHANGE_VERSIONS]
EXCHANGE_2007 = [name for name in VERSIONS if name.startswith("Exchange 2007")]


def install_on(pipeline: PipelineHarness, version: str, *, pinned: bool = True) -> str:
    """The simulator presents `version`; a delegate integration pins it by its operators' name (or,
    unpinned, detects it)."""
    pipeline.sim.present(version)
    return pipeline.install("delegate", server_version=version if pinned else None)


def succeeded(outcome: JobOutcome) -> dict[str, object]:
    assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    assert outcome.result is not None
    return outcome.result


def test_the_simulator_presents_every_version_an_integration_can_pin() -> None:
    assert set(VERSIONS) == set(PRODUCTS)
    for version in EXCHANGE_VERSIONS:
        presented = PRODUCTS[version.name]
        assert presented.build[:2] == version.build[:2], version.name
        assert presented.build >= version.build, version.name


@pytest.mark.parametrize("version", VERSIONS)
def test_booking_lifecycle_and_free_busy_on_every_version(pipeline: PipelineHarness, version: str) -> None:
    sim = pipeline.sim
    integration_id = install_on(pipeline, version)
    api_version = next(v.api_version for v in EXCHANGE_VERSIONS if v.name == version)

    # Given a booking created (shown in London time), its invitations sent
    succeeded(pipeline.run("create_event", **booking(integration_id)))
    [event] = stamped(sim, ALICE, KEY)
    assert (event["start"], event["time_zone"]) == ("2026-11-03T14:00:00+00:00", "GMT Standard Time")
    sent = succeeded(pipeline.run("send_invite", **follow_up(integration_id)))
    assert set(sent["sent_to"]) == {BOB, CAROL, ROOM_A}
    # When free/busy is asked for the organiser and an attendee over the meeting
    free_busy = succeeded(pipeline.run(
        "fetch_free_busy", integration_id=integration_id, mailboxes=[ALICE, BOB],
        start="2026-11-03T13:00:00Z", end="2026-11-03T16:00:00Z",
    ))  # fmt: skip
    # Then the organiser is busy for the hour of the meeting, the invitee (no answer yet) tentative
    hour = ("2026-11-03T14:00:00Z", "2026-11-03T15:00:00Z")
    taken = {
        mailbox["email"]: [(i["start"], i["end"], i["busy_type"]) for i in mailbox["intervals"]]
        for mailbox in free_busy["mailboxes"]
    }
    assert taken == {ALICE: [(*hour, "busy")], BOB: [(*hour, "tentative")]}

    # When the booking is moved two hours on and then cancelled
    moved = {"subject": "Moved", "start": "2026-11-03T16:00:00Z", "end": "2026-11-03T17:00:00Z",
             "time_zone": "Europe/London"}  # fmt: skip
    updated = succeeded(pipeline.run("update_event", **follow_up(integration_id, **moved)))
    assert updated["notified"] is True
    [event] = stamped(sim, ALICE, KEY)
    assert (event["subject"], event["start"], event["end"]) == (
        "Moved", "2026-11-03T16:00:00+00:00", "2026-11-03T17:00:00+00:00"
    )  # fmt: skip
    succeeded(pipeline.run("cancel_event", **follow_up(integration_id)))

    # Then every attendee heard of each step exactly once, and nothing is left in the calendar
    assert stamped(sim, ALICE, KEY) == []
    assert len(messages(sim, BOB, MEETING_REQUEST)) == 2  # the invitation and the update
    assert len(messages(sim, BOB, MEETING_CANCELLED)) == 1
    # And every request spoke the pinned version's API, and Exchange answered each
    served = sim.request_log()
    assert Counter(record.request_version for record in served) == {api_version: len(served)}
    assert {record.code for record in served} == {"NoError"}


def assert_failed_for_good(outcome: JobOutcome) -> None:
    assert outcome.status is JobStatus.FAILED
    assert outcome.error is not None and outcome.error.code is ErrorCode.VERSION_NOT_SUPPORTED
    assert outcome.error.retryable is False
    assert "is not supported by this server version" in outcome.error.message
    assert outcome.attempts == 1


@pytest.mark.parametrize("pinned", [True, False], ids=["pinned", "detected"])
@pytest.mark.parametrize("version", EXCHANGE_2007)
def test_list_rooms_on_exchange_2007_fails_for_good(
    pipeline: PipelineHarness, version: str, pinned: bool
) -> None:
    integration_id = install_on(pipeline, version, pinned=pinned)

    every_list = pipeline.run("list_rooms", integration_id=integration_id)
    one_list = pipeline.run("list_rooms", integration_id=integration_id, room_list="building-1@example.com")

    assert_failed_for_good(every_list)
    assert_failed_for_good(one_list)
    # Refused before sending: Exchange 2007 never saw a room-list request (detection sent ConvertId)
    assert set(pipeline.sim.request_counts()) <= {"ConvertId"}


@pytest.mark.parametrize("pinned", [True, False], ids=["pinned", "detected"])
@pytest.mark.parametrize("version", EXCHANGE_2007)
def test_check_connection_on_exchange_2007_reports_the_room_lists_step(
    pipeline: PipelineHarness, version: str, pinned: bool
) -> None:
    integration_id = install_on(pipeline, version, pinned=pinned)

    outcome = pipeline.run("check_connection", integration_id=integration_id, mailbox=ALICE)

    # The job is a diagnostic: it succeeds at once (never retried) and reports the step that failed
    result = succeeded(outcome)
    assert outcome.attempts == 1
    assert result["ok"] is False
    steps = {step["name"]: step for step in result["steps"]}
    assert [step["ok"] for step in result["steps"]] == [True, True, True, False]
    build = ".".join(map(str, PRODUCTS[version].build))
    assert steps["authenticate"]["detail"] == f"Exchange build {build}"
    assert steps["room_lists"]["error_code"] == ErrorCode.VERSION_NOT_SUPPORTED
    assert steps["room_lists"]["detail"].startswith("GetRoomLists is not supported by this server version")
    assert "GetRoomLists" not in pipeline.sim.request_counts()


def test_room_lists_follow_the_pin_even_on_a_newer_server(pipeline: PipelineHarness) -> None:
    # Given an integration pinned to Exchange 2007 SP1 whose server is in fact Exchange 2019
    integration_id = pipeline.install("delegate", server_version="Exchange 2007 SP1")

    # When its connection is checked (the server reports its 2019 build on the way) and rooms listed
    checked = succeeded(pipeline.run("check_connection", integration_id=integration_id, mailbox=ALICE))
    listed = pipeline.run("list_rooms", integration_id=integration_id)

    # Then both answer as the pin says, every time: no room lists on Exchange 2007
    assert checked["steps"][-1]["error_code"] == ErrorCode.VERSION_NOT_SUPPORTED
    assert "pinned to Exchange 2007 SP1" in checked["steps"][-1]["detail"]
    assert_failed_for_good(listed)
    assert "GetRoomLists" not in pipeline.sim.request_counts()


@pytest.mark.parametrize("version", VERSIONS)
def test_a_booking_in_one_job_is_one_create_item_on_every_version(
    pipeline: PipelineHarness, version: str
) -> None:
    sim = pipeline.sim
    integration_id = install_on(pipeline, version)
    api_version = next(v.api_version for v in EXCHANGE_VERSIONS if v.name == version)
    succeeded(pipeline.run("create_event", **booking(integration_id, "warm-up:1", subject="Warm-up",
                                                     send_invitations=True)))
    before = len(sim.request_log())

    # When a booking is sent as one job
    result = succeeded(pipeline.run("create_event", **booking(integration_id, send_invitations=True)))

    # Then one CreateItem, in the pinned version's API, saved it (in London time) and invited everyone
    served = sim.request_log()[before:]
    assert [(r.operation, r.request_version, r.code) for r in served] == [
        ("CreateItem", api_version, "NoError")]
    assert set(result["sent_to"]) == {BOB, CAROL, ROOM_A}
    [event] = stamped(sim, ALICE, KEY)
    assert (event["start"], event["time_zone"]) == ("2026-11-03T14:00:00+00:00", "GMT Standard Time")
    for person in (BOB, CAROL, ROOM_A):
        subjects = [m["subject"] for m in messages(sim, person, MEETING_REQUEST)]
        assert subjects == ["Warm-up", "Interview: Dana Diaz"], person
