"""Parity: the same jobs through the Lambda handler and through a dramatiq worker on every broker
give the same table records (apart from timestamps) and the same mailboxes in the simulator, on
both backends: an EWS integration, and a Graph one against the local Graph.

The jobs: a booking pipeline (create_event | send_invite), a free/busy lookup, a room listing and
a booking for a mailbox that does not exist (a permanent failure). Each runtime gets a freshly
seeded simulator and a table of its own; message ids are fixed so records compare by id.

The Graph runs use the session's TLS simulator (msal needs an https authority). The Lambda
handler and the worker trust its CA as an operator makes a private CA trusted: REQUESTS_CA_BUNDLE
in the function's or the worker's environment (the Graph client passes `verify=True` per request,
which requests resolves to that bundle).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import dramatiq
import pytest

from infra.ewssim import EwsSimulator
from pipeline.client import PipelineClient
from pipeline.contract import JobStatus
from pipeline.errors import ErrorCode
from pipeline.runtimes.runtime import Runtime
from pipeline.runtimes.worker import WorkerProcess
from pipeline.store.base import ResultsStore
from tests.integration.brokers import amqp_url, redis_url, sqs_url
from tests.integration.event_support import ALICE, BOB, CAROL, MEETING_REQUEST, ROOM_A, booking
from tests.integration.graph_support import graph_simulator
from tests.integration.moto_server import moto_endpoint
from tests.integration.runtime_support import (
    AwsTestAccount,
    LambdaQueue,
    aws_credentials,
    drain_through_lambda,
    fresh_simulator,
    install_integration,
    job_records,
    lambda_job_handler,
    redis_url_with_namespace,
    run_on_worker,
    use_fake_aws_credentials,
)
from tests.seed import smtp

__all__ = [  # fixtures
    "amqp_url", "aws_credentials", "graph_simulator", "moto_endpoint", "redis_url", "sqs_url",
]

BACKENDS = ("ews", "graph")

CREATE, INVITE, FREE_BUSY, ROOMS, UNKNOWN_MAILBOX = (
    "parity-create", "parity-invite", "parity-free-busy", "parity-rooms", "parity-unknown-mailbox"
)
MESSAGE_IDS = (CREATE, INVITE, FREE_BUSY, ROOMS, UNKNOWN_MAILBOX)
# Everyone whose mailbox the jobs can touch.
PEOPLE = (ALICE, BOB, CAROL, ROOM_A, smtp("svc"))
# The day before the booking: free/busy must not depend on whether create_event ran first, since
# the workers run jobs of different mailboxes in any order.
FREE_BUSY_DAY = datetime(2026, 11, 2, tzinfo=UTC)
# Differ on every run: Exchange ids, change keys, clocks.
VOLATILE_ITEM_FIELDS = frozenset({
    "item_id", "change_key", "folder_id", "created", "modified", "sent", "uid", "meeting_uid",
    "associated_calendar_item_id",
    "last_response_time", "appointment_reply_time",  # when the room answered (at once, as it got the request)
})
VOLATILE_RECORD_FIELDS = frozenset({
    "created_at", "updated_at", "started_at", "finished_at", "lease_expires_at", "expires_at",
    "run_started_at",
    "item_id", "change_key",  # in create_event's result
})
# Name the integration, hence its backend: the only fields in which an EWS and a Graph run differ.
BACKEND_RECORD_FIELDS = frozenset({"integration_id"})


@dataclass(frozen=True)
class RunOutcome:
    """What one runtime left behind: job records and mailbox contents, without volatile fields."""

    records: dict[str, dict[str, Any]]
    mailboxes: dict[str, dict[str, list[dict[str, Any]]]]


def send_jobs(broker: dramatiq.Broker, integration_id: str) -> None:
    """Enqueue the parity jobs, as an upstream app does with PipelineClient."""
    client = PipelineClient(broker)
    create = client.message("create_event", booking(integration_id, "parity:1"), message_id=CREATE)
    invite = client.message(
        "send_invite", {"integration_id": integration_id, "mailbox": ALICE, "booking_key": "parity:1"},
        message_id=INVITE, pipe_ignore=True,
    )
    dramatiq.pipeline([create, invite], broker=broker).run()
    for message in (
        client.message("fetch_free_busy", {
            "integration_id": integration_id, "mailboxes": [ALICE, BOB, ROOM_A],
            "start": FREE_BUSY_DAY.isoformat(), "end": (FREE_BUSY_DAY + timedelta(days=1)).isoformat(),
        }, message_id=FREE_BUSY),
        client.message("list_rooms", {"integration_id": integration_id}, message_id=ROOMS),
        client.message("create_event", booking(integration_id, "parity:2", mailbox="nobody@example.com"),
                       message_id=UNKNOWN_MAILBOX),
    ):
        client.send(message)


def all_final(store: ResultsStore) -> bool:
    records = [store.get_job(message_id) for message_id in MESSAGE_IDS]
    return all(record is not None and record.status.is_final for record in records)


def outcome_of(store: ResultsStore, sim: EwsSimulator) -> RunOutcome:
    records = {
        message_id: without_volatile(dataclasses.asdict(record), VOLATILE_RECORD_FIELDS)
        for message_id, record in job_records(store, MESSAGE_IDS).items()
    }
    mailboxes = {
        person: {
            folder: sorted(
                (without_volatile(item, VOLATILE_ITEM_FIELDS) for item in sim.folder_items(person, folder)),
                key=repr,
            )
            for folder in ("calendar", "inbox")
        }
        for person in PEOPLE
    }
    return RunOutcome(records, mailboxes)


def without_volatile(value: Any, volatile: frozenset[str]) -> Any:
    """`value` with the volatile fields, at any depth, replaced by a marker of their presence."""
    if isinstance(value, dict):
        return {
            key: ("<volatile>" if key in volatile and item is not None else without_volatile(item, volatile))
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [without_volatile(item, volatile) for item in value]
    return value


def close_runtime(runtime: Runtime) -> None:
    close = getattr(runtime.gateways, "close_all", None)
    if close is not None:
        close()


# -- the backends ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backend:
    """One backend's side of the runs: its simulator, how its integration is installed, and what
    the runtimes' environment needs to reach it."""

    name: str
    sim: EwsSimulator

    def install(self, aws: AwsTestAccount, store: ResultsStore) -> str:
        if self.name == "graph":
            # The same connection method as the EWS runs; Graph takes only OAuth (app-only) tokens.
            return install_integration(
                self.sim, aws, store, "delegate", "oauth2",
                backend="graph", graph_url=self.sim.graph_url, integration_id="delegate-graph",
            )
        return install_integration(self.sim, aws, store)

    def environ(self) -> dict[str, str]:
        """The simulator's private CA, trusted as an operator trusts one (nothing for plain HTTP)."""
        return {"REQUESTS_CA_BUNDLE": str(self.sim.ca_file)} if self.sim.ca_file else {}


