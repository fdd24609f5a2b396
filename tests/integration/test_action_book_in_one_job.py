"""A booking in one job: create_event with send_invitations, one CreateItem that saves the event
and invites everyone, against the simulator over real HTTP, with exact EWS request counts.

Exactly once as for create_event | send_invite: a redelivery (the same message, or a worker that
died between the CreateItem and the booking record) finds the event by its stamp and sends
nothing; the invitations are counted in the attendees' inboxes, the events in the outbox.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra.graphsim.models.ids import ews_id
from pipeline.contract import JobOutcome, JobStatus
from pipeline.contract.booking import BookingState
from pipeline.exchange.types import EventDraft
from tests.integration.event_support import (
    ALICE,
    BOB,
    CAROL,
    MEETING_REQUEST,
    ROOM_A,
    RequestCounter,
    abandon_attempt,
    booking,
    calendar_owner,
    claim,
    follow_up,
    gateway,
    messages,
    stamped,
)
from tests.integration.graph_support import graph_sim, graph_simulator
from tests.integration.pipeline_support import (
    CONNECTION_METHODS,
    GRAPH_AUTH,
    METHOD_AUTH_PAIRS,
    PipelineHarness,
    any_pipeline,
    graph_pipeline,
    pipeline,
)

# The fixtures, re-exported for pytest.
__all__ = ["any_pipeline", "graph_pipeline", "graph_sim", "graph_simulator", "pipeline"]

KEY = "interview-1:slot-1"
EVERYONE = (BOB, CAROL, ROOM_A)
CREATED, INVITED = "booking.created", "booking.invitations_sent"
SUBJECT = "Interview: Dana Diaz"  # booking()'s subject template, rendered


@pytest.fixture(autouse=True)
def _local_oauth(monkeypatch: pytest.MonkeyPatch) -> None:
    # The simulator's token endpoint is plain http on localhost.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


# The requests per step, per backend (Graph: sim.graph.request_counts()'s names). On Graph too a
# booking in one job is one POST with the attendees, and a redelivery finds the event by its stamp.
REQUESTS = {
    "ews": {"create": {"CreateItem": 1}, "find": {"FindItem": 1},
            "find_and_create": {"FindItem": 1, "CreateItem": 1}, "send": {"UpdateItem": 1}},
    "graph": {"create": {"createEvent": 1}, "find": {"listEvents": 1},
              "find_and_create": {"listEvents": 1, "createEvent": 1},
              "send": {"getEvent": 1, "updateEvent": 1}},  # GET the held attendees, PATCH them in
}
# Every EWS method and auth pair, and the four methods on Graph (pipeline_support.GRAPH_AUTH).
METHOD_CASES = [
    *(pytest.param("ews", method, auth, id=f"ews-{method}-{auth}") for method, auth in METHOD_AUTH_PAIRS),
    *(pytest.param("graph", method, GRAPH_AUTH[method], id=f"graph-{method}")
      for method in CONNECTION_METHODS),
]


@pytest.fixture
def counter(any_pipeline: PipelineHarness) -> RequestCounter:
    return RequestCounter(any_pipeline.sim, graph=any_pipeline.on_graph)


def requests(pipeline: PipelineHarness, step: str) -> dict[str, int]:
    return REQUESTS[pipeline.backend][step]


def book(integration_id: str, booking_key: str = KEY, **overrides: Any) -> dict[str, Any]:
    return booking(integration_id, booking_key, send_invitations=True, **overrides)


def ok(outcome: JobOutcome) -> dict[str, Any]:
    assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    assert outcome.result is not None
    return outcome.result


def invitations(pipeline: PipelineHarness, people: tuple[str, ...] = EVERYONE) -> dict[str, int]:
    """Meeting requests for the booking (by its subject) in each person's inbox."""
    return {person: sum(1 for m in messages(pipeline.sim, person, MEETING_REQUEST)
                        if m["subject"] in (SUBJECT, draft().subject))
            for person in people}


def outbox(pipeline: PipelineHarness, booking_key: str = KEY) -> Counter[str]:
    """The booking's events waiting for a sink, by type (none is published in these tests)."""
    return Counter(e.type.value for e in pipeline.store.list_pending_events(limit=1000)
                   if e.booking_key == booking_key)


def assert_booked_and_invited_once(pipeline: PipelineHarness, integration_id: str, owner: str = ALICE,
                                   people: tuple[str, ...] = EVERYONE) -> None:
    """One event, every invitee one meeting request, the record invited, each event once."""
    [event] = stamped(pipeline.sim, owner, KEY)
    assert event["meeting_request_was_sent"] is True
    assert invitations(pipeline, people) == dict.fromkeys(people, 1)
    record = pipeline.store.get_booking(integration_id, KEY)
    assert record is not None and not record.pending
    assert record.state is BookingState.INVITED
    assert set(record.invites_sent_to) == set(people)
    assert (ews_id(record.item_id), record.change_key) == (event["item_id"], event["change_key"])
    assert outbox(pipeline) == {CREATED: 1, INVITED: 1}
    [sent] = [e for e in pipeline.store.list_pending_events(limit=1000)
              if e.type.value == INVITED and e.booking_key == KEY]
    assert set(sent.data["recipients"]) == set(people)


