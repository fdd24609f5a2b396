"""`submit`, `status`, `booking`, `subscriptions` and `dlq` through the CLI, on SQS (moto) with a worker,
and `dlq` on real Redis and RabbitMQ."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dramatiq
import pytest
from dramatiq.common import xq_name

from pipeline.config import PipelineConfig
from pipeline.runtimes.broker import build_broker
from pipeline.runtimes.worker import WorkerProcess
from pipeline.store.factory import get_store
from pipeline.store.records import SubscriptionRecord
from tests.integration.brokers import amqp_url, redis_url, sqs_url
from tests.integration.cli_support import CliInvoker, LocalStack, as_json, assert_one_line_error, cli, stack
from tests.integration.moto_server import moto_endpoint
from tests.integration.worker_support import WORKER_TIMEOUT_MS
from tests.seed import smtp

__all__ = ["amqp_url", "cli", "moto_endpoint", "redis_url", "sqs_url", "stack"]  # fixtures, for pytest


@pytest.fixture
def on_sqs(stack: LocalStack, sqs_url: str, cli: CliInvoker, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalStack]:
    """The stack with an integration `d`, PIPELINE_BROKER on a fresh SQS queue and a worker on it."""
    monkeypatch.setenv("PIPELINE_BROKER", sqs_url)
    (tmp_path / "d.json").write_text(json.dumps(stack.settings("d")))
    (tmp_path / "s.json").write_text(json.dumps(stack.secret()))
    added = cli("integration", "add", str(tmp_path / "d.json"), "--secret", str(tmp_path / "s.json"))
    assert added.exit_code == 0, added.stderr
    process = WorkerProcess(PipelineConfig.from_env(), threads=2, worker_timeout_ms=WORKER_TIMEOUT_MS)
    process.start()
    yield stack
    process.stop(timeout_ms=5_000)


def booking_kwargs(key: str) -> dict[str, object]:
    start = datetime(2031, 3, 4, 10, tzinfo=UTC)
    return {"integration_id": "d", "mailbox": smtp("alice"), "booking_key": key, "subject": "Interview",
            "start": start.isoformat(), "end": (start + timedelta(hours=1)).isoformat(),
            "required_attendees": [{"email": smtp("bob")}]}


def test_submit_wait_status_and_booking(cli: CliInvoker, on_sqs: LocalStack, tmp_path: Path) -> None:
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text("\n".join(json.dumps(line) for line in (
        {"actor_name": "list_rooms", "kwargs": {"integration_id": "d"}, "message_id": "cli-rooms-1"},
        {"action": "book", "kwargs": booking_kwargs("cli-key-1")},
        {"action": "list_rooms", "kwargs": {"integration_id": "nobody"}},
    )) + "\n")

    waited = cli("submit", str(jobs), "--wait", "--timeout", "30", "--json")

    outcomes = as_json(waited)["jobs"]
    # `book` is a booking in one job: create_event with send_invitations.
    assert [(o["action"], o["status"]) for o in outcomes] == [
        ("list_rooms", "succeeded"), ("create_event", "succeeded"), ("list_rooms", "failed")]
    assert outcomes[1]["result"]["invited"] is True
    assert outcomes[2]["error"]["code"] == "UNKNOWN_INTEGRATION"
    assert waited.exit_code == 1  # one job failed
    status = cli("status", "cli-rooms-1", "--json")
    assert status.exit_code == 0 and as_json(status)["status"] == "succeeded"
    assert "succeeded" in cli("status", "cli-rooms-1").stdout
    booking = cli("booking", "d", "cli-key-1", "--json")
    assert booking.exit_code == 0 and as_json(booking)["state"] == "invited"
    assert "invited" in cli("booking", "d", "cli-key-1").stdout
    one = cli("submit", "list_rooms", "--kwargs", '{"integration_id": "d"}', "--wait")
    assert one.exit_code == 0 and "succeeded" in one.stdout
    assert_one_line_error(cli("status", "no-such-job"), "JOB_NOT_FOUND")
    assert_one_line_error(cli("booking", "d", "no-such-key"), "BOOKING_NOT_FOUND")


def test_submit_refuses_bad_jobs_before_sending_any(cli: CliInvoker, on_sqs: LocalStack,
                                                   tmp_path: Path) -> None:
    jobs = tmp_path / "bad.jsonl"
    jobs.write_text(json.dumps({"action": "list_rooms", "kwargs": {"integration_id": "d"}}) + "\n"
                    + json.dumps({"action": "list_rooms", "kwargs": {"integration_id": "d", "x": 1}}) + "\n")

    assert_one_line_error(cli("submit", str(jobs)), "INVALID_KWARGS")
    assert_one_line_error(cli("submit", "no_such_action", "--kwargs", "{}"), "INVALID_KWARGS")
    assert cli("submit", "list_rooms", "--kwargs", "not json").exit_code == 2
    assert cli("submit", "list_rooms").exit_code == 2
    assert_one_line_error(cli("submit", "list_rooms", "--kwargs", "{}", env={"PIPELINE_BROKER": None}),
                          "INVALID_CONFIG", exit_code=2)


def test_subscriptions_list_and_renew(cli: CliInvoker, on_sqs: LocalStack) -> None:
    store = get_store(PipelineConfig.from_env())
    long_ago = datetime.now(UTC) - timedelta(hours=3)
    store.put_subscription(SubscriptionRecord(
        record_id="sub-1", subscription_id="ews-sub-1", integration_id="d", mailbox=smtp("alice"),
        token_hash="h" * 64, watermark="w", status_frequency_minutes=30, created_at=long_ago,
        last_seen_at=long_ago))

    listed = as_json(cli("subscriptions", "list", "--stale", "--json"))["subscriptions"]
    renewed = cli("subscriptions", "renew", "--stale", "--json")
    forced = cli("subscriptions", "renew", "sub-1", "--json")

    assert [(row["subscription_id"], row["stale"]) for row in listed] == [("sub-1", True)]
    assert "sub-1" in cli("subscriptions", "list").stdout
    assert renewed.exit_code == 0 and len(as_json(renewed)["enqueued"]) == 1
    assert forced.exit_code == 0 and len(as_json(forced)["enqueued"]) == 1
    assert_one_line_error(cli("subscriptions", "renew", "sub-x"), "SUBSCRIPTION_NOT_FOUND")
    assert cli("subscriptions", "renew").exit_code == 2


def dead(actor: str = "list_rooms", queue: str = "ews-jobs") -> dramatiq.Message[object]:
    return dramatiq.Message(queue_name=queue, actor_name=actor, args=(), kwargs={"integration_id": "d"},
                            options={"retries": 99}, message_id=f"dead-{uuid.uuid4().hex[:8]}")


def test_dlq_on_sqs_lists_and_redrives_to_a_new_run(cli: CliInvoker, on_sqs: LocalStack) -> None:
    broker: Any = build_broker(PipelineConfig.from_env().broker_url, make_global=False)
    message = dead()
    broker.queue.send(message.encode().decode(), group_id="d", deduplication_id=message.message_id,
                      url=broker.queue.dead_letter_url)

    listed = as_json(cli("dlq", "list", "--json"))["dead_letters"]
    assert [(d["message_id"], d["actor_name"]) for d in listed] == [(message.message_id, "list_rooms")]
    assert message.message_id in cli("dlq", "list").stdout
    assert_one_line_error(cli("dlq", "redrive", "not-there"), "NOT_DEAD_LETTERED")
    redriven = cli("dlq", "redrive", message.message_id, "--json")
    assert redriven.exit_code == 0 and as_json(redriven)["redriven"] == [message.message_id]

    waited = cli("submit", "list_rooms", "--kwargs", '{"integration_id": "d"}', "--wait")
    assert waited.exit_code == 0
    assert as_json(cli("status", message.message_id, "--json"))["status"] == "succeeded"
    assert as_json(cli("dlq", "list", "--json")) == {"dead_letters": []}
    assert cli("dlq", "redrive").exit_code == 2


@pytest.mark.broker
def test_dlq_on_redis(cli: CliInvoker, stack: LocalStack, redis_url: str) -> None:
    namespace = f"cli-{uuid.uuid4().hex[:8]}"
    url = f"{redis_url}?namespace={namespace}"
    broker: Any = build_broker(url, make_global=False)
    message = dead()
    xq = f"{namespace}:{xq_name('ews-jobs')}"
    broker.client.zadd(xq, {"r-1": 1_700_000_000_000})
    broker.client.hset(f"{xq}.msgs", "r-1", message.encode())
    env = {"PIPELINE_BROKER": url}
    try:
        listed = as_json(cli("dlq", "list", "--json", env=env))["dead_letters"]
        redriven = as_json(cli("dlq", "redrive", "--all", "--json", env=env))

        assert [d["message_id"] for d in listed] == [message.message_id]
        assert redriven["redriven"] == [message.message_id]
        assert broker.client.zcard(xq) == 0
        [body] = broker.client.hvals(f"{namespace}:ews-jobs.msgs")
        assert dramatiq.Message.decode(body).options.get("retries", 0) == 0
    finally:
        for key in broker.client.keys(f"{namespace}:*"):
            broker.client.delete(key)


@pytest.mark.broker
def test_dlq_on_rabbitmq(cli: CliInvoker, stack: LocalStack, amqp_url: str) -> None:
    queue = f"cli-{uuid.uuid4().hex[:8]}"
    broker: Any = build_broker(amqp_url, make_global=False)
    broker.declare_queue(queue, ensure=True)
    message = dead(queue=queue)
    broker.channel.basic_publish(exchange="", routing_key=xq_name(queue), body=message.encode())
    env = {"PIPELINE_BROKER": amqp_url}
    try:
        listed = as_json(cli("dlq", "list", "--queue", queue, "--json", env=env))["dead_letters"]
        again = as_json(cli("dlq", "list", "--queue", queue, "--json", env=env))["dead_letters"]
        redriven = as_json(cli("dlq", "redrive", message.message_id, "--queue", queue, "--json", env=env))

        assert [d["message_id"] for d in listed] == [d["message_id"] for d in again] == [message.message_id]
        assert redriven["redriven"] == [message.message_id]
        assert broker.channel.queue_declare(xq_name(queue), passive=True).method.message_count == 0
        assert broker.channel.queue_declare(queue, passive=True).method.message_count == 1
    finally:
        for name in (queue, f"{queue}.DQ", xq_name(queue)):
            broker.channel.queue_delete(name)
        broker.close()
