"""Exactly-once create_event and send_invite: redeliveries, workers that died mid-job, racing jobs.

A dead attempt is played by doing its EWS write through the same gateway a job uses, and
recording its job as begun long ago (its lease ran out), so that the next delivery of the same
message takes it over as attempt two.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra.graphsim.models.ids import ews_id
from pipeline.contract import JobOutcome, JobStatus
from pipeline.errors import ErrorCode
from pipeline.exchange.types import EventChanges, EventDraft, NotifyAttendees
from tests.integration.event_support import (
    ALICE,
    BOB,
    CAROL,
    MEETING_REQUEST,
    ROOM_A,
    RequestCounter,
    abandon_attempt,
    booking,
    claim,
    follow_up,
    gateway,
    long_ago,
    messages,
    recorded_ref,
    stamped,
)
from tests.integration.graph_support import graph_sim, graph_simulator
from tests.integration.pipeline_support import PipelineHarness, any_pipeline, graph_pipeline, pipeline

# The fixtures, re-exported for pytest.
__all__ = ["any_pipeline", "graph_pipeline", "graph_sim", "graph_simulator", "pipeline"]

KEY = "interview-1:slot-1"


def draft() -> EventDraft:
    start = datetime(2026, 11, 3, 14, tzinfo=UTC)
    return EventDraft(
        subject="Interview", start=start, end=start + timedelta(hours=1), booking_key=KEY,
        required_attendees=(BOB,), optional_attendees=(CAROL,), rooms=(ROOM_A,),
    )  # fmt: skip


# The requests per step, per backend (Graph: sim.graph.request_counts()'s names). The Graph create
# is not idempotent by itself: a redelivery finds its event by the booking key's extended property.
REQUESTS = {
    "ews": {"create": "CreateItem", "find": {"FindItem": 1},
            "find_and_create": {"FindItem": 1, "CreateItem": 1},
            "resend": {"UpdateItem": 1, "GetItem": 1}, "send_after_edit": {"UpdateItem": 2, "GetItem": 1}},
    "graph": {"create": "createEvent", "find": {"listEvents": 1},
              "find_and_create": {"listEvents": 1, "createEvent": 1},
              # send_invite's GET finds the change key moved on: the conflict path reads the
              # event's stamp, then sends (GET + PATCH) on the version it read.
              "resend": {"getEvent": 2}, "send_after_edit": {"getEvent": 3, "updateEvent": 1}},
}


@pytest.fixture
def integration_id(any_pipeline: PipelineHarness) -> str:
    return any_pipeline.install("delegate")


@pytest.fixture
def counter(any_pipeline: PipelineHarness) -> RequestCounter:
    return RequestCounter(any_pipeline.sim, graph=any_pipeline.on_graph)


def requests(pipeline: PipelineHarness, step: str) -> Any:
    return REQUESTS[pipeline.backend][step]


# create_event ------------------------------------------------------------------------------------


def test_the_same_message_delivered_again_after_success_makes_no_request(
    any_pipeline: PipelineHarness, integration_id: str, counter: RequestCounter
) -> None:
    pipeline = any_pipeline
    first = pipeline.run("create_event", message_id="m-1", **booking(integration_id))
    with counter.counting() as made:
        again = pipeline.run("create_event", message_id="m-1", **booking(integration_id))
    assert made == {}
    assert again.status is JobStatus.SUCCEEDED and again.result == first.result
    assert len(stamped(pipeline.sim, ALICE, KEY)) == 1


def test_a_worker_dying_after_create_item_leaves_one_event(
    any_pipeline: PipelineHarness, integration_id: str, counter: RequestCounter
) -> None:
    pipeline = any_pipeline
    abandon_attempt(pipeline, "m-1", "create_event", integration_id)
    claim(pipeline, integration_id, "m-1")
    made_before_dying = gateway(pipeline, integration_id).create_event(draft())

    with counter.counting() as made:
        outcome = pipeline.run("create_event", message_id="m-1", **booking(integration_id))
    assert outcome.status is JobStatus.SUCCEEDED and outcome.attempts == 2
    assert made == requests(pipeline, "find")  # found by its stamp, not created again
    assert outcome.result is not None and outcome.result["created"] is False
    assert outcome.result["item_id"] == made_before_dying.item_id
    # The simulator's Python view shows EWS ids; Graph's are the same in the URL-safe alphabet.
    in_calendar = [ews_id(e["item_id"]) for e in stamped(pipeline.sim, ALICE, KEY)]
    assert in_calendar == [ews_id(made_before_dying.item_id)]
    assert recorded_ref(pipeline, integration_id).item_id == made_before_dying.item_id


def test_a_worker_dying_before_create_item_gets_its_event_created(
    any_pipeline: PipelineHarness, integration_id: str, counter: RequestCounter
) -> None:
    pipeline = any_pipeline
    abandon_attempt(pipeline, "m-1", "create_event", integration_id)
    claim(pipeline, integration_id, "m-1")
    with counter.counting() as made:
        outcome = pipeline.run("create_event", message_id="m-1", **booking(integration_id))
    assert outcome.status is JobStatus.SUCCEEDED
    assert made == requests(pipeline, "find_and_create")
    assert outcome.result is not None and outcome.result["created"] is True
    assert len(stamped(pipeline.sim, ALICE, KEY)) == 1


def test_a_booking_another_job_is_creating_is_retried_not_raced(
    any_pipeline: PipelineHarness, integration_id: str, counter: RequestCounter
) -> None:
    pipeline = any_pipeline
    claim(pipeline, integration_id, "another-job")
    with counter.counting() as made:
        outcome = pipeline.run("create_event", **booking(integration_id))
    assert made == {}
    assert outcome.status is JobStatus.RETRYING
    assert outcome.error is not None and outcome.error.code is ErrorCode.CONFLICT and outcome.error.retryable
    assert stamped(pipeline.sim, ALICE, KEY) == []


def test_a_claim_abandoned_longer_than_a_lease_is_taken_over(
    any_pipeline: PipelineHarness, integration_id: str, counter: RequestCounter
) -> None:
    pipeline = any_pipeline
    claim(pipeline, integration_id, "dead-job", at=long_ago(pipeline))
    with counter.counting() as made:
        outcome = pipeline.run("create_event", **booking(integration_id))
    assert outcome.status is JobStatus.SUCCEEDED
    assert made == requests(pipeline, "find_and_create")
    assert len(stamped(pipeline.sim, ALICE, KEY)) == 1


def _run_at_once(
    pipeline: PipelineHarness, action: str, kwargs: dict[str, object], jobs: int
) -> list[JobOutcome]:
    outcomes: list[JobOutcome] = []
    start = threading.Barrier(jobs)

    def run() -> None:
        start.wait()
        outcomes.append(pipeline.run(action, message_id=str(uuid.uuid4()), **kwargs))

    threads = [threading.Thread(target=run) for _ in range(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_create_event_jobs_racing_for_one_booking_create_one_event(
    any_pipeline: PipelineHarness, integration_id: str
) -> None:
    pipeline = any_pipeline
    outcomes = _run_at_once(pipeline, "create_event", booking(integration_id), jobs=4)
    assert len(stamped(pipeline.sim, ALICE, KEY)) == 1
    assert pipeline.request_counts().get(requests(pipeline, "create")) == 1
    created = [o for o in outcomes if o.result and o.result["created"]]
    assert len(created) == 1
    # The others found the booking done, or were told to come back while it was being created.
    assert all(o.status in (JobStatus.SUCCEEDED, JobStatus.RETRYING) for o in outcomes)


# send_invite -------------------------------------------------------------------------------------


@pytest.mark.parametrize("same_message", [True, False], ids=["redelivered", "new-message"])
def test_a_worker_dying_after_sending_invites_nobody_twice(
    any_pipeline: PipelineHarness, integration_id: str, counter: RequestCounter, same_message: bool
) -> None:
    pipeline = any_pipeline
    pipeline.run("create_event", **booking(integration_id))
    abandon_attempt(pipeline, "s-1", "send_invite", integration_id)
    gateway(pipeline, integration_id).send_invitations(recorded_ref(pipeline, integration_id), marker="s-1")
    assert len(messages(pipeline.sim, BOB, MEETING_REQUEST)) == 1

    with counter.counting() as made:
        outcome = pipeline.run(
            "send_invite", message_id="s-1" if same_message else "s-2", **follow_up(integration_id)
        )
    assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    # The recorded change key is stale (the send moved it on), so the item's stamp is read.
    assert made == requests(pipeline, "resend")
    assert outcome.result == {"booking_key": KEY, "sent_to": [], "already_sent": True}
    for person in (BOB, CAROL, ROOM_A):
        assert len(messages(pipeline.sim, person, MEETING_REQUEST)) == 1, person
    record = pipeline.store.get_booking(integration_id, KEY)
    assert record is not None and set(record.invites_sent_to) == {BOB, CAROL, ROOM_A}

    with counter.counting() as made:
        pipeline.run("send_invite", **follow_up(integration_id))
    assert made == {}


def test_invites_go_out_once_when_the_event_was_edited_before_sending(
    any_pipeline: PipelineHarness, integration_id: str, counter: RequestCounter
) -> None:
    pipeline = any_pipeline
    pipeline.run("create_event", **booking(integration_id))
    # Someone changes the event in Exchange before send_invite runs: the recorded key is stale.
    gateway(pipeline, integration_id).update_event(
        recorded_ref(pipeline, integration_id), EventChanges(location="Room B"),
        notify=NotifyAttendees.NONE, marker="outlook",
    )  # fmt: skip
    with counter.counting() as made:
        outcome = pipeline.run("send_invite", **follow_up(integration_id))
    assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    assert made == requests(pipeline, "send_after_edit")
    assert outcome.result is not None and outcome.result["already_sent"] is False
    assert len(messages(pipeline.sim, BOB, MEETING_REQUEST)) == 1


def test_send_invite_jobs_racing_invite_everyone_once(
    any_pipeline: PipelineHarness, integration_id: str
) -> None:
    pipeline = any_pipeline
    pipeline.run("create_event", **booking(integration_id))
    outcomes = _run_at_once(pipeline, "send_invite", follow_up(integration_id), jobs=4)
    assert all(o.status is JobStatus.SUCCEEDED for o in outcomes), [o.error for o in outcomes]
    for person in (BOB, CAROL, ROOM_A):
        assert len(messages(pipeline.sim, person, MEETING_REQUEST)) == 1, person
    assert sum(1 for o in outcomes if o.result and not o.result["already_sent"]) == 1


def test_send_invite_before_create_event_finished_is_retried(
    any_pipeline: PipelineHarness, integration_id: str, counter: RequestCounter
) -> None:
    pipeline = any_pipeline
    claim(pipeline, integration_id, "creating-job")
    with counter.counting() as made:
        outcome = pipeline.run("send_invite", **follow_up(integration_id))
    assert made == {}
    assert outcome.status is JobStatus.RETRYING
    assert outcome.error is not None and outcome.error.code is ErrorCode.CONFLICT
