"""create_event | send_invite, update_event and cancel_event for every connection method and auth
type, against the simulator over real HTTP, with exact request counts per job: on EWS, and on
Graph (the same company through the local Graph, any_pipeline)."""

from __future__ import annotations

import json

import pytest

from pipeline.contract import JobStatus
from pipeline.errors import ErrorCode
from tests.integration.event_support import (
    ALICE,
    BOB,
    CAROL,
    MEETING_CANCELLED,
    MEETING_REQUEST,
    ROOM_A,
    RequestCounter,
    booking,
    calendar_owner,
    follow_up,
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
from tests.seed import APP, smtp

# The fixtures, re-exported for pytest.
__all__ = ["any_pipeline", "graph_pipeline", "graph_sim", "graph_simulator", "pipeline"]

KEY = "interview-1:slot-1"


@pytest.fixture(autouse=True)
def _local_oauth(monkeypatch: pytest.MonkeyPatch) -> None:
    # The simulator's token endpoint is plain http on localhost.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


# The lifecycle on both backends: every EWS method and auth pair, and the four methods on Graph
# (with the auth type Graph takes for each, pipeline_support.GRAPH_AUTH).
LIFECYCLE_CASES = [
    *(pytest.param("ews", method, auth, id=f"ews-{method}-{auth}") for method, auth in METHOD_AUTH_PAIRS),
    *(pytest.param("graph", method, GRAPH_AUTH[method], id=f"graph-{method}")
      for method in CONNECTION_METHODS),
]
# The requests each step costs, per backend (Graph: sim.graph.request_counts()'s names).
LIFECYCLE_REQUESTS = {
    "ews": {"create": {"CreateItem": 1}, "send": {"UpdateItem": 1}, "update": {"UpdateItem": 1},
            "cancel": {"DeleteItem": 1}},
    # send_invite on Graph: GET the held attendees, PATCH them in (docs/graph.md, "What differs").
    "graph": {"create": {"createEvent": 1}, "send": {"getEvent": 1, "updateEvent": 1},
              "update": {"updateEvent": 1}, "cancel": {"cancelEvent": 1}},
}
# Where a soft-deleted, cancelled organiser's event lands: EWS's SoftDelete goes to Recoverable
# Items; Graph's cancel moves the event to Deleted Items (learn.microsoft.com/graph/api/event-cancel).
CANCELLED_TO = {"ews": "recoverableitemsdeletions", "graph": "deleteditems"}


@pytest.mark.parametrize(("any_pipeline", "method", "auth"), LIFECYCLE_CASES, indirect=["any_pipeline"])
def test_booking_lifecycle_costs_one_request_per_job_and_never_repeats_an_effect(
    any_pipeline: PipelineHarness, method: str, auth: str
) -> None:
    pipeline = any_pipeline
    sim = pipeline.sim
    expected = LIFECYCLE_REQUESTS[pipeline.backend]
    integration_id = pipeline.install(method, auth)
    owner = calendar_owner(method)
    invitees = [BOB, CAROL] + ([ALICE] if method == "dedicated" else [])
    counter = RequestCounter(sim, graph=pipeline.on_graph)

    # create_event: one request, the stamped event in the right calendar, nobody invited yet.
    with counter.counting() as made:
        created = pipeline.run("create_event", **booking(integration_id))
    assert created.status is JobStatus.SUCCEEDED, created.error
    assert made == expected["create"]
    assert created.result is not None and created.result["created"] is True
    assert created.result["calendar_mailbox"] == owner
    [event] = stamped(sim, owner, KEY)
    assert event["subject"] == "Interview: Dana Diaz"
    required = {a["email"] for a in event["required_attendees"]}
    if pipeline.on_graph:
        # Graph has no "save without sending": the attendees wait in a stamp until send_invite.
        assert (required, event["resources"]) == (set(), [])
    else:
        assert required == ({BOB, ALICE} if method == "dedicated" else {BOB})
        assert [a["email"] for a in event["resources"]] == [ROOM_A]
    assert event["meeting_request_was_sent"] is False
    assert all(messages(sim, person, MEETING_REQUEST) == [] for person in invitees)

    # create_event again under a new message id: the booking record answers, no request.
    with counter.counting() as made:
        again = pipeline.run("create_event", **booking(integration_id))
    assert again.status is JobStatus.SUCCEEDED and again.result is not None
    assert made == {}
    assert again.result["created"] is False and again.result["item_id"] == created.result["item_id"]
    assert len(stamped(sim, owner, KEY)) == 1

    # send_invite: every attendee and the room get exactly one request.
    with counter.counting() as made:
        sent = pipeline.run("send_invite", **follow_up(integration_id))
    assert sent.status is JobStatus.SUCCEEDED, sent.error
    assert made == expected["send"]
    assert sent.result is not None and sent.result["already_sent"] is False
    assert set(sent.result["sent_to"]) == {*invitees, ROOM_A}
    for person in [*invitees, ROOM_A]:
        assert len(messages(sim, person, MEETING_REQUEST)) == 1, person
    [event] = stamped(sim, owner, KEY)
    required = {a["email"] for a in event["required_attendees"]}
    assert required == ({BOB, ALICE} if method == "dedicated" else {BOB})
    assert [a["email"] for a in event["resources"]] == [ROOM_A]

    # send_invite again (new message id): nothing sent, no request.
    with counter.counting() as made:
        resent = pipeline.run("send_invite", **follow_up(integration_id))
    assert resent.result == {"booking_key": KEY, "sent_to": [], "already_sent": True}
    assert made == {}
    assert all(len(messages(sim, person, MEETING_REQUEST)) == 1 for person in invitees)

    # update_event with notify: one request, every attendee gets the update.
    with counter.counting() as made:
        updated = pipeline.run(
            "update_event", **follow_up(integration_id, subject="Interview moved", location="Room B")
        )
    assert updated.status is JobStatus.SUCCEEDED, updated.error
    assert made == expected["update"]
    assert updated.result is not None and updated.result["notified"] is True
    [event] = stamped(sim, owner, KEY)
    assert (event["subject"], event["location"]) == ("Interview moved", "Room B")
    assert len(messages(sim, BOB, MEETING_REQUEST)) == 2

    # cancel_event: one request (soft by default), attendees told once.
    with counter.counting() as made:
        cancelled = pipeline.run("cancel_event", **follow_up(integration_id))
    assert cancelled.status is JobStatus.SUCCEEDED, cancelled.error
    assert made == expected["cancel"]
    assert cancelled.result == {"booking_key": KEY, "cancelled": True, "already_cancelled": False}
    assert stamped(sim, owner, KEY) == []
    for folder in ("recoverableitemsdeletions", "deleteditems"):
        assert len(sim.folder_items(owner, folder)) == (folder == CANCELLED_TO[pipeline.backend]), folder
    assert len(messages(sim, BOB, MEETING_CANCELLED)) == 1

    with counter.counting() as made:
        repeat = pipeline.run("cancel_event", **follow_up(integration_id))
    assert repeat.result == {"booking_key": KEY, "cancelled": True, "already_cancelled": True}
    assert made == {}
    assert len(messages(sim, BOB, MEETING_CANCELLED)) == 1


def test_the_event_carries_every_field_and_the_integration_templates(any_pipeline: PipelineHarness) -> None:
    pipeline = any_pipeline
    integration_id = pipeline.install(
        "delegate", subject_template="[Acme] {{ subject }}", body_template="{{ body }}<p>-- Acme</p>"
    )
    outcome = pipeline.run(
        "create_event",
        **booking(integration_id, categories=["Interview"], reminder_minutes=30, is_private=True),
    )
    assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    [event] = stamped(pipeline.sim, ALICE, KEY)
    assert event["subject"] == "[Acme] Interview: Dana Diaz"
    assert event["body"] == "<p>Panel interview with Dana Diaz</p><p>-- Acme</p>"
    assert event["body_type"] == "HTML"
    assert event["time_zone"] == "GMT Standard Time"  # Europe/London, as Windows names it
    assert event["start"].startswith("2026-11-03T14:00:00")
    assert event["location"] == "Room A"
    assert event["categories"] == ["Interview"]
    assert event["sensitivity"] == "Private"
    if pipeline.on_graph:  # held in a stamp until send_invite adds them (docs/graph.md)
        assert event["optional_attendees"] == []
        assert pipeline.run("send_invite", **follow_up(integration_id)).status is JobStatus.SUCCEEDED
        [event] = stamped(pipeline.sim, ALICE, KEY)
    assert [a["email"] for a in event["optional_attendees"]] == [CAROL]
    assert event["organizer"] == ALICE


def test_a_template_naming_a_missing_variable_fails_for_good(pipeline: PipelineHarness) -> None:
    integration_id = pipeline.install("delegate")
    outcome = pipeline.run("create_event", **booking(integration_id, template_vars={}))
    assert outcome.status is JobStatus.FAILED
    assert outcome.error is not None and outcome.error.code is ErrorCode.TEMPLATE_ERROR
    assert not outcome.error.retryable
    assert pipeline.sim.request_counts().get("CreateItem", 0) == 0


def test_delegate_without_write_access_is_denied_for_good(pipeline: PipelineHarness) -> None:
    # In the standard organisation svc sees only bob's free/busy.
    integration_id = pipeline.install("delegate")
    outcome = pipeline.run("create_event", **booking(integration_id, mailbox=BOB, required_attendees=[]))
    assert outcome.status is JobStatus.FAILED
    assert outcome.error is not None and outcome.error.code is ErrorCode.ACCESS_DENIED
    assert outcome.error.retryable is False
    assert stamped(pipeline.sim, BOB, KEY) == []

    # Once access is granted, a new job books it: the failed job's claim does not block it.
    pipeline.sim.grant_folder_permission(BOB, smtp("svc"), "Editor")
    retried = pipeline.run("create_event", **booking(integration_id, mailbox=BOB, required_attendees=[]))
    assert retried.status is JobStatus.SUCCEEDED, retried.error
    assert len(stamped(pipeline.sim, BOB, KEY)) == 1


@pytest.mark.parametrize("method", ["delegate", "impersonation"])
def test_an_unknown_mailbox_fails_for_good(any_pipeline: PipelineHarness, method: str) -> None:
    pipeline = any_pipeline
    integration_id = pipeline.install(method)
    outcome = pipeline.run("create_event", **booking(integration_id, mailbox="nobody@example.com"))
    assert outcome.status is JobStatus.FAILED
    assert outcome.error is not None and outcome.error.code is ErrorCode.UNKNOWN_MAILBOX
    assert outcome.error.retryable is False


@pytest.mark.parametrize("action", ["send_invite", "update_event", "cancel_event"])
def test_an_unknown_booking_fails_for_good_without_asking_exchange(
    any_pipeline: PipelineHarness, action: str
) -> None:
    pipeline = any_pipeline
    integration_id = pipeline.install("delegate")
    extra = {"subject": "New"} if action == "update_event" else {}
    outcome = pipeline.run(action, **follow_up(integration_id, "no-such-booking", **extra))
    assert outcome.status is JobStatus.FAILED
    assert outcome.error is not None and outcome.error.code is ErrorCode.BOOKING_NOT_FOUND
    assert outcome.error.retryable is False
    assert pipeline.request_counts() == {}


def test_bad_kwargs_fail_for_good(pipeline: PipelineHarness) -> None:
    integration_id = pipeline.install("delegate")
    outcome = pipeline.run("create_event", **booking(integration_id, end="2026-11-03T13:00:00Z"))
    assert outcome.status is JobStatus.FAILED
    assert outcome.error is not None and outcome.error.code is ErrorCode.INVALID_KWARGS
    assert pipeline.sim.request_counts() == {}


def test_an_event_without_attendees_needs_no_invitations(any_pipeline: PipelineHarness) -> None:
    pipeline = any_pipeline
    integration_id = pipeline.install("personal")
    pipeline.run(
        "create_event",
        **booking(integration_id, required_attendees=[], optional_attendees=[], rooms=[]),
    )
    counter = RequestCounter(pipeline.sim, graph=pipeline.on_graph)
    with counter.counting() as made:
        sent = pipeline.run("send_invite", **follow_up(integration_id))
    assert sent.result == {"booking_key": KEY, "sent_to": [], "already_sent": False}
    assert made == {}


# Graph only: personal connections and the app's scope -------------------------------------------


def test_a_personal_graph_booking_acts_as_the_user_and_stores_the_rotated_refresh_token(
    graph_pipeline: PipelineHarness,
) -> None:
    # Given alice connected her mailbox: her secret holds the refresh token the app obtained
    graph_pipeline.backend = "graph"
    integration_id = graph_pipeline.install("personal")
    sim = graph_pipeline.sim
    secret = f"ews/{integration_id}/users/{ALICE}"

    def stored() -> str:
        value = graph_pipeline.secrets_client.get_secret_value(SecretId=secret)["SecretString"]
        return str(json.loads(value)["refresh_token"])

    first = stored()
    # When two jobs book and invite through her personal Graph connection
    created = graph_pipeline.run("create_event", **booking(integration_id))
    sent = graph_pipeline.run("send_invite", **follow_up(integration_id))

    # Then Graph saw alice herself (a delegated token, not the app), with one redemption for both
    assert created.status is JobStatus.SUCCEEDED, created.error
    assert sent.status is JobStatus.SUCCEEDED, sent.error
    assert {r.app_only for r in sim.graph.request_log()} == {False}
    assert sim.tokens.counts() == {"refresh_token": 1}
    [event] = stamped(sim, ALICE, KEY)
    assert event["organizer"] == ALICE and len(messages(sim, BOB, MEETING_REQUEST)) == 1
    # And her secret holds the rotated refresh token; the one used is spent
    assert stored() != first and stored() in sim.tokens.issued()


@pytest.mark.parametrize("method", ["dedicated", "delegate", "impersonation"])
def test_a_mailbox_outside_the_apps_access_policy_is_denied_for_good_on_graph(
    graph_pipeline: PipelineHarness, method: str
) -> None:
    graph_pipeline.backend = "graph"
    integration_id = graph_pipeline.install(method)
    # An application access policy scopes the app to bob's mailbox only.
    graph_pipeline.sim.graph.set_access_policy(APP["client_id"], [BOB])
    outcome = graph_pipeline.run("create_event", **booking(integration_id))

    assert outcome.status is JobStatus.FAILED
    assert outcome.error is not None and outcome.error.code is ErrorCode.ACCESS_DENIED
    assert outcome.error.retryable is False
    # One attempt, refused (403 ErrorAccessDenied) and never retried.
    assert [r.status for r in graph_pipeline.sim.graph.request_log("createEvent")] == [403]
    assert stamped(graph_pipeline.sim, calendar_owner(method), KEY) == []
