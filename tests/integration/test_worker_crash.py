"""Worker processes (`python -m pipeline.cli worker`) killed or stopped in the middle of a batch.

The batch mixes bookings in one job (create_event with send_invitations) and in two
(create_event | send_invite). SIGKILL lands while a one-job booking's CreateItem (saving the event
and sending its invitations) is in flight: a new worker takes over and every job ends succeeded
exactly once, with no booking twice in a calendar and no invitation twice in an inbox. The killed
worker's in-flight jobs keep their table lease (job timeout + margin) until it lapses; the workers
here run with a margin of LEASE_MARGIN_S instead of the pipeline's minute (infra.short_lease: they
share one clock), and the three brokers' scenarios run side by side, once per module, each
broker's test checking its own.

SIGTERM: the worker finishes its in-flight jobs and hands the rest back; a new worker completes
them, every job on its first attempt.
"""

from __future__ import annotations

import signal
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlparse

import pytest
import redis

from infra.ewssim import EwsSimulator
from pipeline.client import PipelineClient
from pipeline.runtimes.broker import build_broker
from pipeline.store.records import JobStatus
from tests.integration.brokers import AMQP_URL, REDIS_URL, listening, require_broker
from tests.integration.moto_server import FAKE_KEY_ID, FAKE_SECRET, REGION, moto_endpoint  # noqa: F401
from tests.integration.worker_support import (
    ALICE,
    BOB,
    CAROL,
    ROOM_A,
    SHORT_JOB_TIMEOUT_S,
    WAIT_S,
    JobState,
    WorkerStack,
    book,
    book_in_one_job,
    booked_events,
    booking,
    build_stack,
    invitations,
    log_tail,
    spawn_worker,
    stop_worker,
    wait_for,
)
from tests.seed import standard_org

THREADS = 4
BOOKINGS_PER_ORGANISER = 8
ATTENDEES = {ALICE: [BOB, ROOM_A], BOB: [CAROL], CAROL: [ALICE, BOB]}
# Slow answers keep jobs in flight when the worker stops: the requests that send invitations, a
# one-job booking's CreateItem (the slowest) and send_invite's UpdateItem. The simulator applies a
# request first and answers after the delay, so a job waiting for its answer has had its effect.
CREATE_LATENCY_MS = (1500, 1500)
INVITE_LATENCY_MS = 400
# Stop the first worker once this many jobs have succeeded (of 1 or 2 per booking).
STOP_AFTER_SUCCEEDED = 6
# A killed worker's in-flight jobs wait out their lease (job timeout + margin) before a takeover.
# Every worker here runs with this margin (the pipeline's is LEASE_MARGIN_SECONDS): as long as the
# job timeout, so a job cut off at its timeout still has that long to write its record.
LEASE_MARGIN_S = SHORT_JOB_TIMEOUT_S
TAKEOVER_DEADLINE_S = SHORT_JOB_TIMEOUT_S + LEASE_MARGIN_S + 40
BROKER_SERVERS = {"redis": ("Redis", "127.0.0.1", 6379), "rabbitmq": ("RabbitMQ", "127.0.0.1", 5672)}


def broker_url(broker: str, aws_endpoint: str, *, fast_dead_worker_requeue: bool) -> str:
    """A PIPELINE_BROKER URL on a queue (or Redis namespace) of the test's own, where one can be."""
    suffix = uuid.uuid4().hex[:8]
    if broker == "redis":
        url = f"{REDIS_URL}?namespace=ews-test-{suffix}"
        if fast_dead_worker_requeue:
            # A dead worker's unacknowledged messages return once its heartbeat is 3 s old, and
            # every broker command checks for dead workers (by default 1 in 1,000, after 60 s).
            url += "&heartbeat_timeout=3000&maintenance_chance=1000000"
        return url
    if broker == "rabbitmq":
        return AMQP_URL  # the queue is shared by name; it is flushed first
    # moto does not end a long poll early, so no long polling; a killed worker's messages come
    # back 5 s after it last extended their visibility.
    return (f"sqs://crash-{suffix}?endpoint={aws_endpoint}&region=us-east-1&create=1&wait=0"
            "&visibility_timeout=5")


@dataclass
class Batch:
    """The bookings of one scenario and the ids of their jobs (create_event, and send_invite for
    the two-job ones)."""

    keys: list[str]
    message_ids: list[str]
    attendees: dict[str, list[str]]  # booking key -> who is invited
    one_job: dict[str, str] = field(default_factory=dict)  # one-job bookings: message id -> key


def forget_redis_namespace(url: str) -> None:
    """Delete the keys of a test's Redis namespace (queues, acks, heartbeats) once it is done."""
    query = dict(parse_qsl(urlparse(url).query))
    if url.startswith("redis") and "namespace" in query:
        client = redis.Redis.from_url(url.split("?", 1)[0])
        try:
            for key in client.scan_iter(f"{query['namespace']}:*"):
                client.delete(key)
        finally:
            client.close()


