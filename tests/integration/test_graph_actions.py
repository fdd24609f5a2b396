"""Every action through the pipeline on a Graph integration, against the local Graph over TLS.

Real msal (client credentials against the simulator's authority), real requests, the simulator's
Graph request counts (`sim.graph.request_counts()`) for "one Graph request per action".
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra.ewssim import EwsSimulator
from pipeline.contract import JobStatus
from pipeline.errors import ErrorCode, RetryableError
from pipeline.exchange.graph.ids import is_ews_id
from pipeline.exchange.types import EventDraft
from pipeline.runtimes.runner import Job, run_job
from tests.integration.event_support import (
    ALICE,
    BOB,
    CAROL,
    MEETING_REQUEST,
    abandon_attempt,
    booking,
    claim,
    follow_up,
    gateway,
    messages,
    recorded_ref,
    stamped,
)
from tests.integration.graph_support import graph_sim, graph_simulator
from tests.integration.pipeline_support import PipelineHarness, graph_pipeline
from tests.seed import APP, smtp

__all__ = ["graph_pipeline", "graph_sim", "graph_simulator"]  # the fixtures, re-exported for pytest

KEY = "interview-1:slot-1"


@contextmanager
def graph_requests(sim: EwsSimulator) -> Iterator[Counter[str]]:
    """The Graph requests (by operation name) made inside the block."""
    before = Counter(sim.graph.request_counts())
    made: Counter[str] = Counter()
    yield made
    made.update(Counter(sim.graph.request_counts()) - before)


@pytest.fixture
def integration_id(graph_pipeline: PipelineHarness) -> str:
    return graph_pipeline.install("impersonation", "oauth2", backend="graph", integration_id="graph-imp")


def run(pipeline: PipelineHarness, actor: str, **kwargs: Any) -> Any:
    return pipeline.run(actor, **kwargs)


def test_check_connection_passes_every_step(graph_pipeline: PipelineHarness, integration_id: str) -> None:
    with graph_requests(graph_pipeline.sim) as made:
        outcome = run(graph_pipeline, "check_connection", integration_id=integration_id, mailbox=ALICE)

    assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    assert outcome.result is not None and outcome.result["ok"], outcome.result
    assert made == {"getCalendar": 2, "listRoomLists": 1}


def test_free_busy_is_chunked_at_graphs_limits_in_one_batch(
    graph_pipeline: PipelineHarness, integration_id: str
) -> None:
    # 25 mailboxes over 70 days: 2 x 2 getSchedule (20 schedules, < 62 days each), one $batch.
    known = [ALICE, BOB, CAROL]
    unknown = [f"nobody-{i}@example.com" for i in range(22)]
    start = datetime(2026, 12, 7, tzinfo=UTC)
    with graph_requests(graph_pipeline.sim) as made:
        outcome = run(graph_pipeline, "fetch_free_busy", integration_id=integration_id,
                      mailboxes=[*known, *unknown], start=start.isoformat(),
                      end=(start + timedelta(days=70)).isoformat())

    assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    assert made == {"batch": 1, "getSchedule": 4}
    answers = {entry["email"]: entry for entry in outcome.result["mailboxes"]}
    assert all(answers[m].get("error") is None for m in known)
    assert {answers[m]["error"]["code"] for m in unknown} == {ErrorCode.UNKNOWN_MAILBOX}


def test_create_without_sending_then_send_invite(
    graph_pipeline: PipelineHarness, integration_id: str
) -> None:
    sim = graph_pipeline.sim
    with graph_requests(sim) as created:
        outcome = run(graph_pipeline, "create_event", **booking(integration_id))
    assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    assert created == {"createEvent": 1}
    assert messages(sim, BOB, MEETING_REQUEST) == []

    with graph_requests(sim) as sent:
        invited = run(graph_pipeline, "send_invite", **follow_up(integration_id))
    assert invited.status is JobStatus.SUCCEEDED, invited.error
    assert sorted(invited.result["sent_to"]) == sorted([BOB, CAROL, smtp("room-a")])
    assert sent == {"getEvent": 1, "updateEvent": 1}
    assert len(messages(sim, BOB, MEETING_REQUEST)) == 1

    again = run(graph_pipeline, "send_invite", **follow_up(integration_id))
    assert again.result["already_sent"] is True
    assert len(messages(sim, BOB, MEETING_REQUEST)) == 1


def test_create_and_send_is_one_request(graph_pipeline: PipelineHarness, integration_id: str) -> None:
    with graph_requests(graph_pipeline.sim) as made:
        outcome = run(graph_pipeline, "create_event", **booking(integration_id, send_invitations=True))

    assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    assert outcome.result["invited"] is True
    assert made == {"createEvent": 1}
    assert len(messages(graph_pipeline.sim, BOB, MEETING_REQUEST)) == 1


def test_a_redelivered_create_finds_its_event_by_the_stamp(
    graph_pipeline: PipelineHarness, integration_id: str
) -> None:
    # The first attempt claimed the booking and created the event, then died before recording it.
    message_id = str(uuid.uuid4())
    abandon_attempt(graph_pipeline, message_id, "create_event", integration_id)
    claim(graph_pipeline, integration_id, message_id)
    start = datetime(2026, 11, 3, 14, tzinfo=UTC)
    with graph_requests(graph_pipeline.sim) as made:
        first = gateway(graph_pipeline, integration_id).create_event(EventDraft(
            subject="Interview", start=start, end=start + timedelta(hours=1), booking_key=KEY,
            required_attendees=(BOB,),
        ))
        outcome = graph_pipeline.run("create_event", message_id=message_id, **booking(integration_id))

    assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    assert outcome.result["created"] is False and outcome.result["item_id"] == first.item_id
    assert made["createEvent"] == 1 and made["listEvents"] == 1
    assert len(stamped(graph_pipeline.sim, ALICE, KEY)) == 1


def test_update_event_is_one_request(graph_pipeline: PipelineHarness, integration_id: str) -> None:
    run(graph_pipeline, "create_event", **booking(integration_id, send_invitations=True))
    with graph_requests(graph_pipeline.sim) as made:
        outcome = run(graph_pipeline, "update_event", **follow_up(
            integration_id, start="2026-11-03T15:00:00Z", end="2026-11-03T16:00:00Z", notify=True))

    assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    assert made == {"updateEvent": 1}
    (event,) = stamped(graph_pipeline.sim, ALICE, KEY)
    assert str(event["start"]).startswith("2026-11-03T15:00")


@pytest.mark.parametrize(("delete_type", "notify", "operation"), [
    ("hard", False, "permanentDeleteEvent"),
    ("soft", False, "deleteEvent"),
    ("move_to_deleted_items", False, "deleteEvent"),
    ("soft", True, "cancelEvent"),
])
def test_cancel_follows_the_delete_type(
    graph_pipeline: PipelineHarness, delete_type: str, notify: bool, operation: str
) -> None:
    integration_id = graph_pipeline.install("impersonation", "oauth2", backend="graph",
                                            integration_id=f"graph-{delete_type}", delete_type=delete_type)
    run(graph_pipeline, "create_event", **booking(integration_id, send_invitations=True))
    with graph_requests(graph_pipeline.sim) as made:
        outcome = run(graph_pipeline, "cancel_event", **follow_up(integration_id, notify=notify))

    assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    assert made == {operation: 1}
    assert stamped(graph_pipeline.sim, ALICE, KEY) == []


def test_list_rooms(graph_pipeline: PipelineHarness, integration_id: str) -> None:
    with graph_requests(graph_pipeline.sim) as made:
        outcome = run(graph_pipeline, "list_rooms", integration_id=integration_id)

    assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    assert made["listRoomLists"] == 1
    assert {room["email"] for room_list in outcome.result["room_lists"] for room in room_list["rooms"]} == {
        smtp(f"room-{x}") for x in "abcd"}


def test_sync_calendar_reports_others_events_and_skips_bookings(
    graph_pipeline: PipelineHarness, integration_id: str
) -> None:
    run(graph_pipeline, "create_event", **booking(integration_id))
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    gateway(graph_pipeline, integration_id).create_event(EventDraft(
        subject="Dentist", start=soon, end=soon + timedelta(hours=1), booking_key="someone-else"))
    with graph_requests(graph_pipeline.sim) as made:
        outcome = run(graph_pipeline, "sync_calendar", integration_id=integration_id, mailbox=ALICE)

    assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    assert made["calendarViewDelta"] >= 1
    graph_pipeline.sim.graph.expire_delta_tokens()
    restarted = run(graph_pipeline, "sync_calendar", integration_id=integration_id, mailbox=ALICE)
    assert restarted.status is JobStatus.SUCCEEDED, restarted.error
    assert restarted.result["restarted"] is True


def test_a_mailbox_outside_the_apps_scope_is_access_denied(
    graph_pipeline: PipelineHarness, integration_id: str
) -> None:
    graph_pipeline.sim.graph.set_access_policy(APP["client_id"], [BOB])
    outcome = run(graph_pipeline, "create_event", **booking(integration_id))

    assert outcome.status is JobStatus.FAILED
    assert outcome.error is not None and outcome.error.code is ErrorCode.ACCESS_DENIED


def test_a_booking_calendar_outside_the_apps_scope_names_what_the_app_lacks(
    graph_pipeline: PipelineHarness,
) -> None:
    # The app may reach alice and bob, not carol, whose calendar the integration books into.
    integration_id = graph_pipeline.install(
        "impersonation", "oauth2", backend="graph", booking_calendar={"mailbox": CAROL, "path": "Calendar"}
    )
    graph_pipeline.sim.graph.set_access_policy(APP["client_id"], [ALICE, BOB])
    outcome = run(graph_pipeline, "create_event", **booking(integration_id))

    assert outcome.status is JobStatus.FAILED and outcome.error is not None
    assert outcome.error.code is ErrorCode.ACCESS_DENIED and not outcome.error.retryable
    # Graph's advice, not EWS's folder permissions: app-only access is the app's grant and scope.
    assert outcome.error.message.startswith(
        f"the app registration needs the Calendars.ReadWrite application permission for the default "
        f"calendar of {CAROL}"
    ), outcome.error.message
    assert graph_pipeline.store.get_booking(integration_id, KEY) is None


def test_an_unknown_mailbox(graph_pipeline: PipelineHarness, integration_id: str) -> None:
    outcome = run(graph_pipeline, "create_event", **booking(integration_id, mailbox="nobody@example.com"))

    assert outcome.status is JobStatus.FAILED
    assert outcome.error is not None and outcome.error.code is ErrorCode.UNKNOWN_MAILBOX


def test_throttling_is_retried_no_sooner_than_retry_after(
    graph_pipeline: PipelineHarness, integration_id: str
) -> None:
    graph_pipeline.sim.graph.faults.fail("server_busy", operation="createEvent", count=1, back_off_ms=7000)
    job = Job(str(uuid.uuid4()), "create_event", booking(integration_id))

    with pytest.raises(RetryableError) as raised:
        run_job(graph_pipeline.runtime, job)

    assert raised.value.code is ErrorCode.SERVER_BUSY
    assert raised.value.delay_ms is not None and raised.value.delay_ms >= 7000  # Retry-After: 7
    record = graph_pipeline.store.get_job(job.message_id)
    assert record is not None and record.to_outcome().status is JobStatus.RETRYING
    # The retry creates the event once.
    again = graph_pipeline.run("create_event", message_id=job.message_id, **booking(integration_id))
    assert again.status is JobStatus.SUCCEEDED, again.error
    assert len(stamped(graph_pipeline.sim, ALICE, KEY)) == 1


def test_a_booking_made_on_ews_is_updated_and_cancelled_on_graph(graph_pipeline: PipelineHarness) -> None:
    sim = graph_pipeline.sim
    integration_id = graph_pipeline.install("impersonation", "basic", integration_id="moving",
                                            verify_tls=False)
    made = run(graph_pipeline, "create_event", **booking(integration_id, send_invitations=True))
    assert made.status is JobStatus.SUCCEEDED, made.error
    ews_id = recorded_ref(graph_pipeline, integration_id).item_id

    # The operator moves the integration to Graph (docs/graph.md): same id, same bookings.
    graph_pipeline.install("impersonation", "oauth2", integration_id="moving", backend="graph")
    graph_pipeline.secrets.get("ews/moving/service", refresh=True)  # past the secret cache's age
    with graph_requests(sim) as updating:
        updated = run(graph_pipeline, "update_event", **follow_up(
            integration_id, start="2026-11-03T16:00:00Z", end="2026-11-03T17:00:00Z"))
    assert updated.status is JobStatus.SUCCEEDED, updated.error
    assert updating["translateExchangeIds"] == (1 if is_ews_id(ews_id) else 0)
    assert updating["updateEvent"] == 1
    assert not is_ews_id(recorded_ref(graph_pipeline, integration_id).item_id)

    cancelled = run(graph_pipeline, "cancel_event", **follow_up(integration_id))
    assert cancelled.status is JobStatus.SUCCEEDED, cancelled.error
    assert stamped(sim, ALICE, KEY) == []