# The common path ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("any_pipeline", "method", "auth"), METHOD_CASES, indirect=["any_pipeline"])
def test_a_booking_is_one_create_item_warm_and_invites_everyone_once(
    any_pipeline: PipelineHarness, counter: RequestCounter, method: str, auth: str
) -> None:
    pipeline = any_pipeline
    integration_id = pipeline.install(method, auth)
    owner = calendar_owner(method)
    people = (*EVERYONE, ALICE) if method == "dedicated" else EVERYONE
    # A first booking warms the worker up (connections, the secret, autodiscover, a token).
    ok(pipeline.run("create_event", **book(integration_id, "warm-up:1", subject="Warm-up")))

    with counter.counting() as made:
        result = ok(pipeline.run("create_event", **book(integration_id)))

    assert made == requests(pipeline, "create")  # one request per booking, nothing else
    assert result["created"] is True and result["invited"] is True
    assert set(result["sent_to"]) == set(people)
    assert result["calendar_mailbox"] == owner
    assert_booked_and_invited_once(pipeline, integration_id, owner, people)
    [request] = [m for m in messages(pipeline.sim, BOB, MEETING_REQUEST) if m["subject"] != "Warm-up"]
    assert request["subject"] == SUBJECT  # the template, rendered

    # Then send_invite (an app that pipes it anyway) finds them sent: no request, nobody twice.
    with counter.counting() as made:
        again = ok(pipeline.run("send_invite", **follow_up(integration_id)))
    assert made == {}
    assert again == {"booking_key": KEY, "sent_to": [], "already_sent": True}
    assert_booked_and_invited_once(pipeline, integration_id, owner, people)


def test_the_same_message_delivered_again_after_success_makes_no_request(
    any_pipeline: PipelineHarness, counter: RequestCounter
) -> None:
    pipeline = any_pipeline
    integration_id = pipeline.install("delegate")
    first = ok(pipeline.run("create_event", message_id="m-1", **book(integration_id)))
    with counter.counting() as made:
        again = ok(pipeline.run("create_event", message_id="m-1", **book(integration_id)))
    assert made == {}
    assert again == first
    # A new message for the same booking: the record answers, invited, nothing sent again.
    with counter.counting() as made:
        other = ok(pipeline.run("create_event", **book(integration_id)))
    assert made == {}
    assert (other["created"], other["invited"], other["sent_to"]) == (False, True, [])
    assert_booked_and_invited_once(pipeline, integration_id)


def test_nobody_to_invite_sends_nothing_and_stays_booked(
    any_pipeline: PipelineHarness, counter: RequestCounter
) -> None:
    pipeline = any_pipeline
    integration_id = pipeline.install("personal")
    with counter.counting() as made:
        result = ok(pipeline.run("create_event", **book(
            integration_id, required_attendees=[], optional_attendees=[], rooms=[])))
    assert made == requests(pipeline, "create")
    assert (result["invited"], result["sent_to"]) == (False, [])
    [event] = stamped(pipeline.sim, ALICE, KEY)
    assert event["meeting_request_was_sent"] is False
    record = pipeline.store.get_booking(integration_id, KEY)
    assert record is not None and record.state is BookingState.BOOKED and not record.invites_sent_to
    assert outbox(pipeline) == {CREATED: 1}


def test_create_event_without_send_invitations_still_holds_the_event(
    any_pipeline: PipelineHarness, counter: RequestCounter
) -> None:
    pipeline = any_pipeline
    integration_id = pipeline.install("delegate")
    with counter.counting() as made:
        held = ok(pipeline.run("create_event", **booking(integration_id)))
    assert made == requests(pipeline, "create")
    assert (held["invited"], held["sent_to"]) == (False, [])
    assert invitations(pipeline) == dict.fromkeys(EVERYONE, 0)
    record = pipeline.store.get_booking(integration_id, KEY)
    assert record is not None and record.state is BookingState.BOOKED
    assert outbox(pipeline) == {CREATED: 1}

    with counter.counting() as made:
        sent = ok(pipeline.run("send_invite", **follow_up(integration_id)))
    assert made == requests(pipeline, "send")
    assert set(sent["sent_to"]) == set(EVERYONE)
    assert_booked_and_invited_once(pipeline, integration_id)


# Redeliveries and workers that died ----------------------------------------------------------------


def draft() -> EventDraft:
    start = datetime(2026, 11, 3, 14, tzinfo=UTC)
    return EventDraft(
        subject="Interview", start=start, end=start + timedelta(hours=1), booking_key=KEY,
        required_attendees=(BOB,), optional_attendees=(CAROL,), rooms=(ROOM_A,),
    )  # fmt: skip


