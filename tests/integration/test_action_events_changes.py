"""update_event and cancel_event: whom they tell, how they delete, and redeliveries that must not
announce a change twice; on EWS and on Graph (any_pipeline), where Graph differs asserted as such.

Graph tells the attendees of an invited meeting about every change and about its deletion itself
(docs/graph.md, "Notifying attendees"): `notify: false` cannot hold back an update, nor the
cancellation that a DELETE of an organiser's meeting sends."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from pipeline.contract import JobStatus
from pipeline.errors import ErrorCode
from pipeline.events.models import EventType
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
from tests.integration.graph_support import graph_sim, graph_simulator
from tests.integration.pipeline_support import PipelineHarness, any_pipeline, graph_pipeline, pipeline
from tests.seed import smtp

# The fixtures, re-exported for pytest.
__all__ = ["any_pipeline", "graph_pipeline", "graph_sim", "graph_simulator", "pipeline"]

KEY = "interview-1:slot-1"
ROOM_B = smtp("room-b")


# The requests per step, per backend (Graph: sim.graph.request_counts()'s names).
REQUESTS = {
    "ews": {"attendees": {"UpdateItem": 1}, "read_and_update": {"GetItem": 1, "UpdateItem": 1},
            "read": {"GetItem": 1}, "find": {"FindItem": 1},
            "find_and_cancel": {"FindItem": 1, "DeleteItem": 1}},
    # Graph PATCHes the whole attendee list: a change of one list reads the others first.
    "graph": {"attendees": {"getEvent": 1, "updateEvent": 1},
              "read_and_update": {"getEvent": 1, "updateEvent": 1},
              "read": {"getEvent": 1}, "find": {"listEvents": 1},
              "find_and_cancel": {"listEvents": 1, "cancelEvent": 1}},
}


@pytest.fixture
def counter(any_pipeline: PipelineHarness) -> RequestCounter:
    return RequestCounter(any_pipeline.sim, graph=any_pipeline.on_graph)


def requests(pipeline: PipelineHarness, step: str) -> dict[str, int]:
    return REQUESTS[pipeline.backend][step]


def _booked(pipeline: PipelineHarness, *, invited: bool = True, **settings: Any) -> str:
    integration_id = pipeline.install("delegate", **settings)
    assert pipeline.run("create_event", **booking(integration_id)).status is JobStatus.SUCCEEDED
    if invited:
        assert pipeline.run("send_invite", **follow_up(integration_id)).status is JobStatus.SUCCEEDED
    return integration_id


# update_event -------------------------------------------------------------------------------------


def test_an_update_before_the_invitations_tells_nobody(any_pipeline: PipelineHarness) -> None:
    pipeline = any_pipeline
    integration_id = _booked(pipeline, invited=False)
    updated = pipeline.run("update_event", **follow_up(integration_id, subject="Moved", notify=True))
    assert updated.result is not None and updated.result["notified"] is False
    assert messages(pipeline.sim, BOB, MEETING_REQUEST) == []
    # send_invite then invites everyone once, with the event as it is now.
    pipeline.run("send_invite", **follow_up(integration_id))
    [request] = messages(pipeline.sim, BOB, MEETING_REQUEST)
    assert request["subject"] == "Moved"


def test_an_update_without_notify_changes_the_event_quietly(any_pipeline: PipelineHarness) -> None:
    pipeline = any_pipeline
    integration_id = _booked(pipeline)
    updated = pipeline.run("update_event", **follow_up(integration_id, location="Room B", notify=False))
    assert updated.status is JobStatus.SUCCEEDED, updated.error
    assert stamped(pipeline.sim, ALICE, KEY)[0]["location"] == "Room B"
    # Graph sends the update of an invited meeting whatever the job asks, and the result says so.
    assert updated.result is not None and updated.result["notified"] is pipeline.on_graph
    assert len(messages(pipeline.sim, BOB, MEETING_REQUEST)) == (2 if pipeline.on_graph else 1)


def test_adding_a_room_invites_only_the_room(any_pipeline: PipelineHarness, counter: RequestCounter) -> None:
    pipeline = any_pipeline
    integration_id = _booked(pipeline)
    with counter.counting() as made:
        updated = pipeline.run("update_event", **follow_up(integration_id, rooms=[smtp("room-a"), ROOM_B]))
    assert updated.status is JobStatus.SUCCEEDED, updated.error
    assert made == requests(pipeline, "attendees")
    assert len(messages(pipeline.sim, ROOM_B, MEETING_REQUEST)) == 1
    assert len(messages(pipeline.sim, BOB, MEETING_REQUEST)) == 1
    record = pipeline.store.get_booking(integration_id, KEY)
    assert record is not None and ROOM_B in record.invites_sent_to and ROOM_B in record.attendees


def test_moving_one_end_reads_the_event_to_check_the_range(
    any_pipeline: PipelineHarness, counter: RequestCounter
) -> None:
    pipeline = any_pipeline
    integration_id = _booked(pipeline)
    with counter.counting() as made:
        longer = pipeline.run("update_event", **follow_up(integration_id, end="2026-11-03T16:00:00Z"))
    assert longer.status is JobStatus.SUCCEEDED, longer.error
    assert made == requests(pipeline, "read_and_update")
    assert stamped(pipeline.sim, ALICE, KEY)[0]["end"].startswith("2026-11-03T16:00:00")

    with counter.counting() as made:
        backwards = pipeline.run("update_event", **follow_up(integration_id, end="2026-11-03T13:00:00Z"))
    assert backwards.status is JobStatus.FAILED
    assert backwards.error is not None and backwards.error.code is ErrorCode.INVALID_KWARGS
    assert made == requests(pipeline, "read")


def test_an_update_redelivered_after_it_was_applied_is_not_announced_again(
    any_pipeline: PipelineHarness, counter: RequestCounter
) -> None:
    pipeline = any_pipeline
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
    assert made == requests(pipeline, "read")
    assert len(messages(pipeline.sim, BOB, MEETING_REQUEST)) == 2


def test_an_update_of_a_cancelled_booking_fails_for_good(any_pipeline: PipelineHarness) -> None:
    pipeline = any_pipeline
    integration_id = _booked(pipeline)
    pipeline.run("cancel_event", **follow_up(integration_id))
    outcome = pipeline.run("update_event", **follow_up(integration_id, subject="Too late"))
    assert outcome.status is JobStatus.FAILED
    assert outcome.error is not None and outcome.error.code is ErrorCode.CONFLICT


# cancel_event -------------------------------------------------------------------------------------


# Where the cancelled event lands. Graph's cancel (how it sends cancellations) always moves the
# event to Deleted Items (learn.microsoft.com/graph/api/event-cancel), whatever the delete type.
LANDS_IN = {
    "ews": {"hard": None, "soft": "recoverableitemsdeletions", "move_to_deleted_items": "deleteditems"},
    "graph": {"hard": "deleteditems", "soft": "deleteditems", "move_to_deleted_items": "deleteditems"},
}


@pytest.mark.parametrize("delete_type", ["hard", "soft", "move_to_deleted_items"])
def test_cancel_deletes_the_way_the_integration_says(any_pipeline: PipelineHarness, delete_type: str) -> None:
    pipeline = any_pipeline
    lands_in = LANDS_IN[pipeline.backend][delete_type]
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
    any_pipeline: PipelineHarness, invited: bool, notify: bool
) -> None:
    pipeline = any_pipeline
    integration_id = _booked(pipeline, invited=invited)
    outcome = pipeline.run("cancel_event", **follow_up(integration_id, notify=notify))
    assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    assert stamped(pipeline.sim, ALICE, KEY) == []
    # Graph's DELETE of an invited organiser's meeting sends the cancellations itself
    # (learn.microsoft.com/graph/api/event-delete); nobody never invited hears of it on either.
    told = 1 if (notify or pipeline.on_graph) and invited else 0
    for person in (BOB, CAROL):
        assert len(messages(pipeline.sim, person, MEETING_CANCELLED)) == told, person
    # The app's booking.cancelled says whether the attendees were told, as they were.
    [cancelled] = [e for e in pipeline.store.list_pending_events(limit=1000)
                   if e.booking_key == KEY and e.type is EventType.BOOKING_CANCELLED]
    assert cancelled.data["notified"] is bool(told)


def test_the_jobs_reason_is_the_cancellations_text_on_graph(any_pipeline: PipelineHarness) -> None:
    pipeline = any_pipeline
    integration_id = _booked(pipeline)
    outcome = pipeline.run("cancel_event", **follow_up(integration_id, reason="The candidate withdrew."))
    assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    # Graph: the comment of POST .../cancel; EWS DeleteItem carries no text (Exchange's own notice).
    for person in (BOB, CAROL):
        [notice] = messages(pipeline.sim, person, MEETING_CANCELLED)
        assert ("The candidate withdrew." in (notice["body"] or "")) is pipeline.on_graph, person


def test_a_cancel_redelivered_after_its_delete_deletes_nothing_more(
    any_pipeline: PipelineHarness, counter: RequestCounter
) -> None:
    pipeline = any_pipeline
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
    assert made == requests(pipeline, "find")  # not in the calendar any more: nothing to delete
    assert len(pipeline.sim.folder_items(ALICE, "deleteditems")) == 1
    assert len(messages(pipeline.sim, BOB, MEETING_CANCELLED)) == 1


def test_a_cancel_redelivered_after_marking_but_before_deleting_deletes_once(
    any_pipeline: PipelineHarness, counter: RequestCounter
) -> None:
    pipeline = any_pipeline
    integration_id = _booked(pipeline)
    abandon_attempt(pipeline, "c-1", "cancel_event", integration_id)
    pipeline.store.mark_booking_cancelled(integration_id, KEY, datetime.now(UTC))
    with counter.counting() as made:
        outcome = pipeline.run("cancel_event", message_id="c-1", **follow_up(integration_id))
    assert outcome.status is JobStatus.SUCCEEDED
    assert made == requests(pipeline, "find_and_cancel")
    assert stamped(pipeline.sim, ALICE, KEY) == []
    assert len(messages(pipeline.sim, BOB, MEETING_CANCELLED)) == 1