def backend_of(name: str, request: pytest.FixtureRequest) -> Backend:
    # The TLS simulator is started only when a Graph run asks for it.
    return Backend(name, request.getfixturevalue("graph_simulator" if name == "graph" else "simulator"))


class LambdaReferences:
    """What the Lambda handler leaves on each backend, run once per module on first use."""

    def __init__(self, request: pytest.FixtureRequest, moto_endpoint: str) -> None:
        self._request = request
        self._moto_endpoint = moto_endpoint
        self._outcomes: dict[str, RunOutcome] = {}

    def __getitem__(self, backend: str) -> RunOutcome:
        if backend not in self._outcomes:
            self._outcomes[backend] = run_on_lambda(backend_of(backend, self._request), self._moto_endpoint)
        return self._outcomes[backend]


def run_on_lambda(backend: Backend, moto_endpoint: str) -> RunOutcome:
    """The jobs through the Lambda handler; its environment is gone again before the workers run."""
    import handlers.jobs

    with pytest.MonkeyPatch.context() as monkeypatch:
        use_fake_aws_credentials(monkeypatch)
        fresh_simulator(backend.sim)
        aws = AwsTestAccount(moto_endpoint)
        table = aws.new_table()
        queue = LambdaQueue.create(aws)
        environ = aws.environ(table, queue.broker_url, **backend.environ())
        with lambda_job_handler(environ, monkeypatch) as handler:
            store = handlers.jobs._processor().runtime.store
            integration_id = backend.install(aws, store)
            send_jobs(queue.broker, integration_id)
            drain_through_lambda(queue, handler, lambda: all_final(store))
            return outcome_of(store, backend.sim)


# -- the reference: the Lambda handler fed from the SQS queue ---------------------------------------


