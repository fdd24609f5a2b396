"""update_event and cancel_event: whom they tell, how they delete, and redeliveries that must not
announce a change twice."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from pipeline.contract import JobStatus
from pipeline.errors import ErrorCode
from pipeline.exchange.types import EventChanges, NotifyAttendees
from pipeline.integrations import DeleteType
from tests.integration.event_support import (
    ALICE,
    BOB,
    CAROL,
    MEETING_CANCELLED,
    MEETING_REQUEST,
    RequestCounter,
    abandon_attempt,
    booking,
    follow_up,
    gateway,
    messages,
    recorded_ref,
    stamped,
)
from tests.integration.pipeline_support import PipelineHarness, pipeline
from tests.seed import smtp

__all__ = ["pipeline"]  # the fixture, re-exported for pytest

KEY = "interview-1:slot-1"
ROOM_B = smtp("room-b")


@pytest.fixture
def counter(pipeline: PipelineHarness) -> RequestCounter:
    return RequestCounter(pipeline.sim)


def _booked(pipeline: PipelineHarness, *, invited: bool = True, **settings: Any) -> str:
    integration_id = pipeline.install("delegate", **settings)
    assert pipeline.run("create_event", **booking(integration_id)).status is JobStatus.SUCCEEDED
    if invited:
        assert pipeline.run("send_invite", **follow_up(integration_id)).status is JobStatus.SUCCEEDED
    return integration_id


# update_event -------------------------------------------------------------------------------------


def test_an_update_before_the_invitations_tells_nobody(pipeline: PipelineHarness) -> None:
    integration_id = _booked(pipeline, invited=False)
    updated = pipeline.run("update_event", **follow_up(integration_id, subject="Moved", notify=True))
    assert updated.result is not None and updated.result["notified"] is False
    assert messages(pipeline.sim, BOB, MEETING_REQUEST) == []
    # send_invite then invites everyone once, with the event as it is now.
    pipeline.run("send_invite", **follow_up(integration_id))
    [request] = messages(pipeline.sim, BOB, MEETING_REQUEST)
    assert request["subject"] == "Moved"


def test_an_update_without_notify_changes_the_event_quietly(pipeline: PipelineHarness) -> None:
    integration_id = _booked(pipeline)
    updated = pipeline.run("update_event", **follow_up(integration_id, location="Room B", notify=False))
    assert updated.result is not None and updated.result["notified"] is False
    assert stamped(pipeline.sim, ALICE, KEY)[0]["location"] == "Room B"
    assert len(messages(pipeline.sim, BOB, MEETING_REQUEST)) == 1


def test_adding_a_room_invites_only_the_room(pipeline: PipelineHarness, counter: RequestCounter) -> None:
    integration_id = _booked(pipeline)
    with counter.counting() as made:
        updated = pipeline.run("update_event", **follow_up(integration_id, rooms=[smtp("room-a"), ROOM_B]))
    assert updated.status is JobStatus.SUCCEEDED, updated.error
    assert made == {"UpdateItem": 1}
    assert len(messages(pipeline.sim, ROOM_B, MEETING_REQUEST)) == 1
    assert len(messages(pipeline.sim, BOB, MEETING_REQUEST)) == 1
    record = pipeline.store.get_booking(integration_id, KEY)
    assert record is not None and ROOM_B in record.invites_sent_to and ROOM_B in record.attendees


def test_moving_one_end_reads_the_event_to_check_the_range(
    pipeline: PipelineHarness, counter: RequestCounter
) -> None:
    integration_id = _booked(pipeline)
    with counter.counting() as made:
        longer = pipeline.run("update_event", **follow_up(integration_id, end="2026-11-03T16:00:00Z"))
    assert longer.status is JobStatus.SUCCEEDED, longer.error
    assert made == {"GetItem": 1, "UpdateItem": 1}
    assert stamped(pipeline.sim, ALICE, KEY)[0]["end"].startswith("2026-11-03T16:00:00")

    with counter.counting() as made:
        backwards = pipeline.run("update_event", **follow_up(integration_id, end="2026-11-03T13:00:00Z"))
    assert backwards.status is JobStatus.FAILED
    assert backwards.error is not None and backwards.error.code is ErrorCode.INVALID_KWARGS
    assert made == {"GetItem": 1}


def test_an_update_redelivered_after_it_was_applied_is_not_announced_again(
    pipeline: PipelineHarness, counter: RequestCounter
) -> None:
    integration_id = _booked(pipeline)
    abandon_attempt(pipeline, "u-1", "update_event", integration_id)
    gateway(pipeline, integration_id).update_event(
        recorded_ref(pipeline, integration_id), EventChanges(subject="Moved"),
        notify=NotifyAttendees.ALL, marker="u-1",
    )  # fmt: skip
    assert len(messages(pipeline.sim, BOB, MEETING_REQUEST)) == 2

    with counter.counting() as made:
        outcome = pipeline.run("update_event", message_id="u-1", **follow_up(integration_id, subject="Moved"))
    assert outcome.status is JobStatus.SUCCEEDED and outcome.attempts == 2
    assert made == {"GetItem": 1}
    assert len(messages(pipeline.sim, BOB, MEETING_REQUEST)) == 2


def test_an_update_of_a_cancelled_booking_fails_for_good(pipeline: PipelineHarness) -> None:
    integration_id = _booked(pipeline)
    pipeline.run("cancel_event", **follow_up(integration_id))
    outcome = pipeline.run("update_event", **follow_up(integration_id, subject="Too late"))
    assert outcome.status is JobStatus.FAILED
    assert outcome.error is not None and outcome.error.code is ErrorCode.CONFLICT


# cancel_event -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delete_type", "lands_in"),
    [("hard", None), ("soft", "recoverableitemsdeletions"), ("move_to_deleted_items", "deleteditems")],
)
def test_cancel_deletes_the_way_the_integration_says(
    pipeline: PipelineHarness, delete_type: str, lands_in: str | None
) -> None:
    integration_id = _booked(pipeline, delete_type=delete_type)
    outcome = pipeline.run("cancel_event", **follow_up(integration_id))
    assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    assert stamped(pipeline.sim, ALICE, KEY) == []
    for folder in ("deleteditems", "recoverableitemsdeletions"):
        expected = 1 if folder == lands_in else 0
        assert len(pipeline.sim.folder_items(ALICE, folder)) == expected, folder
    assert len(messages(pipeline.sim, BOB, MEETING_CANCELLED)) == 1


@pytest.mark.parametrize(("invited", "notify"), [(True, False), (False, True)])
def test_no_cancellation_goes_out_unasked_or_to_people_never_invited(
    pipeline: PipelineHarness, invited: bool, notify: bool
) -> None:
    integration_id = _booked(pipeline, invited=invited)
    outcome = pipeline.run("cancel_event", **follow_up(integration_id, notify=notify))
    assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    assert stamped(pipeline.sim, ALICE, KEY) == []
    for person in (BOB, CAROL):
        assert messages(pipeline.sim, person, MEETING_CANCELLED) == []


def test_a_cancel_redelivered_after_its_delete_deletes_nothing_more(
    pipeline: PipelineHarness, counter: RequestCounter
) -> None:
    integration_id = _booked(pipeline)
    abandon_attempt(pipeline, "c-1", "cancel_event", integration_id)
    pipeline.store.mark_booking_cancelled(integration_id, KEY, datetime.now(UTC))
    gateway(pipeline, integration_id).cancel_event(
        recorded_ref(pipeline, integration_id), delete_type=DeleteType.MOVE_TO_DELETED_ITEMS,
        send_cancellations=True,
    )  # fmt: skip
    with counter.counting() as made:
        outcome = pipeline.run("cancel_event", message_id="c-1", **follow_up(integration_id))
    assert outcome.status is JobStatus.SUCCEEDED and outcome.attempts == 2
    assert made == {"FindItem": 1}  # not in the calendar any more: nothing to delete
    assert len(pipeline.sim.folder_items(ALICE, "deleteditems")) == 1
    assert len(messages(pipeline.sim, BOB, MEETING_CANCELLED)) == 1


def test_a_cancel_redelivered_after_marking_but_before_deleting_deletes_once(
    pipeline: PipelineHarness, counter: RequestCounter
) -> None:
    integration_id = _booked(pipeline)
    abandon_attempt(pipeline, "c-1", "cancel_event", integration_id)
    pipeline.store.mark_booking_cancelled(integration_id, KEY, datetime.now(UTC))
    with counter.counting() as made:
        outcome = pipeline.run("cancel_event", message_id="c-1", **follow_up(integration_id))
    assert outcome.status is JobStatus.SUCCEEDED
    assert made == {"FindItem": 1, "DeleteItem": 1}
    assert stamped(pipeline.sim, ALICE, KEY) == []
    assert len(messages(pipeline.sim, BOB, MEETING_CANCELLED)) == 1

