"""infra.moto_sqs: moto's SQS with its messages indexed keeps moto's semantics, at the cost of a batch.

Each scenario runs twice, on moto's own SQS and on the indexed one, and must give the same
answers: FIFO order within a message group, a group blocked while a message of it is in flight,
visibility timeouts and their release, de-duplication, receive counts and the redrive to the
dead-letter queue, deletes by current and earlier receipt handles, the queue's counts. Then what
only the index does: a receive looks at the messages it returns and not at the rest of the queue,
a long poll wakes when a message group unblocks, concurrent receives never hand out a message
twice, and the documented differences from moto.
Through boto3 against moto in this process (mock_aws); the last test runs the harness's server.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.sqs.models import sqs_backends

from infra import moto_sqs

REGION = "us-east-1"
ACCOUNT = "123456789012"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["moto", "indexed"])
def sqs(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A boto3 SQS client on moto's own SQS, then on the indexed one."""
    indexed = request.param == "indexed"
    if indexed:
        moto_sqs.index_moto_sqs()
    try:
        with mock_aws():
            yield boto3.client("sqs", region_name=REGION)
    finally:
        if indexed:
            moto_sqs.restore_moto_sqs()


@pytest.fixture
def indexed_sqs() -> Iterator[Any]:
    moto_sqs.index_moto_sqs()
    try:
        with mock_aws():
            yield boto3.client("sqs", region_name=REGION)
    finally:
        moto_sqs.restore_moto_sqs()


def _fifo(client: Any, name: str = "jobs", *, max_receives: int | None = None,
          visibility: int = 30) -> tuple[str, str | None]:
    dlq_url = None
    attributes = {"FifoQueue": "true", "VisibilityTimeout": str(visibility)}
    if max_receives is not None:
        dlq_url = client.create_queue(QueueName=f"{name}-dlq.fifo",
                                      Attributes={"FifoQueue": "true"})["QueueUrl"]
        arn = client.get_queue_attributes(QueueUrl=dlq_url,
                                          AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": arn,
                                                  "maxReceiveCount": str(max_receives)})
    return client.create_queue(QueueName=f"{name}.fifo", Attributes=attributes)["QueueUrl"], dlq_url


def _send(client: Any, url: str, body: str, group: str, dedup: str | None = None) -> None:
    client.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group,
                        MessageDeduplicationId=dedup or body)


def _receive(client: Any, url: str, count: int = 10, visibility: int | None = None,
             wait: int = 0) -> list[dict[str, Any]]:
    extra = {} if visibility is None else {"VisibilityTimeout": visibility}
    messages: list[dict[str, Any]] = client.receive_message(
        QueueUrl=url, MaxNumberOfMessages=count, WaitTimeSeconds=wait,
        MessageSystemAttributeNames=["All"], **extra).get("Messages", [])
    return messages


def _bodies(messages: list[dict[str, Any]]) -> list[str]:
    return [m["Body"] for m in messages]


def _counts(client: Any, url: str) -> tuple[int, int]:
    attributes = client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return (int(attributes["ApproximateNumberOfMessages"]),
            int(attributes["ApproximateNumberOfMessagesNotVisible"]))


def _hide(client: Any, url: str, message: dict[str, Any], seconds: int) -> None:
    client.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"],
                                     VisibilityTimeout=seconds)


# -- the same answers as moto's own ------------------------------------------------------------------


def test_a_receive_returns_the_oldest_messages_of_groups_with_nothing_in_flight(sqs: Any) -> None:
    url, _ = _fifo(sqs)
    for n in range(9):
        _send(sqs, url, f"m{n}", f"g{n % 3}")
    first = _receive(sqs, url, count=4)
    assert _bodies(first) == ["m0", "m1", "m2", "m3"]
    # Every group has a message in flight now: nothing more is delivered.
    assert _receive(sqs, url) == []
    assert _counts(sqs, url) == (5, 4)
    for message in first:
        if message["Body"] in ("m1", "m2"):
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    # g1 and g2 are free again; g0 still has m0 and m3 in flight.
    assert _bodies(_receive(sqs, url)) == ["m4", "m5", "m7", "m8"]


def test_a_released_message_comes_back_first_with_its_receive_count(sqs: Any) -> None:
    url, _ = _fifo(sqs)
    for n in range(4):
        _send(sqs, url, f"m{n}", "g")
    held = _receive(sqs, url, count=2)
    assert _bodies(held) == ["m0", "m1"]
    for message in held:
        _hide(sqs, url, message, 0)
    again = _receive(sqs, url)
    assert _bodies(again) == ["m0", "m1", "m2", "m3"]
    assert [m["Attributes"]["ApproximateReceiveCount"] for m in again] == ["2", "2", "1", "1"]