def clear_queue(url: str) -> None:
    """Drop what earlier runs left on a queue shared by name (RabbitMQ), before any worker reads it."""
    broker = build_broker(url)
    broker.flush_all()
    broker.close()


def enqueue_bookings(url: str, integration_id: str, tag: str) -> Batch:
    broker = build_broker(url)
    client = PipelineClient(broker)
    batch = Batch([], [], {})
    for slot in range(BOOKINGS_PER_ORGANISER):
        for organiser, attendees in ATTENDEES.items():
            key = f"{tag}-{organiser.split('@')[0]}-{slot}"
            batch.keys.append(key)
            batch.attendees[key] = attendees
            kwargs = booking(integration_id, organiser, key, attendees, slot=slot)
            if slot % 2:
                batch.message_ids += book(client, kwargs)
            else:
                [one] = book_in_one_job(client, kwargs)
                batch.message_ids.append(one)
                batch.one_job[one] = key
    broker.close()
    return batch


@dataclass
class Outcome:
    """What one scenario left behind, snapshotted before the next test resets the simulator."""

    batch: Batch
    succeeded_before_stop: int
    running_at_stop: int
    exit_codes: list[int]
    states: dict[str, JobState]
    events: Counter[str]
    invitations: dict[str, Counter[str]]
    worker_logs: str
    error: BaseException | None = None


def interrupted_run(
    stack: WorkerStack, url: str, tag: str, logs: Path, stop_signal: signal.Signals,
    on_stopped: Callable[[], None] = lambda: None,
) -> Outcome:
    """Start a worker, enqueue the batch, stop it with `stop_signal` mid-batch, then let a second
    worker finish; returns what the table and Exchange hold at the end."""
    integration_id = stack.install("personal", integration_id=f"{tag}-personal")
    env = stack.worker_environment(url, threads=THREADS)
    log_path = logs / f"{tag}.log"
    clear_queue(url)
    first = spawn_worker(env, log_path, threads=THREADS, lease_margin_s=LEASE_MARGIN_S)
    second = None
    try:
        batch = enqueue_bookings(url, integration_id, tag)

        def mid_batch() -> bool:
            # Some jobs done, and a one-job booking still running whose event Exchange holds: its
            # CreateItem saved it and sent the invitations, and the job waits for the (slow)
            # answer. The signal lands between the invitations going out and the booking record.
            states = stack.job_states()
            if sum(s.status is JobStatus.SUCCEEDED for s in states.values()) < STOP_AFTER_SUCCEEDED:
                return False
            waiting = [key for message_id, key in batch.one_job.items()
                       if message_id in states and states[message_id].status is JobStatus.RUNNING]
            saved = booked_events(stack.sim, ATTENDEES) if waiting else Counter()
            return any(saved[key] for key in waiting)

        wait_for(mid_batch, what=f"{tag}: mid-batch", interval=0.02)
        first.send_signal(stop_signal)
        first_exit = first.wait(timeout=60)
        on_stopped()
        at_stop = Counter(state.status for state in stack.job_states().values())
        second = spawn_worker(env, log_path, threads=THREADS, lease_margin_s=LEASE_MARGIN_S)
        deadline = TAKEOVER_DEADLINE_S if stop_signal is signal.SIGKILL else WAIT_S
        stack.wait_until_final(batch.message_ids, timeout=deadline)
        second_exit = stop_worker(second)
        return Outcome(
            batch=batch,
            succeeded_before_stop=at_stop[JobStatus.SUCCEEDED],
            running_at_stop=at_stop[JobStatus.RUNNING],
            exit_codes=[first_exit, second_exit],
            states=stack.job_states(),
            events=booked_events(stack.sim, ATTENDEES),
            invitations={person: invitations(stack.sim, person) for person in (ALICE, BOB, CAROL, ROOM_A)},
            worker_logs=log_tail(log_path),
        )
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
        forget_redis_namespace(url)


def assert_every_job_succeeded_exactly_once(outcome: Outcome) -> None:
    batch = outcome.batch
    context = f"\n--- worker log ---\n{outcome.worker_logs}"
    # No job record beyond the batch's, and each of the batch's succeeded.
    assert sorted(outcome.states) == sorted(batch.message_ids), context
    failed = {m: s for m, s in outcome.states.items() if s.status is not JobStatus.SUCCEEDED}
    assert not failed, f"{failed}{context}"
    # Each booking once across all calendars, each invitation once in each attendee's inbox.
    assert {key: outcome.events[key] for key in batch.keys} == dict.fromkeys(batch.keys, 1)
    for key, attendees in batch.attendees.items():
        for attendee in attendees:
            assert outcome.invitations[attendee][f"Booking {key}"] == 1, (key, attendee)


@pytest.fixture(scope="module", autouse=True)
def _fake_aws_credentials() -> Iterator[None]:
    # This process's own SQS clients (to enqueue) read credentials from the environment.
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {"AWS_ACCESS_KEY_ID": FAKE_KEY_ID, "AWS_SECRET_ACCESS_KEY": FAKE_SECRET,
                            "AWS_DEFAULT_REGION": REGION}.items():
            patch.setenv(name, value)
        yield


