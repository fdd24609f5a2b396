"""Bookings in a chosen calendar and copies in additional ones: created, kept in step, cancelled,
exactly once, with exact request counts; permission shortfalls; per-mailbox overrides; and
change processing that never takes a copy for the booking."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra.ewssim import EwsSimulator
from pipeline.contract import JobOutcome, JobStatus
from pipeline.contract.booking import BookingState
from pipeline.errors import ErrorCode
from pipeline.exchange.types import EventDraft
from pipeline.integrations import DeleteType
from tests.integration.callback_support import PushRig, rig
from tests.integration.event_support import (
    ALICE,
    BOB,
    MEETING_CANCELLED,
    MEETING_REQUEST,
    RequestCounter,
    abandon_attempt,
    booking,
    claim,
    follow_up,
    gateway,
    messages,
    recorded_ref,
    stamped,
)
from tests.integration.pipeline_support import PipelineHarness, pipeline
from tests.seed import smtp

__all__ = ["pipeline", "rig"]  # the fixtures, re-exported for pytest

KEY = "interview-1:slot-1"
TEAM, CAROL, SVC = smtp("team"), smtp("carol"), smtp("svc")
BOOKINGS = "Calendar/Bookings"


@pytest.fixture
def counter(pipeline: PipelineHarness) -> RequestCounter:
    return RequestCounter(pipeline.sim)


@pytest.fixture
def team(sim: EwsSimulator) -> str:
    """A team mailbox whose calendar svc may edit (Editor), as a shared booking calendar."""
    sim.seed({"users": [{"smtp": TEAM, "name": "Interview Team", "password": "team-Secret-7"}],
              "permissions": [{"owner": TEAM, "grantee": SVC, "level": "Editor"}]})
    return TEAM


def draft(**changes: Any) -> EventDraft:
    """What a dead create_event attempt wrote (the booking, or with changes its copy)."""
    start = datetime(2026, 11, 3, 14, tzinfo=UTC)
    made = EventDraft(subject="Interview", start=start, end=start + timedelta(hours=1), booking_key=KEY,
                      required_attendees=(BOB,))
    return replace(made, **changes)


def held(sim: EwsSimulator, owner: str, folder: str, key: str = KEY) -> list[dict[str, Any]]:
    """Items in one folder (distinguished id or path) stamped with the booking key."""
    return [item for item in sim.folder_items(owner, folder) if key in item["extended_properties"].values()]


def ok(outcome: JobOutcome) -> dict[str, Any]:
    assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    assert outcome.result is not None
    return outcome.result


def failed_for_good(outcome: JobOutcome, code: ErrorCode) -> str:
    assert outcome.status is JobStatus.FAILED and outcome.attempts == 1
    assert outcome.error is not None and outcome.error.code is code and not outcome.error.retryable
    return outcome.error.message


# The booking calendar ----------------------------------------------------------------------------


def test_a_booking_in_a_secondary_calendar_and_its_follow_ups(
    pipeline: PipelineHarness, sim: EwsSimulator, counter: RequestCounter
) -> None:
    interviews = sim.create_folder(ALICE, "Calendar/Interviews")  # svc's Delegate grant comes along
    integration_id = pipeline.install("delegate", booking_calendar="Calendar/Interviews")

    with counter.counting() as made:
        created = ok(pipeline.run("create_event", **booking(integration_id)))
    assert made == {"FindFolder": 1, "CreateItem": 1}
    [event] = held(sim, ALICE, "Calendar/Interviews")
    assert event["item_id"] == created["item_id"] and stamped(sim, ALICE, KEY) == []
    record = pipeline.store.get_booking(integration_id, KEY)
    assert (record.calendar_mailbox, record.calendar_folder_id) == (ALICE, interviews)

    with counter.counting() as made:
        ok(pipeline.run("send_invite", **follow_up(integration_id)))
        ok(pipeline.run("update_event", **follow_up(integration_id, subject="Moved", notify=True)))
        ok(pipeline.run("cancel_event", **follow_up(integration_id, notify=True)))
    assert made == {"UpdateItem": 2, "DeleteItem": 1}
    assert [m["subject"] for m in messages(sim, BOB, MEETING_REQUEST)] == ["Interview: Dana Diaz", "Moved"]
    assert len(messages(sim, BOB, MEETING_CANCELLED)) == 1
    assert held(sim, ALICE, "Calendar/Interviews") == []

    # A warm worker knows the folder: the next booking costs its one CreateItem.
    with counter.counting() as made:
        ok(pipeline.run("create_event", **booking(integration_id, booking_key="interview-2:slot-1")))
    assert made == {"CreateItem": 1}


@pytest.mark.parametrize("method", ["delegate", "impersonation"])
def test_a_booking_in_another_mailboxs_shared_calendar(
    pipeline: PipelineHarness, sim: EwsSimulator, counter: RequestCounter, team: str, method: str
) -> None:
    # Impersonation acts as the calendar's owner; svc (delegate) holds Editor on it.
    integration_id = pipeline.install(method, booking_calendar={"mailbox": team, "path": "Calendar"})

    with counter.counting() as made:
        created = ok(pipeline.run("create_event", **booking(integration_id)))
    assert made == {"GetFolder": 1, "CreateItem": 1}
    assert created["calendar_mailbox"] == team
    [event] = held(sim, team, "calendar")
    # The team mailbox organises it, so alice, whose booking it is, is invited like the others.
    assert event["organizer"] == team
    assert [a["email"] for a in event["required_attendees"]] == [ALICE, BOB]

    ok(pipeline.run("send_invite", **follow_up(integration_id)))
    assert len(messages(sim, ALICE, MEETING_REQUEST)) == 1 and len(messages(sim, BOB, MEETING_REQUEST)) == 1
    ok(pipeline.run("cancel_event", **follow_up(integration_id)))
    assert held(sim, team, "calendar") == []


# Copies in additional booking calendars -----------------------------------------------------------


def test_copies_are_created_kept_in_step_and_cancelled_with_one_request_each(
    pipeline: PipelineHarness, sim: EwsSimulator, counter: RequestCounter, team: str
) -> None:
    sim.create_folder(ALICE, BOOKINGS)
    integration_id = pipeline.install(
        "delegate", additional_booking_calendars=[BOOKINGS, {"mailbox": team, "path": "Calendar"}]
    )
    ok(pipeline.run("create_event", **booking(integration_id, booking_key="warm-up")))  # finds the folders

    # create_event: the booking and one CreateItem per copy
    with counter.counting() as made:
        ok(pipeline.run("create_event", **booking(integration_id)))
    assert made == {"CreateItem": 3}
    [main], [mine] = stamped(sim, ALICE, KEY), held(sim, ALICE, BOOKINGS)
    [theirs] = held(sim, team, "calendar")
    for copy in (mine, theirs):
        assert copy["subject"] == main["subject"] == "Interview: Dana Diaz"
        assert (copy["start"], copy["end"], copy["location"]) == (main["start"], main["end"], "Room A")
        assert copy["required_attendees"] == copy["optional_attendees"] == copy["resources"] == []
        assert not copy["is_meeting"]
    assert messages(sim, BOB, MEETING_REQUEST) == []  # nobody is invited by a copy
    record = pipeline.store.get_booking(integration_id, KEY)
    assert [(c.calendar, c.mailbox, c.item_id) for c in record.copies] == [
        (BOOKINGS, ALICE, mine["item_id"]), (f"{team}:Calendar", team, theirs["item_id"]),
    ]

    # send_invite acts on the booking only
    with counter.counting() as made:
        ok(pipeline.run("send_invite", **follow_up(integration_id)))
    assert made == {"UpdateItem": 1} and len(messages(sim, BOB, MEETING_REQUEST)) == 1

    # update_event: one UpdateItem per copy, telling nobody more than the booking's update does
    moved = {"start": "2026-11-03T16:00:00Z", "end": "2026-11-03T17:00:00Z", "subject": "Moved"}
    with counter.counting() as made:
        ok(pipeline.run("update_event", **follow_up(integration_id, notify=True, **moved)))
    assert made == {"UpdateItem": 3}
    for copy in (held(sim, ALICE, BOOKINGS)[0], held(sim, team, "calendar")[0]):
        assert copy["subject"] == "Moved" and copy["start"].startswith("2026-11-03T16:00:00")
    assert len(messages(sim, BOB, MEETING_REQUEST)) == 2
    assert messages(sim, team, MEETING_REQUEST) == []
    record = pipeline.store.get_booking(integration_id, KEY)
    assert record.copies[1].change_key == held(sim, team, "calendar")[0]["change_key"]

    # An update of the attendees alone leaves the copies alone
    with counter.counting() as made:
        ok(pipeline.run("update_event", **follow_up(integration_id, optional_attendees=[])))
    assert made == {"UpdateItem": 1}

    # cancel_event: one DeleteItem per copy, no cancellations from them
    with counter.counting() as made:
        ok(pipeline.run("cancel_event", **follow_up(integration_id, notify=True)))
    assert made == {"DeleteItem": 3}
    assert held(sim, ALICE, BOOKINGS) == [] and held(sim, team, "calendar") == []
    assert len(messages(sim, BOB, MEETING_CANCELLED)) == 1


@pytest.mark.parametrize("copy_made_before_dying", [True, False])
def test_a_redelivered_create_makes_no_second_copy(
    pipeline: PipelineHarness, sim: EwsSimulator, counter: RequestCounter, copy_made_before_dying: bool
) -> None:
    sim.create_folder(ALICE, BOOKINGS)
    integration_id = pipeline.install("delegate", additional_booking_calendars=[BOOKINGS])
    # A worker claimed the booking, created the event (and maybe its copy), then died.
    abandon_attempt(pipeline, "m-1", "create_event", integration_id)
    claim(pipeline, integration_id, "m-1")
    dead = gateway(pipeline, integration_id)
    folder = dead.find_calendar(ALICE, path=("Calendar", "Bookings"), for_writing=True)  # before its claim
    main = dead.create_event(draft())
    if copy_made_before_dying:
        dead.create_event(draft(required_attendees=(), is_copy=True), folder)

    with counter.counting() as made:
        outcome = pipeline.run("create_event", message_id="m-1", **booking(integration_id))

    assert outcome.status is JobStatus.SUCCEEDED and outcome.attempts == 2
    # One FindItem for the event, one for the copy (the folder is known); a copy only if missing.
    assert made == ({"FindItem": 2} if copy_made_before_dying else {"FindItem": 2, "CreateItem": 1})
    assert [e["item_id"] for e in stamped(sim, ALICE, KEY)] == [main.item_id]
    [copy] = held(sim, ALICE, BOOKINGS)
    assert pipeline.store.get_booking(integration_id, KEY).copies[0].item_id == copy["item_id"]


def test_a_redelivered_cancel_deletes_only_the_copies_still_there(
    pipeline: PipelineHarness, sim: EwsSimulator, counter: RequestCounter
) -> None:
    sim.create_folder(ALICE, BOOKINGS)
    integration_id = pipeline.install("delegate", additional_booking_calendars=[BOOKINGS])
    ok(pipeline.run("create_event", **booking(integration_id)))
    # A worker marked the booking cancelled and deleted the event, then died before the copy.
    abandon_attempt(pipeline, "c-1", "cancel_event", integration_id)
    pipeline.store.mark_booking_cancelled(integration_id, KEY, pipeline.runtime.clock())
    gateway(pipeline, integration_id).cancel_event(
        recorded_ref(pipeline, integration_id), delete_type=DeleteType.SOFT, send_cancellations=False
    )

    with counter.counting() as made:
        outcome = pipeline.run("cancel_event", message_id="c-1", **follow_up(integration_id))

    assert outcome.status is JobStatus.SUCCEEDED and outcome.attempts == 2
    assert made == {"FindItem": 2, "DeleteItem": 1}
    assert held(sim, ALICE, BOOKINGS) == [] and stamped(sim, ALICE, KEY) == []


# Permission shortfalls -----------------------------------------------------------------------------


def test_writing_without_editor_names_the_calendar_and_the_permission(
    pipeline: PipelineHarness, sim: EwsSimulator, counter: RequestCounter
) -> None:
    # svc holds Reviewer on carol's calendar: enough to read, not to write.
    as_main = pipeline.install("delegate", integration_id="main",
                               booking_calendar={"mailbox": CAROL, "path": "Calendar"})
    as_copy = pipeline.install("delegate", integration_id="copy",
                               additional_booking_calendars=[{"mailbox": CAROL, "path": "Calendar"}])

    with counter.counting() as made:
        main = pipeline.run("create_event", **booking(as_main))
        copy = pipeline.run("create_event", **booking(as_copy))

    wanted = f"{SVC} needs the Editor or Delegate permission on the default calendar of {CAROL} " \
             "to write bookings there"
    assert failed_for_good(main, ErrorCode.ACCESS_DENIED) == wanted
    assert failed_for_good(copy, ErrorCode.ACCESS_DENIED) == wanted
    # Found out before the claim: nothing written, nothing claimed.
    assert made == {"GetFolder": 2}
    assert pipeline.store.get_booking(as_main, KEY) is None
    assert pipeline.store.get_booking(as_copy, KEY) is None
    assert stamped(sim, ALICE, KEY) == [] and held(sim, CAROL, "calendar") == []


def test_writing_to_a_default_calendar_without_rights_names_it(pipeline: PipelineHarness) -> None:
    # svc sees only bob's free/busy; his default calendar is written without a look-up first.
    integration_id = pipeline.install("delegate")
    outcome = pipeline.run("create_event", **booking(integration_id, mailbox=BOB, required_attendees=[]))
    message = failed_for_good(outcome, ErrorCode.ACCESS_DENIED)
    assert message == f"{SVC} needs the Editor or Delegate permission on the default calendar of {BOB} " \
                      "to write bookings there"


def test_a_copy_that_can_no_longer_be_written_stops_the_update_before_anyone_hears(
    pipeline: PipelineHarness, sim: EwsSimulator, team: str
) -> None:
    integration_id = pipeline.install("delegate", additional_booking_calendars=[{"mailbox": team,
                                                                                  "path": "Calendar"}])
    ok(pipeline.run("create_event", **booking(integration_id)))
    ok(pipeline.run("send_invite", **follow_up(integration_id)))
    sim.grant_folder_permission(team, SVC, "Reviewer")  # the team takes back its Editor grant

    outcome = pipeline.run("update_event", **follow_up(integration_id, subject="Moved", notify=True))

    message = failed_for_good(outcome, ErrorCode.ACCESS_DENIED)
    assert message == (f"{SVC} needs the Editor or Delegate permission on the additional booking calendar "
                       f"'{team}:Calendar' of {team} to write bookings there")
    assert stamped(sim, ALICE, KEY)[0]["subject"] == "Interview: Dana Diaz"
    assert len(messages(sim, BOB, MEETING_REQUEST)) == 1  # no update went out


# Per-mailbox overrides ----------------------------------------------------------------------------


def test_the_override_of_a_mailbox_wins(pipeline: PipelineHarness, sim: EwsSimulator) -> None:
    for owner in (ALICE, BOB):
        sim.create_folder(owner, BOOKINGS)
    sim.create_folder(ALICE, "Calendar/Interviews")
    integration_id = pipeline.install(
        "impersonation",
        additional_booking_calendars=[BOOKINGS],
        calendar_overrides={ALICE: {"booking_calendar": "Calendar/Interviews",
                                    "additional_booking_calendars": []}},
    )

    ok(pipeline.run("create_event", **booking(integration_id)))
    ok(pipeline.run("create_event", **booking(integration_id, mailbox=BOB, booking_key="bob-1",
                                              required_attendees=[])))

    # alice's own settings: her Interviews calendar, no copy
    assert len(held(sim, ALICE, "Calendar/Interviews")) == 1
    assert stamped(sim, ALICE, KEY) == [] and held(sim, ALICE, BOOKINGS) == []
    # bob has the integration's: his default calendar and a copy in his Bookings calendar
    assert len(held(sim, BOB, "calendar", "bob-1")) == 1 and len(held(sim, BOB, BOOKINGS, "bob-1")) == 1


# Change processing ---------------------------------------------------------------------------------


def drain(rig: PushRig) -> list[JobOutcome]:
    """Wait for the simulator's pushes, then run every queued job (and the jobs those enqueue)."""
    outcomes = []
    for _ in range(10):
        assert rig.push.wait_idle()
        queued = rig.queue.take()
        if not queued:
            return outcomes
        for job in queued:
            outcomes.append(rig.pipeline.run(job.actor_name, message_id=job.message_id, **job.kwargs))
            assert outcomes[-1].status is JobStatus.SUCCEEDED, outcomes[-1].error
    raise AssertionError("jobs kept coming")