@pytest.fixture(scope="module")
def lambda_outcomes(request: pytest.FixtureRequest, moto_endpoint: str) -> LambdaReferences:
    return LambdaReferences(request, moto_endpoint)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_lambda_run_did_the_work(backend: str, lambda_outcomes: LambdaReferences) -> None:
    # The reference must not be vacuous: every job ran, and its effects are in the mailboxes
    lambda_outcome = lambda_outcomes[backend]
    records = lambda_outcome.records
    assert {message_id: records[message_id]["status"] for message_id in MESSAGE_IDS} == {
        CREATE: JobStatus.SUCCEEDED, INVITE: JobStatus.SUCCEEDED, FREE_BUSY: JobStatus.SUCCEEDED,
        ROOMS: JobStatus.SUCCEEDED, UNKNOWN_MAILBOX: JobStatus.FAILED,
    }
    assert records[UNKNOWN_MAILBOX]["error_code"] is ErrorCode.UNKNOWN_MAILBOX
    assert all(record["attempts"] == 1 for record in records.values())
    calendar = lambda_outcome.mailboxes[ALICE]["calendar"]
    assert [item["subject"] for item in calendar] == ["Interview: Dana Diaz"]
    for person in (BOB, CAROL):
        inbox = lambda_outcome.mailboxes[person]["inbox"]
        assert [item["item_class"] for item in inbox] == [MEETING_REQUEST], person
    # The room (AutomateProcessing AutoAccept) accepted its request at once: it is no longer in the inbox.
    assert lambda_outcome.mailboxes[ROOM_A]["inbox"] == []
    assert [item["my_response_type"] for item in lambda_outcome.mailboxes[ROOM_A]["calendar"]] == ["Accept"]


def test_graph_gives_the_jobs_the_same_results_as_ews(lambda_outcomes: LambdaReferences) -> None:
    # Every action keeps its contract on either backend: the records differ only in the
    # integration's id (and the volatile fields), and the mailboxes hold the same items.
    ews, graph = lambda_outcomes["ews"], lambda_outcomes["graph"]
    for message_id in MESSAGE_IDS:
        assert comparable(graph.records[message_id]) == comparable(ews.records[message_id]), message_id
    for person in PEOPLE:
        for folder in ("calendar", "inbox"):
            on_graph, on_ews = graph.mailboxes[person][folder], ews.mailboxes[person][folder]
            assert item_summary(on_graph) == item_summary(on_ews), (person, folder)


def test_graph_gives_working_hours_in_the_mailboxs_time_zone(lambda_outcomes: LambdaReferences) -> None:
    ews, graph = lambda_outcomes["ews"], lambda_outcomes["graph"]
    assert working_hours(graph.records[FREE_BUSY]) == working_hours(ews.records[FREE_BUSY])


def comparable(record: dict[str, Any]) -> dict[str, Any]:
    """The record without the fields that name the backend."""
    return {key: value for key, value in record.items() if key not in BACKEND_RECORD_FIELDS}


def working_hours(record: dict[str, Any]) -> list[Any]:
    return [mailbox["working_hours"] for mailbox in record["result"]["mailboxes"]]


def item_summary(items: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """What an upstream app sees of an item on either API (each API writes its own MIME details)."""
    return sorted(
        (item.get("item_class"), item.get("subject"), item.get("my_response_type")) for item in items
    )


# -- the same jobs on a dramatiq worker ------------------------------------------------------------


@pytest.mark.broker
@pytest.mark.parametrize("broker", ["stub", "redis", "rabbitmq", "sqs"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_worker_leaves_the_same_records_and_mailboxes_as_lambda(
    backend: str,
    broker: str,
    request: pytest.FixtureRequest,
    lambda_outcomes: LambdaReferences,
    moto_endpoint: str,
    aws_credentials: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lambda_outcome = lambda_outcomes[backend]
    broker_url = {
        "stub": lambda: "stub://",
        # A namespace of its own: other tests and the benchmarks share the Redis server.
        "redis": lambda: redis_url_with_namespace(request.getfixturevalue("redis_url"), "ews-parity"),
        "rabbitmq": lambda: request.getfixturevalue("amqp_url"),
        "sqs": lambda: request.getfixturevalue("sqs_url"),
    }[broker]()
    # Given a fresh simulator and table, and a worker on the broker (its environment trusting
    # the simulator's CA for Graph)
    side = backend_of(backend, request)
    for name, value in side.environ().items():
        monkeypatch.setenv(name, value)
    fresh_simulator(side.sim)
    aws = AwsTestAccount(moto_endpoint)
    config = aws.config(aws.new_table(), broker_url)
    runtime = Runtime.from_config(config)
    integration_id = side.install(aws, runtime.store)

    # When the same jobs are sent through it
    def send(process: WorkerProcess) -> None:
        send_jobs(process.broker, integration_id)

    try:
        run_on_worker(config, runtime, send, lambda: all_final(runtime.store))
        outcome = outcome_of(runtime.store, side.sim)
    finally:
        close_runtime(runtime)

    # Then the table and the mailboxes are as the Lambda handler left them
    for message_id in MESSAGE_IDS:
        assert outcome.records[message_id] == lambda_outcome.records[message_id], message_id
    for person in PEOPLE:
        assert outcome.mailboxes[person] == lambda_outcome.mailboxes[person], person