def test_a_worker_dying_after_create_item_is_redelivered_and_sends_nothing(
    any_pipeline: PipelineHarness, counter: RequestCounter
) -> None:
    pipeline = any_pipeline
    integration_id = pipeline.install("delegate")
    # The dead attempt claimed the booking, and its CreateItem saved the event and invited.
    abandon_attempt(pipeline, "m-1", "create_event", integration_id)
    claim(pipeline, integration_id, "m-1")
    made_before_dying = gateway(pipeline, integration_id).create_event(draft(), invite_marker="m-1")
    assert invitations(pipeline) == dict.fromkeys(EVERYONE, 1)

    with counter.counting() as made:
        outcome = pipeline.run("create_event", message_id="m-1", **book(integration_id))
    result = ok(outcome)
    assert outcome.attempts == 2
    assert made == requests(pipeline, "find")  # found by its stamp: neither created nor sent again
    assert (result["created"], result["invited"], result["sent_to"]) == (False, True, [])
    assert result["item_id"] == made_before_dying.item_id
    assert_booked_and_invited_once(pipeline, integration_id)


class WorkerKilled(BaseException):
    """Stands for SIGKILL: nothing in the worker catches it, nothing more is written."""


class DiesBeforeRecording:
    """The results store of a worker killed after its CreateItem, before the booking record."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def put_booking(self, *args: Any, **kwargs: Any) -> None:
        raise WorkerKilled


def test_a_worker_killed_between_create_item_and_the_record_invites_once(
    any_pipeline: PipelineHarness, counter: RequestCounter
) -> None:
    pipeline = any_pipeline
    integration_id = pipeline.install("delegate")
    runtime = pipeline.runtime
    pipeline.runtime = replace(runtime, store=DiesBeforeRecording(runtime.store))
    with counter.counting() as made, pytest.raises(WorkerKilled):
        pipeline.run("create_event", message_id="m-1", **book(integration_id))
    assert made == requests(pipeline, "create")
    assert invitations(pipeline) == dict.fromkeys(EVERYONE, 1)
    pending = runtime.store.get_booking(integration_id, KEY)
    assert pending is not None and pending.pending and outbox(pipeline) == {}

    # The broker hands the message to another worker once the dead one's lease has run out.
    later = datetime.now(UTC) + timedelta(seconds=runtime.config.job_lease_seconds + 5)
    pipeline.runtime = replace(runtime, clock=lambda: later)
    with counter.counting() as made:
        outcome = pipeline.run("create_event", message_id="m-1", **book(integration_id))
    result = ok(outcome)
    assert outcome.attempts == 2
    assert made == requests(pipeline, "find")
    assert (result["created"], result["invited"], result["sent_to"]) == (False, True, [])
    assert_booked_and_invited_once(pipeline, integration_id)


def test_a_worker_dying_before_create_item_gets_its_booking_made_and_sent_once(
    any_pipeline: PipelineHarness, counter: RequestCounter
) -> None:
    pipeline = any_pipeline
    integration_id = pipeline.install("delegate")
    abandon_attempt(pipeline, "m-1", "create_event", integration_id)
    claim(pipeline, integration_id, "m-1")
    with counter.counting() as made:
        result = ok(pipeline.run("create_event", message_id="m-1", **book(integration_id)))
    assert made == requests(pipeline, "find_and_create")
    assert (result["created"], result["invited"]) == (True, True)
    assert_booked_and_invited_once(pipeline, integration_id)


def test_an_event_held_by_a_dead_attempt_is_recorded_as_held_not_invited(
    any_pipeline: PipelineHarness, counter: RequestCounter
) -> None:
    pipeline = any_pipeline
    integration_id = pipeline.install("delegate")
    # A create_event without send_invitations saved the event and died; its claim is abandoned,
    # and another job (a new message, with send_invitations) takes the booking over.
    abandon_attempt(pipeline, "hold-1", "create_event", integration_id)
    claim(pipeline, integration_id, "hold-1", at=datetime.now(UTC) - timedelta(hours=1))
    gateway(pipeline, integration_id).create_event(draft())

    with counter.counting() as made:
        result = ok(pipeline.run("create_event", **book(integration_id)))
    assert made == requests(pipeline, "find")  # the stamp says nobody was invited; create_event sends nothing
    assert (result["created"], result["invited"]) == (False, False)
    record = pipeline.store.get_booking(integration_id, KEY)
    assert record is not None and record.state is BookingState.BOOKED and not record.invites_sent_to
    assert invitations(pipeline) == dict.fromkeys(EVERYONE, 0)

    # send_invite invites the held event, once.
    ok(pipeline.run("send_invite", **follow_up(integration_id)))
    assert_booked_and_invited_once(pipeline, integration_id)


def test_jobs_racing_for_one_booking_create_and_invite_once(any_pipeline: PipelineHarness) -> None:
    pipeline = any_pipeline
    integration_id = pipeline.install("delegate")
    outcomes: list[JobOutcome] = []
    start = threading.Barrier(4)

    def run() -> None:
        start.wait()
        outcomes.append(pipeline.run("create_event", message_id=str(uuid.uuid4()), **book(integration_id)))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert pipeline.request_counts().get(next(iter(requests(pipeline, "create")))) == 1
    assert sum(1 for o in outcomes if o.result and o.result["sent_to"]) == 1
    assert all(o.status in (JobStatus.SUCCEEDED, JobStatus.RETRYING) for o in outcomes)
    assert_booked_and_invited_once(pipeline, integration_id)
