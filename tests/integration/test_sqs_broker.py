"""SqsFifoBroker against a moto server over HTTP, with real dramatiq workers."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import dramatiq
import pytest
from dramatiq.broker import global_broker
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    CurrentMessage,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

from pipeline.runtimes.sqs import SqsFifoBroker, SqsRedelivery, message_group_id
from tests.integration.moto_server import FAKE_KEY_ID, FAKE_SECRET, REGION, moto_endpoint, sqs_client

__all__ = ["moto_endpoint", "sqs_client"]  # fixtures, re-exported for pytest

WAIT_S = 20  # the deadline for waiting on a condition; tests normally pass in well under a second


def wait_for(condition: Callable[[], bool], *, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        time.sleep(0.02)


def middleware() -> list[Any]:
    """Like pipeline.runtimes.broker.worker_middleware(): dramatiq's defaults, Retries with short back-off."""
    return [
        AgeLimit(),
        TimeLimit(),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        Retries(max_retries=2, min_backoff=1000, max_backoff=2000),
        CurrentMessage(),
    ]


@pytest.fixture
def make_broker(sqs_client: Any) -> Callable[..., SqsFifoBroker]:
    """Build brokers on a fresh queue for this test (several brokers may share it)."""
    queue = f"jobs-{uuid.uuid4().hex[:12]}.fifo"

    def build(**options: Any) -> SqsFifoBroker:
        # No long polling by default: moto, unlike SQS, does not end a long poll when a message of
        # a group that was locked when the poll began becomes available, so polls would idle.
        options = {"sqs_client": sqs_client, "create_queues": True, "wait_time_seconds": 0,
                   "middleware": middleware(), **options}
        return SqsFifoBroker(queue, **options)

    return build


@pytest.fixture
def start_worker() -> Iterator[Callable[..., dramatiq.Worker]]:
    workers: list[dramatiq.Worker] = []

    def start(broker: SqsFifoBroker, threads: int = 4) -> dramatiq.Worker:
        worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=100)
        worker.start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


def current_retries() -> int:
    message = CurrentMessage.get_current_message()
    assert message is not None
    return int(message.options["retries"])


def dead_letters(broker: SqsFifoBroker) -> list[dramatiq.Message[Any]]:
    url = broker.queue.dead_letter_url
    assert url is not None
    received = broker.queue.receive(10, wait_seconds=0, visibility_timeout=30, url=url)
    return [dramatiq.Message.decode(m["body"].encode()) for m in received]


def test_a_message_makes_the_round_trip(make_broker, start_worker):
    # Given a worker on the broker, long polling
    broker = make_broker(wait_time_seconds=1)
    seen: list[tuple[str, int]] = []

    def greet(name: str, count: int) -> None:
        seen.append((name, count))

    actor = dramatiq.actor(broker=broker)(greet)
    start_worker(broker)

    # When a message is sent
    message = actor.send("alice", count=2)

    # Then the actor runs once, with its retries count at 0, and the queue ends empty
    wait_for(lambda: seen == [("alice", 2)])
    broker.join(actor.queue_name, timeout=WAIT_S * 1000)
    assert message.message_id
    # The worker deletes the message from SQS, then settles its own record of it: join can see the
    # queue empty between the two, so wait for the settle rather than race it.
    wait_for(lambda: len(broker.in_flight) == 0)