def subscribed(rig: PushRig, **settings: Any) -> str:
    integration_id = rig.pipeline.install("impersonation", **settings)
    ok(rig.pipeline.run("subscribe_mailbox", integration_id=integration_id, mailbox=ALICE,
                        status_frequency_minutes=5))
    return integration_id


def test_a_copy_in_the_watched_calendar_is_not_taken_for_the_booking(rig: PushRig, account: Any) -> None:
    # The booking goes to alice's Interviews calendar; its copy to her default one, which her
    # subscription watches.
    rig.pipeline.sim.create_folder(ALICE, "Calendar/Interviews")
    integration_id = subscribed(
        rig, booking_calendar="Calendar/Interviews", additional_booking_calendars=["Calendar"]
    )
    ok(rig.pipeline.run("create_event", **booking(integration_id)))
    [copy] = stamped(rig.pipeline.sim, ALICE, KEY)

    # When alice edits the copy in Outlook
    item = account("alice").calendar.get(id=copy["item_id"])
    item.subject = "Edited copy"
    item.save(update_fields=["subject"])
    outcomes = drain(rig)

    # Then nothing happens to the booking, and no calendar sync is asked for
    assert outcomes and {o.actor_name for o in outcomes} == {"process_change"}
    for outcome in outcomes:
        assert outcome.result["updated_bookings"] == outcome.result["cancelled_bookings"] == []
    record = rig.pipeline.store.get_booking(integration_id, KEY)
    assert record.state is BookingState.BOOKED and not record.cancelled