def test_a_lapsed_visibility_timeout_delivers_the_message_again(sqs: Any) -> None:
    url, _ = _fifo(sqs)
    _send(sqs, url, "m0", "g")
    _send(sqs, url, "m1", "g")
    assert _bodies(_receive(sqs, url, count=1, visibility=1)) == ["m0"]
    assert _receive(sqs, url) == []  # m0 in flight blocks its group
    time.sleep(1.5)
    again = _receive(sqs, url, count=1)
    assert _bodies(again) == ["m0"]
    assert again[0]["Attributes"]["ApproximateReceiveCount"] == "2"


def test_a_deduplication_id_sent_twice_queues_one_message(sqs: Any) -> None:
    url, _ = _fifo(sqs)
    _send(sqs, url, "first", "g", dedup="same")
    _send(sqs, url, "second", "g", dedup="same")
    assert _bodies(_receive(sqs, url)) == ["first"]


def test_after_max_receives_the_message_moves_to_the_dead_letter_queue(sqs: Any) -> None:
    url, dlq = _fifo(sqs, max_receives=2)
    assert dlq is not None
    _send(sqs, url, "poison", "g")
    _send(sqs, url, "next", "g")
    for receive in (1, 2):
        got = _receive(sqs, url, count=1)
        assert _bodies(got) == ["poison"]
        assert got[0]["Attributes"]["ApproximateReceiveCount"] == str(receive)
        _hide(sqs, url, got[0], 0)
    # The third receive moves it instead of delivering it, and the group goes on.
    assert _bodies(_receive(sqs, url)) == ["next"]
    dead = _receive(sqs, dlq)
    assert _bodies(dead) == ["poison"]
    assert dead[0]["Attributes"]["ApproximateReceiveCount"] == "3"


def test_deletes_accept_earlier_receipt_handles_and_repeats(sqs: Any) -> None:
    url, _ = _fifo(sqs)
    _send(sqs, url, "m0", "g")
    first = _receive(sqs, url)[0]
    _hide(sqs, url, first, 0)
    second = _receive(sqs, url)[0]
    assert second["ReceiptHandle"] != first["ReceiptHandle"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])  # moto takes an old handle
    sqs.delete_message(QueueUrl=url, ReceiptHandle=second["ReceiptHandle"])  # and a repeated delete
    assert _counts(sqs, url) == (0, 0)
    with pytest.raises(ClientError) as refused:
        _hide(sqs, url, second, 5)
    assert refused.value.response["Error"]["Code"] in ("ReceiptHandleIsInvalid", "InvalidParameterValue")
    with pytest.raises(ClientError):
        sqs.delete_message(QueueUrl=url, ReceiptHandle="not-a-receipt-handle")


def test_a_standard_queue_delivers_each_message_until_deleted(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="plain")["QueueUrl"]
    for n in range(5):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{n}")
    got = _receive(sqs, url, count=3)
    assert len(got) == 3
    rest = _receive(sqs, url)
    assert len(rest) == 2 and not set(_bodies(got)) & set(_bodies(rest))
    assert _counts(sqs, url) == (0, 5)
    for message in got + rest:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert _counts(sqs, url) == (0, 0)


def test_a_purged_queue_is_empty(sqs: Any) -> None:
    url, _ = _fifo(sqs)
    for n in range(3):
        _send(sqs, url, f"m{n}", "g")
    _receive(sqs, url, count=1)
    sqs.purge_queue(QueueUrl=url)
    assert _counts(sqs, url) == (0, 0)
    assert _receive(sqs, url) == []


# -- what only the index does ----------------------------------------------------------------------