def test_one_mailboxs_jobs_run_in_order_while_another_mailbox_proceeds(make_broker, start_worker):
    broker = make_broker()
    done: dict[str, list[int]] = {"a@x.test": [], "b@x.test": []}
    running: dict[str, int] = {"a@x.test": 0, "b@x.test": 0}
    overlap: list[str] = []
    lock = threading.Lock()
    b_finished = threading.Event()
    a_saw_b_finish: list[bool] = []
    per_mailbox = 8

    def book(mailbox: str, seq: int) -> None:
        with lock:
            running[mailbox] += 1
            if running[mailbox] > 1:
                overlap.append(mailbox)
        try:
            if mailbox == "a@x.test" and seq == 0:
                # A's first job waits for all of B's: B must not queue behind A.
                a_saw_b_finish.append(b_finished.wait(timeout=WAIT_S))
            time.sleep(0.005 * (seq % 3))
            with lock:
                done[mailbox].append(seq)
                if len(done["b@x.test"]) == per_mailbox:
                    b_finished.set()
        finally:
            with lock:
                running[mailbox] -= 1

    actor = dramatiq.actor(broker=broker)(book)
    # When both mailboxes' jobs are sent interleaved, before a multi-threaded worker starts
    for seq in range(per_mailbox):
        actor.send(mailbox="a@x.test", seq=seq)
        actor.send(mailbox="B@x.test".lower(), seq=seq)
    start_worker(broker, threads=4)

    wait_for(lambda: len(done["a@x.test"]) + len(done["b@x.test"]) == 2 * per_mailbox)
    # Then each mailbox's jobs ran one at a time in send order, and B finished while A waited
    assert done["a@x.test"] == list(range(per_mailbox))
    assert done["b@x.test"] == list(range(per_mailbox))
    assert overlap == []
    assert a_saw_b_finish == [True]


def test_a_message_sent_twice_is_delivered_once(make_broker, start_worker):
    broker = make_broker()
    runs: list[str] = []

    def once(key: str) -> None:
        runs.append(key)

    actor = dramatiq.actor(broker=broker)(once)
    message = actor.message("k1")

    # When the same message (same message_id) is enqueued twice, as a retrying sender would
    broker.enqueue(message)
    broker.enqueue(message)
    start_worker(broker)

    # Then SQS de-duplicates it by MessageDeduplicationId
    broker.join(actor.queue_name, timeout=WAIT_S * 1000)
    assert runs == ["k1"]


def test_retry_leaves_the_message_invisible_then_redelivers_it(make_broker, start_worker):
    broker = make_broker()
    attempts: list[tuple[int, float]] = []

    def flaky() -> None:
        attempts.append((current_retries(), time.monotonic()))
        if len(attempts) == 1:
            raise dramatiq.Retry(delay=1000)

    actor = dramatiq.actor(broker=broker)(flaky)
    start_worker(broker)
    actor.send()

    # After the first attempt the message stays on the queue, in flight (invisible)
    wait_for(lambda: len(attempts) >= 1)
    counts = broker.queue.attributes("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")
    assert counts["ApproximateNumberOfMessages"] == "0"
    assert counts["ApproximateNumberOfMessagesNotVisible"] == "1"

    # Then SQS redelivers the same message no sooner than the delay, as its second receive
    wait_for(lambda: len(attempts) == 2)
    broker.join(actor.queue_name, timeout=WAIT_S * 1000)
    (first_retries, first_at), (second_retries, second_at) = attempts
    assert (first_retries, second_retries) == (0, 1)
    assert second_at - first_at >= 1.0


def test_a_retried_job_keeps_its_place_ahead_of_its_mailboxs_later_jobs(make_broker, start_worker):
    broker = make_broker()
    runs: list[tuple[int, int]] = []

    def book(seq: int, mailbox: str) -> None:
        runs.append((seq, current_retries()))
        if seq == 0 and current_retries() == 0:
            raise dramatiq.Retry(delay=1000)

    actor = dramatiq.actor(broker=broker)(book)
    for seq in range(4):
        actor.send(seq, mailbox="a@x.test")
    start_worker(broker)

    # The later jobs, received in the same batch, wait for the retried one instead of overtaking it
    wait_for(lambda: len(runs) == 5)
    broker.join(actor.queue_name, timeout=WAIT_S * 1000)
    assert [seq for seq, _ in runs] == [0, 0, 1, 2, 3]
    assert runs[:2] == [(0, 0), (0, 1)]