def test_a_booking_deleted_in_outlook_takes_its_copies_with_it(rig: PushRig, account: Any) -> None:
    rig.pipeline.sim.create_folder(ALICE, BOOKINGS)
    integration_id = subscribed(rig, additional_booking_calendars=[BOOKINGS])
    ok(rig.pipeline.run("create_event", **booking(integration_id)))
    drain(rig)
    assert len(held(rig.pipeline.sim, ALICE, BOOKINGS)) == 1

    record = rig.pipeline.store.get_booking(integration_id, KEY)
    account("alice").calendar.get(id=record.item_id).delete()
    before = dict(rig.pipeline.sim.request_counts())
    drain(rig)

    assert rig.pipeline.store.get_booking(integration_id, KEY).state is BookingState.DELETED_IN_EXCHANGE
    assert held(rig.pipeline.sim, ALICE, BOOKINGS) == []
    after = rig.pipeline.sim.request_counts()
    made = {op: n - before.get(op, 0) for op, n in after.items() if n != before.get(op, 0)}
    assert made == {"DeleteItem": 1}


def test_a_booking_in_one_job_invites_from_the_booking_never_from_its_copies(
    pipeline: PipelineHarness, sim: EwsSimulator, counter: RequestCounter, team: str
) -> None:
    sim.create_folder(ALICE, BOOKINGS)
    integration_id = pipeline.install(
        "delegate", additional_booking_calendars=[BOOKINGS, {"mailbox": team, "path": "Calendar"}]
    )
    ok(pipeline.run("create_event", **booking(integration_id, "warm-up:1", subject="Warm-up")))  # folders
    with counter.counting() as made:
        result = ok(pipeline.run("create_event", **booking(integration_id, send_invitations=True)))

    # One CreateItem that saves the booking and invites, one per copy, and nothing else.
    assert made == {"CreateItem": 3}
    assert result["invited"] is True
    [main], [mine] = stamped(sim, ALICE, KEY), held(sim, ALICE, BOOKINGS)
    [theirs] = held(sim, team, "calendar")
    assert main["meeting_request_was_sent"] is True
    for copy in (mine, theirs):
        assert copy["required_attendees"] == copy["optional_attendees"] == copy["resources"] == []
        assert not copy["is_meeting"] and not copy["meeting_request_was_sent"]
    assert [m["subject"] for m in messages(sim, BOB, MEETING_REQUEST)] == ["Interview: Dana Diaz"]
    assert messages(sim, team, MEETING_REQUEST) == []
    record = pipeline.store.get_booking(integration_id, KEY)
    assert record.state is BookingState.INVITED and len(record.copies) == 2


