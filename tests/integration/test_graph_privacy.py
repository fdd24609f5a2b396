"""The Graph path keeps mailboxes, attendees, subjects, tokens and secrets out of logs and errors.

Graph's URLs name the mailbox (`/users/{address}/...`), which urllib3 logs at DEBUG with every
request line; msal logs its token cache events at DEBUG. Real msal, requests and urllib3 against
the local Graph over TLS, every logger at DEBUG, records captured by caplog's handler and read
whole (message, arguments and every attribute). Records of the simulator's own loggers (infra.*)
are Microsoft's side and left out, as are those of `responses` (moto's HTTP pass-through);
botocore's are left out of the personal-data search only (its DEBUG records of the job table's
writes hold the jobs' kwargs, whatever the backend).
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from handlers import callbacks
from infra.ewssim import FaultKind
from infra.graphsim.responses.subscriptions import plugin_of
from pipeline.contract import JobStatus
from pipeline.errors import ErrorCode, PipelineError, RetryableError
from pipeline.exchange.connectors import BackendGateways
from pipeline.runtimes.runner import Job, run_job
from tests.integration.callback_support import CallbackServer, MemoryQueue
from tests.integration.event_support import ALICE, BOB, CAROL, ROOM_A, booking, follow_up
from tests.integration.ews_support import put_secret
from tests.integration.graph_support import graph_sim, graph_simulator
from tests.integration.pipeline_support import PipelineHarness, graph_pipeline
from tests.integration.test_secrets_never_leak import describe
from tests.seed import APP, smtp

__all__ = ["graph_pipeline", "graph_sim", "graph_simulator"]  # the fixtures, re-exported for pytest

SUBJECT = "Dana Diaz"  # booking()'s subject, once its template is filled
NEW_SUBJECT = "Rescheduled with Quentin Quayle"
WRONG_CLIENT_SECRET = "wrong-app-Secret-8"
PEOPLE = (ALICE, BOB, CAROL, ROOM_A, smtp("dave"), smtp("building-1"))
# The simulator's own (Microsoft's side), and `responses`, through which moto's mock_aws passes the
# test's HTTP requests on (it logs each URL): neither runs in a deployed pipeline.
HARNESS_LOGGERS = ("infra.", "responses")
FREE_BUSY_WINDOW = {"start": "2026-11-03T00:00:00Z", "end": "2026-11-04T00:00:00Z"}


def spellings(address: str) -> list[str]:
    """An address as a URL or a log may spell it."""
    return [address, address.replace("@", "%40"), address.replace("@", "%2540")]


def addresses() -> dict[str, str]:
    """Every seeded person's address in each spelling, by a name that says which (never the value)."""
    return {f"address {i}, spelling {j}": spelled for i, person in enumerate(PEOPLE)
            for j, spelled in enumerate(spellings(person))}


def record_text(record: logging.LogRecord) -> str:
    """Everything a handler could print of a record: the message, its arguments, every attribute."""
    return f"{record.getMessage()}\n{record.args!r}\n{record.__dict__!r}"


def found_in(texts: list[str], needles: dict[str, str]) -> list[str]:
    """The names (never the values) of the needles any text holds, case-insensitively."""
    lowered = [text.lower() for text in texts]
    return sorted({name for name, value in needles.items()
                   if value and any(value.lower() in text for text in lowered)})


@pytest.fixture
def callback(graph_pipeline: PipelineHarness) -> Iterator[MemoryQueue]:
    """The callback Lambda served locally, so that subscribe_mailbox's handshake succeeds."""
    server = CallbackServer()
    queue = MemoryQueue()
    runtime = graph_pipeline.runtime
    runtime.config = runtime.config.model_copy(update={"callback_base_url": server.base_url})
    graph_pipeline.enqueue = queue
    callbacks.use_dependencies(callbacks.CallbackDependencies(store=runtime.store, enqueue=queue,
                                                              clock=runtime.clock))
    try:
        yield queue
    finally:
        callbacks.use_dependencies(None)
        server.close()


def attempt(pipeline: PipelineHarness, actor: str, **kwargs: Any) -> tuple[PipelineError | None, Any]:
    """Run one job as a worker would: the error it raised (or None) and its record."""
    message_id = str(uuid.uuid4())
    raised = None
    try:
        run_job(pipeline.runtime, Job(message_id, actor, kwargs), enqueue=pipeline.enqueue)
    except PipelineError as error:
        raised = error
    record = pipeline.store.get_job(message_id)
    assert record is not None
    return raised, record