def test_a_long_job_keeps_its_message_hidden_until_it_ends(make_broker, start_worker):
    # Given a visibility timeout shorter than the job
    broker = make_broker(visibility_timeout=2)
    runs: list[int] = []

    def long_job() -> None:
        runs.append(current_retries())
        time.sleep(3)

    actor = dramatiq.actor(broker=broker)(long_job)
    start_worker(broker)
    actor.send()

    # Then the consumer extends it while the job runs: it is received once and runs once
    wait_for(lambda: runs == [0])
    broker.join(actor.queue_name, timeout=WAIT_S * 1000)
    assert runs == [0]


def test_a_message_retried_past_max_receive_count_lands_in_the_dead_letter_queue(make_broker, start_worker):
    broker = make_broker(max_receive_count=3)
    attempts: list[int] = []

    def always_busy(booking: str) -> None:
        attempts.append(current_retries())
        raise dramatiq.Retry(delay=0)

    actor = dramatiq.actor(broker=broker)(always_busy)
    start_worker(broker)
    message = actor.send("b-1")

    wait_for(lambda: [m.message_id for m in dead_letters(broker)] == [message.message_id])
    broker.join(actor.queue_name, timeout=WAIT_S * 1000)
    assert attempts == [0, 1, 2]


def test_a_permanent_failure_is_deleted_not_redelivered(make_broker, start_worker):
    broker = make_broker()
    attempts: list[int] = []

    def bad_input() -> None:
        attempts.append(current_retries())
        raise ValueError("permanent: the runner has recorded it")

    actor = dramatiq.actor(broker=broker)(bad_input)
    start_worker(broker)
    actor.send()

    # The queue ends empty after one attempt (the message is deleted) and nothing is dead-lettered
    wait_for(lambda: attempts == [0])
    broker.join(actor.queue_name, timeout=WAIT_S * 1000)
    assert attempts == [0]
    assert dead_letters(broker) == []


def test_graceful_stop_releases_prefetched_messages_to_the_next_worker(make_broker, start_worker):
    # Given a one-thread worker whose first job is still running while it has prefetched another
    first = make_broker(wait_time_seconds=1)  # a poll may be under way when it stops
    started, finish = threading.Event(), threading.Event()
    processed: list[tuple[int, int]] = []

    def slow(n: int, mailbox: str) -> None:
        processed.append((n, current_retries()))
        started.set()
        finish.wait(timeout=WAIT_S)

    actor = dramatiq.actor(actor_name="slow", broker=first)(slow)
    for n in range(5):
        actor.send(n, mailbox=f"m{n}@x.test")  # one group each, so a receive can return several
    worker = dramatiq.Worker(first, worker_threads=1, worker_timeout=100)
    worker.start()
    assert started.wait(timeout=WAIT_S)
    wait_for(lambda: len(first.in_flight) == 2)  # prefetch is 2 x threads

    # When it is stopped gracefully (the running job finishes, the prefetched one never starts)
    stopper = threading.Thread(target=worker.stop)
    stopper.start()
    wait_for(lambda: not any(thread.running for thread in worker.workers))
    finish.set()
    stopper.join(timeout=WAIT_S)
    assert len(processed) == 1

    # Then a new worker receives everything else again: none lost, none run twice
    second = make_broker()
    dramatiq.actor(actor_name="slow", broker=second)(slow)
    start_worker(second)
    second.join("default", timeout=WAIT_S * 1000)
    wait_for(lambda: len(processed) == 5)
    assert sorted(n for n, _ in processed) == [0, 1, 2, 3, 4]
    assert any(retries >= 1 for n, retries in processed[1:]), "the prefetched message was received again"


def test_pipelines_run_on_the_fifo_queue(make_broker, start_worker):
    broker = make_broker()
    results: list[tuple[str, str]] = []

    def create_event(mailbox: str, subject: str) -> str:
        return f"event:{subject}"

    def send_invite(event_id: str, *, mailbox: str) -> None:
        results.append((mailbox, event_id))

    create = dramatiq.actor(broker=broker)(create_event)
    invite = dramatiq.actor(broker=broker)(send_invite)
    previous = global_broker
    dramatiq.set_broker(broker)  # `|` builds a pipeline on the global broker
    try:
        (create.message(mailbox="a@x.test", subject="Interview") | invite.message(mailbox="a@x.test")).run()  # type: ignore[call-arg]
    finally:
        if previous is not None:
            dramatiq.set_broker(previous)
    start_worker(broker)

    wait_for(lambda: results == [("a@x.test", "event:Interview")])
    broker.join(create.queue_name, timeout=WAIT_S * 1000)


