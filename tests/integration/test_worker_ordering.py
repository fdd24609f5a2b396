"""On the FIFO path (SqsFifoBroker on a moto server), one mailbox's jobs reach Exchange in the order
they were sent, while another mailbox's jobs run at the same time on the worker's other threads."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from infra.ewssim import EwsSimulator
from pipeline.client import PipelineClient
from pipeline.runtimes.runtime import Runtime
from pipeline.runtimes.worker import WorkerProcess
from pipeline.store.records import JobRecord, JobStatus
from tests.integration.brokers import sqs_url  # noqa: F401
from tests.integration.moto_server import FAKE_KEY_ID, FAKE_SECRET, REGION, moto_endpoint  # noqa: F401
from tests.integration.worker_support import (
    ALICE,
    BOB,
    CAROL,
    WORKER_TIMEOUT_MS,
    WorkerStack,
    as_json,
    booked_events,
    booking,
    build_stack,
    follow_up,
    requests_by_caller,
    send,
)

# Every EWS request is slowed, so that a mailbox's jobs would overlap if they were not kept in order.
LATENCY_MS = 80
THREADS = 4
# Each job costs one EWS request (see test_action_events): the operation it makes, per action.
OPERATION = {"create_event": "CreateItem", "send_invite": "UpdateItem", "update_event": "UpdateItem",
             "cancel_event": "DeleteItem"}


@pytest.fixture
def stack(sim: EwsSimulator, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> WorkerStack:  # noqa: F811
    for name, value in {"AWS_ACCESS_KEY_ID": FAKE_KEY_ID, "AWS_SECRET_ACCESS_KEY": FAKE_SECRET,
                        "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    return build_stack(sim, moto_endpoint)


@pytest.fixture
def worker(stack: WorkerStack, sqs_url: str) -> Iterator[WorkerProcess]:  # noqa: F811
    config = stack.config(sqs_url, worker_concurrency=THREADS)
    runtime = Runtime.from_config(config)
    process = WorkerProcess(config, threads=THREADS, runtime=runtime, worker_timeout_ms=WORKER_TIMEOUT_MS)
    yield process
    process.stop(timeout_ms=20_000)
    runtime.gateways.close_all()  # type: ignore[attr-defined]


def mailbox_script(integration_id: str, organiser: str, attendee: str) -> list[tuple[str, dict[str, Any]]]:
    """A mailbox's jobs in send order: each depends on the ones before it having run first."""
    first, second, third = (f"{organiser.split('@')[0]}-{n}" for n in (1, 2, 3))
    return [
        ("create_event", booking(integration_id, organiser, first, [attendee], slot=1)),
        ("send_invite", follow_up(integration_id, organiser, first)),
        ("create_event", booking(integration_id, organiser, second, [attendee], slot=2)),
        ("send_invite", follow_up(integration_id, organiser, second)),
        ("update_event", follow_up(integration_id, organiser, first, subject="Moved")),
        ("cancel_event", follow_up(integration_id, organiser, second)),
        ("create_event", booking(integration_id, organiser, third, [attendee], slot=3)),
        ("send_invite", follow_up(integration_id, organiser, third)),
        ("update_event", follow_up(integration_id, organiser, first, subject="Moved again")),
        ("cancel_event", follow_up(integration_id, organiser, third)),
    ]


def assert_ran_one_after_another(records: list[JobRecord]) -> None:
    """Each job started only once the one sent before it had finished."""
    for before, after in itertools.pairwise(records):
        assert before.finished_at is not None and after.started_at is not None
        assert before.finished_at <= after.started_at, (before.actor_name, after.actor_name)


def test_one_mailboxs_jobs_apply_in_send_order_while_another_mailbox_runs_alongside(
    stack: WorkerStack, worker: WorkerProcess
) -> None:
    integration_id = stack.install("personal")
    stack.sim.faults.add_latency(LATENCY_MS)
    client = PipelineClient(worker.broker)
    scripts = {ALICE: mailbox_script(integration_id, ALICE, CAROL),
               BOB: mailbox_script(integration_id, BOB, CAROL)}
    # Sent before the worker starts, interleaved between the mailboxes, so that its first receive
    # already holds several of each mailbox's jobs.
    sent: dict[str, list[str]] = {ALICE: [], BOB: []}
    for step in range(len(scripts[ALICE])):
        for mailbox, script in scripts.items():
            action, kwargs = script[step]
            sent[mailbox].append(send(client, action, kwargs))

    worker.start()
    records = stack.wait_until_final([m for ids in sent.values() for m in ids])

    first_time = all(r.status is JobStatus.SUCCEEDED and r.attempts == 1 for r in records.values())
    assert first_time, as_json(records)
    for mailbox, script in scripts.items():
        # Exchange saw the mailbox's requests in exactly the order its jobs were sent.
        assert requests_by_caller(stack.sim, mailbox) == [OPERATION[action] for action, _ in script]
        assert_ran_one_after_another([records[m] for m in sent[mailbox]])
    assert booked_events(stack.sim, [ALICE, BOB]) == {"alice-1": 1, "bob-1": 1}
    alices_subjects = {item["subject"] for item in stack.sim.calendar(ALICE) if item["organizer"] == ALICE}
    assert alices_subjects == {"Moved again"}

    # The mailboxes ran alongside each other: bob's requests fall between alice's first and last.
    callers = [record.caller for record in stack.sim.request_log()]
    alice_first = callers.index(ALICE)
    alice_last = len(callers) - 1 - callers[::-1].index(ALICE)
    assert BOB in callers[alice_first:alice_last], callers