# 1 and 2. Request lines and msal at DEBUG ----------------------------------------------------------

def graph_mix(pipeline: PipelineHarness) -> list[PipelineError]:
    """Booking, free/busy, update, cancel, sync, subscribe, rooms, a personal user's token, wrong
    credentials and refusals, on Graph integrations; returns the errors the jobs raised."""
    sim = pipeline.sim
    app = pipeline.install("impersonation", "oauth2", backend="graph", integration_id="graph-imp")
    personal = pipeline.install("personal", "oauth2_delegated", backend="graph", integration_id="graph-me")
    wrong = pipeline.install("delegate", "oauth2", backend="graph", integration_id="graph-wrong")
    put_secret(pipeline.secrets_client, pipeline.installed[wrong]["secret_name"],
               {**APP, "client_secret": WRONG_CLIENT_SECRET})
    ok = [
        ("create_event", booking(app)),
        ("send_invite", follow_up(app)),
        ("fetch_free_busy", {"integration_id": app, "mailboxes": [ALICE, BOB, CAROL], "view": "detailed",
                             **FREE_BUSY_WINDOW}),
        ("update_event", follow_up(app, subject=NEW_SUBJECT)),
        ("sync_calendar", {"integration_id": app, "mailbox": ALICE}),
        ("cancel_event", follow_up(app)),
        ("subscribe_mailbox", {"integration_id": app, "mailbox": ALICE}),
        ("list_rooms", {"integration_id": app, "room_list": smtp("building-1")}),
        ("check_connection", {"integration_id": app, "mailbox": ALICE}),
        ("fetch_free_busy", {"integration_id": personal, "mailbox": ALICE, "mailboxes": [BOB],
                             **FREE_BUSY_WINDOW}),
    ]
    for actor, kwargs in ok:
        raised, record = attempt(pipeline, actor, **kwargs)
        assert record.status is JobStatus.SUCCEEDED, (actor, record.error)
    raised_errors = []
    sim.graph.set_access_policy(APP["client_id"], [BOB])
    failing = [
        ("fetch_free_busy", {"integration_id": wrong, "mailboxes": [ALICE], **FREE_BUSY_WINDOW}),
        ("create_event", booking(app, booking_key="k-denied")),
        ("sync_calendar", {"integration_id": app, "mailbox": ALICE}),
    ]
    for actor, kwargs in failing:
        raised, _ = attempt(pipeline, actor, **kwargs)
        assert raised is not None, actor
        raised_errors.append(raised)
    sim.graph.set_access_policy(APP["client_id"], None)
    sim.faults.fail(FaultKind.SERVER_BUSY, operation="createEvent", count=1, back_off_ms=1000)
    raised, _ = attempt(pipeline, "create_event", **booking(app, booking_key="k-busy"))
    assert raised is not None and raised.code is ErrorCode.SERVER_BUSY
    raised_errors.append(raised)
    assert {e.code for e in raised_errors} >= {ErrorCode.AUTH_FAILED, ErrorCode.ACCESS_DENIED}
    return raised_errors