def test_a_receive_looks_only_at_what_it_returns(indexed_sqs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given 1,000 messages in 50 groups, 49 of them with a message in flight
    url, _ = _fifo(indexed_sqs)
    for n in range(1000):
        _send(indexed_sqs, url, f"m{n}", f"g{n % 50}")
    for _ in range(4):
        _receive(indexed_sqs, url, count=10, visibility=300)
    held = _receive(indexed_sqs, url, count=9, visibility=300)
    assert len(held) == 9
    judged = Counter[str]()
    judge = moto_sqs._judge

    def counting(queue: Any) -> Any:
        verdict = judge(queue)

        def count(message: Any) -> Any:
            judged[message.body] += 1
            return verdict(message)

        return count

    monkeypatch.setattr(moto_sqs, "_judge", counting)
    # When a receive asks for ten, it examines the one free group's messages only
    got = _receive(indexed_sqs, url, count=10)
    assert _bodies(got) == [f"m{n}" for n in range(49, 1000, 50)][:10]
    assert sum(judged.values()) == 10


def test_a_long_poll_returns_the_message_its_group_was_holding_back(indexed_sqs: Any) -> None:
    # moto's own long poll wakes only for a new message, so it answered nothing here.
    url, _ = _fifo(indexed_sqs)
    _send(indexed_sqs, url, "m0", "g")
    _send(indexed_sqs, url, "m1", "g")
    held = _receive(indexed_sqs, url, count=1)
    answer: list[list[dict[str, Any]]] = []
    poller = threading.Thread(target=lambda: answer.append(_receive(indexed_sqs, url, wait=5)))
    poller.start()
    time.sleep(0.3)
    indexed_sqs.delete_message(QueueUrl=url, ReceiptHandle=held[0]["ReceiptHandle"])
    poller.join()
    assert _bodies(answer[0]) == ["m1"]


def test_concurrent_receives_never_hand_out_a_message_twice(indexed_sqs: Any) -> None:
    url = indexed_sqs.create_queue(QueueName="plain")["QueueUrl"]
    for n in range(400):
        indexed_sqs.send_message(QueueUrl=url, MessageBody=f"m{n}")
    seen: Counter[str] = Counter()
    lock = threading.Lock()

    def drain() -> None:
        client = boto3.client("sqs", region_name=REGION)
        while got := _receive(client, url, count=10, visibility=300):
            with lock:
                seen.update(_bodies(got))

    threads = [threading.Thread(target=drain) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 400
    assert max(seen.values()) == 1


def test_a_deduplication_id_holds_for_five_minutes_even_after_a_delete(indexed_sqs: Any) -> None:
    url, _ = _fifo(indexed_sqs)
    _send(indexed_sqs, url, "first", "g", dedup="same")
    got = _receive(indexed_sqs, url)
    indexed_sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
    _send(indexed_sqs, url, "again", "g", dedup="same")
    assert _receive(indexed_sqs, url) == []


def test_a_moved_message_is_not_deduplicated_in_the_dead_letter_queue(indexed_sqs: Any) -> None:
    url, dlq = _fifo(indexed_sqs, max_receives=1)
    assert dlq is not None
    _send(indexed_sqs, dlq, "already there", "g", dedup="same")
    _send(indexed_sqs, url, "poison", "g", dedup="same")
    got = _receive(indexed_sqs, url)
    _hide(indexed_sqs, url, got[0], 0)
    assert _receive(indexed_sqs, url) == []
    assert sorted(_bodies(_receive(indexed_sqs, dlq))) == ["already there", "poison"]


def test_a_message_past_its_retention_period_is_dropped(indexed_sqs: Any) -> None:
    url = indexed_sqs.create_queue(QueueName="plain", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
    indexed_sqs.send_message(QueueUrl=url, MessageBody="old")
    indexed_sqs.send_message(QueueUrl=url, MessageBody="new")
    queue = sqs_backends[ACCOUNT][REGION].queues["plain"]
    old = next(m for m in queue._messages if m.body == "old")
    old.sent_timestamp -= 120_000  # sent two minutes ago
    assert _bodies(_receive(indexed_sqs, url)) == ["new"]
    assert [m.body for m in queue._messages] == ["new"]


def test_the_harness_server_answers_sqs_and_dynamodb_on_kept_connections() -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "infra.moto_server_serialized", "-H", "127.0.0.1",
                               "-p", str(port)], cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline and server.poll() is None, "the server did not start"
            time.sleep(0.1)
        options = {"endpoint_url": f"http://127.0.0.1:{port}", "region_name": REGION,
                   "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        sqs = boto3.client("sqs", **options)
        url, _ = _fifo(sqs)
        for n in range(20):
            _send(sqs, url, f"m{n}", f"g{n % 2}")
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
        assert _bodies(answer["Messages"]) == [f"m{n}" for n in range(10)]
        assert answer["ResponseMetadata"]["HTTPHeaders"].get("connection") != "close"
        dynamodb = boto3.client("dynamodb", **options)
        dynamodb.create_table(TableName="t", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                              AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                              BillingMode="PAY_PER_REQUEST")
        dynamodb.put_item(TableName="t", Item={"pk": {"S": "a"}})
        assert dynamodb.get_item(TableName="t", Key={"pk": {"S": "a"}})["Item"] == {"pk": {"S": "a"}}
    finally:
        server.terminate()
        server.wait(timeout=30)