@pytest.fixture(scope="module")
def interrupted_runs(
    simulator: EwsSimulator, moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory  # noqa: F811
) -> Iterator[dict[tuple[str, str], Outcome]]:
    """Every scenario of this module, keyed by (signal name, broker), run side by side.

    The SIGKILL scenarios spend most of their time waiting for the dead worker's leases, so the
    SIGTERM scenarios run meanwhile, side by side, once every kill has happened (not to compete
    with the first workers for the CPU). SIGTERM skips RabbitMQ: its one queue name is shared with the SIGKILL
    scenario, and RabbitMQ hands back an unacknowledged message by itself when a connection closes.
    """
    simulator.reset()
    simulator.seed(standard_org())
    simulator.faults.add_latency(*CREATE_LATENCY_MS, operation="CreateItem")
    simulator.faults.add_latency(INVITE_LATENCY_MS, operation="UpdateItem")
    logs = tmp_path_factory.mktemp("worker-logs")
    available = ["sqs", *(name for name, (_, host, port) in BROKER_SERVERS.items() if listening(host, port))]
    outcomes: dict[tuple[str, str], Outcome] = {}
    killed = {broker: threading.Event() for broker in available}

    def run(stop_signal: signal.Signals, broker: str, on_stopped: Callable[[], None]) -> None:
        tag = f"{stop_signal.name.lower()}-{broker}"
        try:
            url = broker_url(broker, moto_endpoint, fast_dead_worker_requeue=stop_signal is signal.SIGKILL)
            stack = build_stack(simulator, moto_endpoint)
            outcome = interrupted_run(stack, url, tag, logs, stop_signal, on_stopped)
            outcomes[stop_signal.name, broker] = outcome
        except BaseException as error:  # reported by the scenario's own test
            outcomes[stop_signal.name, broker] = Outcome(
                Batch([], [], {}), 0, 0, [], {}, Counter(), {}, log_tail(logs / f"{tag}.log"), error=error
            )
        finally:
            on_stopped()

    def run_sigterm_scenario(broker: str) -> None:
        for event in killed.values():
            event.wait()
        run(signal.SIGTERM, broker, lambda: None)

    threads = [threading.Thread(target=run, args=(signal.SIGKILL, broker, killed[broker].set))
               for broker in available]
    threads += [threading.Thread(target=run_sigterm_scenario, args=(broker,))
                for broker in ("redis", "sqs") if broker in available]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    yield outcomes
    simulator.reset()


def outcome_of(runs: dict[tuple[str, str], Outcome], stop_signal: signal.Signals, broker: str) -> Outcome:
    if broker in BROKER_SERVERS:
        require_broker(*BROKER_SERVERS[broker])
    outcome = runs[stop_signal.name, broker]
    if outcome.error is not None:
        raise AssertionError(
            f"the {stop_signal.name} scenario on {broker} failed\n--- worker log ---\n{outcome.worker_logs}"
        ) from outcome.error
    return outcome


@pytest.mark.timeout(240)
@pytest.mark.parametrize("broker", ["redis", "rabbitmq", "sqs"])
def test_a_killed_worker_is_replaced_and_every_job_succeeds_exactly_once(
    interrupted_runs: dict[tuple[str, str], Outcome], broker: str
) -> None:
    outcome = outcome_of(interrupted_runs, signal.SIGKILL, broker)

    # The kill landed mid-batch: some jobs had succeeded and at least one was running.
    assert outcome.exit_codes[0] == -signal.SIGKILL
    assert 0 < outcome.succeeded_before_stop < len(outcome.batch.message_ids)
    assert outcome.running_at_stop >= 1
    assert_every_job_succeeded_exactly_once(outcome)
    # The jobs the dead worker was running were taken over: a second attempt, not a second job;
    # among them a one-job booking cut off in its CreateItem.
    assert any(state.attempts > 1 for state in outcome.states.values())
    assert any(outcome.states[m].attempts > 1 for m in outcome.batch.one_job)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("broker", ["redis", "sqs"])
def test_sigterm_finishes_in_flight_jobs_and_hands_back_the_rest(
    interrupted_runs: dict[tuple[str, str], Outcome], broker: str
) -> None:
    outcome = outcome_of(interrupted_runs, signal.SIGTERM, broker)

    context = f"\n--- worker log ---\n{outcome.worker_logs}"
    assert outcome.exit_codes == [0, 0], context
    # Stopped mid-batch, with nothing left running: in-flight jobs finished before the exit.
    assert 0 < outcome.succeeded_before_stop < len(outcome.batch.message_ids)
    assert outcome.running_at_stop == 0, context
    assert_every_job_succeeded_exactly_once(outcome)
    # No job was cut short and retried.
    assert all(state.attempts == 1 for state in outcome.states.values()), context