def test_graph_jobs_at_debug_log_no_mailbox_subject_token_or_secret(
    graph_pipeline: PipelineHarness, callback: MemoryQueue, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    raised = graph_mix(graph_pipeline)

    sim = graph_pipeline.sim
    client_states = [s.client_state for s in plugin_of(sim.graph).subscriptions()]
    validations = [a for a in plugin_of(sim.graph).webhooks.attempts if a.kind == "validation"]
    assert client_states and validations
    secrets = {"client secret": APP["client_secret"], "wrong client secret": WRONG_CLIENT_SECRET}
    secrets |= {f"token {i}": token for i, token in enumerate(sim.tokens.issued())}
    secrets |= {f"clientState {i}": state or "" for i, state in enumerate(client_states)}
    personal = addresses() | {"subject": SUBJECT, "new subject": NEW_SUBJECT}
    ours = [r for r in caplog.records if not r.name.startswith(HARNESS_LOGGERS)]
    assert any(r.name == "urllib3.connectionpool" and "/v1.0/users/" in r.getMessage() for r in ours)
    assert any(r.name.startswith("msal") for r in ours)  # msal did log at DEBUG
    logged = [record_text(r) for r in ours]
    without_botocore = [record_text(r) for r in ours if not r.name.startswith(("botocore", "boto3"))]
    errors = [describe(error) for error in raised]

    # Only names reach the assertions: a failing run must not print what it found.
    assert found_in(logged, secrets) == []
    assert found_in(without_botocore, personal) == []
    assert found_in(errors, secrets) == []
    assert found_in(errors, {"subject": SUBJECT, "new subject": NEW_SUBJECT}) == []


def test_a_graph_request_line_keeps_method_host_status_and_query_names(
    graph_pipeline: PipelineHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="urllib3")
    app = graph_pipeline.install("impersonation", "oauth2", backend="graph")
    graph_pipeline.run("create_event", **booking(app))
    graph_pipeline.run("send_invite", **follow_up(app))

    lines = [r.getMessage() for r in caplog.records
             if r.name == "urllib3.connectionpool" and '"' in r.getMessage()]
    assert any('"POST /v1.0/users/<mailbox>/calendar/events HTTP/1.1" 201' in line for line in lines)
    assert any("/events/" in line and "?%24select=<withheld>&%24expand=<withheld>" in line for line in lines)
    assert not any("BookingKey" in line or "interview-1" in line for line in lines)


# 3. Error paths -------------------------------------------------------------------------------------

FAULTS = [
    # (fault kind, operation, job, expected code)
    (FaultKind.SERVER_BUSY, "createEvent", "create_event", ErrorCode.SERVER_BUSY),
    (FaultKind.HTTP_503, "createEvent", "create_event", ErrorCode.EWS_UNAVAILABLE),
    (FaultKind.SOAP_FAULT, "createEvent", "create_event", ErrorCode.EWS_UNAVAILABLE),
    (FaultKind.DROP, "createEvent", "create_event", ErrorCode.CONNECTION_DROPPED),
    (FaultKind.DROP, "getSchedule", "fetch_free_busy", ErrorCode.CONNECTION_DROPPED),
    (FaultKind.SERVER_BUSY, "calendarViewDelta", "sync_calendar", ErrorCode.SERVER_BUSY),
    (FaultKind.DROP, "createSubscription", "subscribe_mailbox", ErrorCode.CONNECTION_DROPPED),
]


def job_kwargs(actor: str, integration_id: str) -> dict[str, Any]:
    if actor == "create_event":
        return booking(integration_id, booking_key=f"k-{uuid.uuid4().hex[:8]}")
    if actor == "fetch_free_busy":
        return {"integration_id": integration_id, "mailboxes": [ALICE, BOB], **FREE_BUSY_WINDOW}
    return {"integration_id": integration_id, "mailbox": ALICE}


def assert_private(texts: list[str], pipeline: PipelineHarness) -> None:
    needles = addresses() | {"subject": SUBJECT, "client secret": APP["client_secret"]}
    needles |= {f"token {i}": t for i, t in enumerate(pipeline.sim.tokens.issued())}
    assert found_in(texts, needles) == []


def test_every_graph_failure_has_a_stable_code_and_a_message_without_personal_data(
    graph_pipeline: PipelineHarness, callback: MemoryQueue
) -> None:
    app = graph_pipeline.install("impersonation", "oauth2", backend="graph")
    seen = []
    for kind, operation, actor, code in FAULTS:
        graph_pipeline.sim.faults.fail(kind, operation=operation, count=1, back_off_ms=2000)
        raised, record = attempt(graph_pipeline, actor, **job_kwargs(actor, app))
        graph_pipeline.sim.faults.reset()
        recorded = record.to_outcome().error
        assert raised is not None and (raised.code, recorded.code) == (code, code), (kind, operation)
        seen += [describe(raised), record.to_outcome().error.message]
    # 404: a mailbox Graph does not know; 403: outside the app's scope (sync: no action restates it)
    for mailbox, code in ((smtp("nobody"), ErrorCode.UNKNOWN_MAILBOX), (ALICE, ErrorCode.ACCESS_DENIED)):
        graph_pipeline.sim.graph.set_access_policy(APP["client_id"], [BOB])
        raised, record = attempt(graph_pipeline, "sync_calendar", integration_id=app, mailbox=mailbox)
        assert raised is not None and raised.code is code and not raised.retryable
        seen += [describe(raised), record.to_outcome().error.message]
    graph_pipeline.sim.graph.set_access_policy(APP["client_id"], None)
    # 401 after one refresh: the held token is revoked, and every new one is expired at once
    graph_pipeline.sim.tokens.lifetime = timedelta(0)
    graph_pipeline.sim.tokens.revoke_app(APP["client_id"])
    raised, record = attempt(graph_pipeline, "sync_calendar", integration_id=app, mailbox=ALICE)
    assert raised is not None and raised.code is ErrorCode.AUTH_FAILED
    seen += [describe(raised), record.to_outcome().error.message]
    # The job.failed events of the permanent failures (whose data name the job's mailbox by design)
    events = [e.model_dump(mode="json") for e in graph_pipeline.store.list_pending_events(limit=500)]
    failed = [str(e["data"]["error_message"]) for e in events if e["type"] == "job.failed"]
    assert len(failed) >= 3

    assert_private(seen + failed, graph_pipeline)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_graph_that_cannot_be_reached_leaves_no_url_in_the_error_chain(
    graph_pipeline: PipelineHarness,
) -> None:
    # requests' ConnectionError quotes the URL ("Max retries exceeded with url: /v1.0/users/..."):
    # the PipelineError must not keep it as its context either.
    app = graph_pipeline.install("impersonation", "oauth2", backend="graph",
                                 graph_url=f"http://127.0.0.1:{closed_port()}/v1.0")

    raised, record = attempt(graph_pipeline, "create_event", **booking(app))

    assert raised is not None and raised.code is ErrorCode.CONNECTION_DROPPED
    chain = describe(raised)
    assert "Max retries" not in chain  # the library's text is not kept
    assert_private([chain, record.to_outcome().error.message], graph_pipeline)


# 5. Robustness: the per-mailbox slots, throttled inner answers -------------------------------------

def test_a_batch_whose_connection_drops_gives_its_mailbox_slots_back(graph_pipeline: PipelineHarness) -> None:
    app = graph_pipeline.install("impersonation", "oauth2", backend="graph")
    gateways = graph_pipeline.runtime.gateways
    assert isinstance(gateways, BackendGateways)
    slots = gateways.graph.client.slots
    many = {"integration_id": app, "mailboxes": [ALICE, *(smtp(f"x{i}") for i in range(24))],
            **FREE_BUSY_WINDOW}  # 25 mailboxes: two getSchedule in one $batch holding 2 slots
    graph_pipeline.sim.faults.fail(FaultKind.DROP, operation="batch", count=1)

    raised, _ = attempt(graph_pipeline, "fetch_free_busy", **many)

    assert raised is not None and raised.code is ErrorCode.CONNECTION_DROPPED
    assert slots.in_use((app, ALICE)) == 0
    for _ in range(3):  # the slots are free: further batches on the mailbox go through
        assert attempt(graph_pipeline, "fetch_free_busy", **many)[1].status is JobStatus.SUCCEEDED


def test_a_throttled_inner_answer_of_a_batch_is_retried_no_sooner_than_its_retry_after(
    graph_pipeline: PipelineHarness,
) -> None:
    app = graph_pipeline.install("impersonation", "oauth2", backend="graph")
    many = {"integration_id": app, "mailboxes": [smtp(f"x{i}") for i in range(25)], **FREE_BUSY_WINDOW}
    graph_pipeline.sim.faults.fail(FaultKind.SERVER_BUSY, operation="getSchedule", count=1, back_off_ms=7000)

    raised, record = attempt(graph_pipeline, "fetch_free_busy", **many)

    assert isinstance(raised, RetryableError) and raised.code is ErrorCode.SERVER_BUSY
    assert raised.delay_ms is not None and raised.delay_ms >= 7000
    assert record.status is JobStatus.RETRYING


def test_a_booking_whose_stamps_cannot_be_read_in_a_sync_is_not_reported_as_someone_elses_event(
    graph_pipeline: PipelineHarness,
) -> None:
    # The delta page gives events without their extended properties; the stamps come from one
    # $batch of GETs. One of them throttled must retry the sync, not report the booking (its
    # booking key unread) to the app as a foreign calendar.event_changed and move the state on.
    app = graph_pipeline.install("impersonation", "oauth2", backend="graph")
    soon = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    created = graph_pipeline.run("create_event", **booking(app, start=soon.isoformat(),
                                                           end=(soon + timedelta(hours=1)).isoformat()))
    assert created.status is JobStatus.SUCCEEDED, created.error
    graph_pipeline.sim.faults.fail(FaultKind.SERVER_BUSY, operation="getEvent", count=1, back_off_ms=3000)

    raised, record = attempt(graph_pipeline, "sync_calendar", integration_id=app, mailbox=ALICE)

    assert record.status is JobStatus.RETRYING, record.result
    assert isinstance(raised, RetryableError) and raised.delay_ms is not None and raised.delay_ms >= 3000
    synced = graph_pipeline.run("sync_calendar", integration_id=app, mailbox=ALICE)
    assert synced.status is JobStatus.SUCCEEDED and synced.result is not None
    assert (synced.result["changed"], synced.result["bookings_skipped"]) == (0, 1)






# Answers the local Graph never gives: not JSON, a gateway's HTML, a getSchedule with only its ids --

class StubGraph(ThreadingHTTPServer):
    """A plain HTTP server standing in for Graph behind a proxy: each path answers what `answers`
    says (status, body); tokens still come from the simulator's authority."""

    def __init__(self, answers: dict[str, tuple[int, bytes]]) -> None:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, body = next((v for k, v in stub.answers.items() if self.path.endswith(k)), (404, b""))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.answers = answers
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def graph_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1.0"


@pytest.fixture
def stub_graph() -> Iterator[StubGraph]:
    server = StubGraph({})
    yield server
    server.shutdown()
    server.server_close()


def test_answers_that_are_not_graphs_json_give_stable_codes(
    graph_pipeline: PipelineHarness, stub_graph: StubGraph
) -> None:
    app = graph_pipeline.install("impersonation", "oauth2", backend="graph", graph_url=stub_graph.graph_url)
    outcomes = []
    answers = ((200, b"<html>not json</html>"), (201, b'{"id": '), (502, b"<html>Bad Gateway</html>"))
    for status, body in answers:
        stub_graph.answers = {"/calendar/events": (status, body)}
        raised, record = attempt(graph_pipeline, "create_event", **booking(app, booking_key=f"k-{status}"))
        outcomes.append((raised.code if raised else None, raised.retryable if raised else None))
        message = record.to_outcome().error.message
        assert_private([describe(raised) if raised else "", message], graph_pipeline)

    assert outcomes == [(ErrorCode.EWS_ERROR, False), (ErrorCode.EWS_ERROR, False),
                        (ErrorCode.EWS_UNAVAILABLE, True)]


def test_a_get_schedule_answer_without_its_optional_fields_parses(
    graph_pipeline: PipelineHarness, stub_graph: StubGraph
) -> None:
    # scheduleInformation with only scheduleId, and a scheduleItem with only start and end: no
    # status, subject, location, isPrivate, availabilityView or workingHours.
    item = {"start": {"dateTime": "2026-11-03T10:00:00.0000000", "timeZone": "UTC"},
            "end": {"dateTime": "2026-11-03T11:00:00.0000000", "timeZone": "UTC"}}
    stub_graph.answers = {"/calendar/getSchedule": (200, json.dumps({"value": [
        {"scheduleId": ALICE}, {"scheduleId": BOB.upper(), "scheduleItems": [item]}]}).encode())}
    app = graph_pipeline.install("impersonation", "oauth2", backend="graph", graph_url=stub_graph.graph_url)

    outcome = graph_pipeline.run("fetch_free_busy", integration_id=app, mailboxes=[ALICE, BOB],
                                 view="detailed",
                                 **FREE_BUSY_WINDOW)

    assert outcome.status is JobStatus.SUCCEEDED and outcome.result is not None, outcome.error
    alice, bob = outcome.result["mailboxes"]
    assert (alice.get("error"), alice["intervals"]) == (None, [])
    assert bob.get("error") is None and len(bob["intervals"]) == 1
    assert bob["intervals"][0]["busy_type"] == "busy"  # no status: busy