def test_a_one_job_booking_redelivered_after_its_create_item_makes_its_copy_and_sends_nothing(
    pipeline: PipelineHarness, sim: EwsSimulator, counter: RequestCounter
) -> None:
    sim.create_folder(ALICE, BOOKINGS)
    integration_id = pipeline.install("delegate", additional_booking_calendars=[BOOKINGS])
    # A worker claimed the booking, saved and invited it in one CreateItem, then died before the copy.
    abandon_attempt(pipeline, "m-1", "create_event", integration_id)
    claim(pipeline, integration_id, "m-1")
    dead = gateway(pipeline, integration_id)
    dead.find_calendar(ALICE, path=("Calendar", "Bookings"), for_writing=True)  # before its claim
    main = dead.create_event(draft(), invite_marker="m-1")

    with counter.counting() as made:
        outcome = pipeline.run("create_event", message_id="m-1",
                               **booking(integration_id, send_invitations=True))

    assert outcome.status is JobStatus.SUCCEEDED and outcome.attempts == 2
    assert made == {"FindItem": 2, "CreateItem": 1}  # the booking found by its stamp, the copy made
    assert [e["item_id"] for e in stamped(sim, ALICE, KEY)] == [main.item_id]
    assert len(held(sim, ALICE, BOOKINGS)) == 1
    assert len(messages(sim, BOB, MEETING_REQUEST)) == 1
    record = pipeline.store.get_booking(integration_id, KEY)
    assert record.state is BookingState.INVITED
    assert record.copies[0].item_id == held(sim, ALICE, BOOKINGS)[0]["item_id"]