def test_an_undecodable_body_goes_to_the_dead_letter_queue(make_broker, start_worker, sqs_client):
    broker = make_broker()
    dramatiq.actor(actor_name="noop", broker=broker)(lambda: None)
    start_worker(broker)
    sqs_client.send_message(QueueUrl=broker.queue.url, MessageBody="not a dramatiq message",
                            MessageGroupId="g", MessageDeduplicationId="d1")

    def dead_bodies() -> list[str]:
        received = broker.queue.receive(10, wait_seconds=0, visibility_timeout=30,
                                        url=broker.queue.dead_letter_url)
        return [m["body"] for m in received]

    wait_for(lambda: dead_bodies() == ["not a dramatiq message"])


def test_flush_all_drains_the_queue_and_its_dead_letter_queue(make_broker):
    broker = make_broker()
    actor = dramatiq.actor(actor_name="noop", broker=broker)(lambda mailbox: None)
    for n in range(12):
        actor.send(mailbox=f"m{n % 3}@x.test")

    broker.flush_all()

    broker.join(actor.queue_name, timeout=WAIT_S * 1000)
    assert dead_letters(broker) == []


def test_enqueue_with_a_delay_is_refused(make_broker):
    broker = make_broker()
    actor = dramatiq.actor(actor_name="noop", broker=broker)(lambda: None)
    with pytest.raises(ValueError, match="cannot delay"):
        actor.send_with_options(delay=1000)


def test_retries_is_replaced_and_other_middleware_kept_in_place(make_broker):
    broker = make_broker()
    kinds = [type(m) for m in broker.middleware]
    assert Retries not in kinds
    assert kinds == [AgeLimit, TimeLimit, ShutdownNotifications, Callbacks, Pipelines, SqsRedelivery,
                     CurrentMessage]
    redelivery = broker.middleware[5]
    assert isinstance(redelivery, SqsRedelivery)
    assert (redelivery.min_backoff, redelivery.max_backoff) == (1000, 2000)
    # max_retries=2 means three attempts: the queue it creates redrives after three receives
    assert int(json.loads(broker.queue.attributes("RedrivePolicy")["RedrivePolicy"])["maxReceiveCount"]) == 3


def test_from_url_reads_the_endpoint_from_the_url_or_the_environment(moto_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET)
    queue = f"url-{uuid.uuid4().hex[:8]}"

    broker = SqsFifoBroker.from_url(f"sqs://{queue}?endpoint={moto_endpoint}&region={REGION}&create=1&wait=0")
    assert broker.queue.url.endswith(f"/{queue}.fifo")
    assert broker.wait_time_seconds == 0

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    from_env = SqsFifoBroker.from_url(f"sqs://{queue}.fifo?visibility_timeout=30")
    assert from_env.queue.url == broker.queue.url
    assert from_env.visibility_timeout == 30


@pytest.mark.parametrize(
    ("kwargs", "group"),
    [
        ({"mailbox": "Alice@Example.COM", "integration_id": "acme"}, "alice@example.com"),
        ({"integration_id": "acme"}, "acme"),
        ({}, "default"),
        ({"mailbox": "jörg@example.com"}, None),
    ],
)
def test_message_group_id_is_the_mailbox_else_the_integration_else_the_queue(kwargs, group):
    message: dramatiq.Message[Any] = dramatiq.Message(
        queue_name="default", actor_name="a", args=(), kwargs=kwargs, options={}
    )
    result = message_group_id(message)
    if group is None:  # not a valid SQS group id as is: a stable digest instead
        assert result.startswith("sha256-") and result == message_group_id(message)
    else:
        assert result == group
