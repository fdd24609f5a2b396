"""SQS FIFO calls on the harness's moto (infra.moto_sqs) against moto's own, as the queue fills.

moto's own scans the whole queue on every call (and rebuilds the queue's attributes, more scans,
for each message it sends or returns); infra.moto_sqs indexes the messages by group, expiry and
receipt handle. Both run here in one process (mock_aws, no HTTP), one after the other at each
queue size, on a queue shaped as the chaos benchmark's is under load: messages spread over 50
message groups, 40 of which have a message in flight, so most queued messages cannot be delivered.

  send      SendMessage (a MessageGroupId and a MessageDeduplicationId, as the pipeline sends)
  receive   ReceiveMessage of up to 10, then DeleteMessage of each (and a SendMessage to the same
            group, so that the queue keeps its size): a worker's batch, in messages per second

    python bench/moto_sqs.py [--sizes 100,1000,2000] [--seconds 2]
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import boto3
from moto import mock_aws

from infra import moto_sqs

GROUPS = 50
IN_FLIGHT_GROUPS = 40
_ids = itertools.count()


def _send(client: Any, url: str, group: str | None = None) -> None:
    number = next(_ids)
    client.send_message(QueueUrl=url, MessageBody=f"job {number} " + "x" * 600,
                        MessageGroupId=group or f"mailbox-{number % GROUPS}",
                        MessageDeduplicationId=f"job-{number}")


def _receive_and_delete(client: Any, url: str) -> int:
    """One batch: received, deleted, and as many sent to the same groups (the queue keeps its
    size and shape); returns how many messages it handled."""
    messages = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=300,
                                      WaitTimeSeconds=0, MessageSystemAttributeNames=["MessageGroupId"])
    for message in messages.get("Messages", []):
        client.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        _send(client, url, message["Attributes"]["MessageGroupId"])
    return len(messages.get("Messages", []))


def _rate(call: Callable[[], int], seconds: float) -> float:
    """Messages per second of CPU time, over at least `seconds` and at least 3 calls."""
    done = calls = 0
    started = time.process_time()
    while calls < 3 or time.process_time() - started < seconds:
        done += call()
        calls += 1
    return done / (time.process_time() - started)


def _measure(size: int, seconds: float, indexed: bool) -> dict[str, float]:
    if indexed:
        moto_sqs.index_moto_sqs()
    try:
        with mock_aws():
            client = boto3.client("sqs", region_name="us-east-1")
            url = client.create_queue(QueueName="bench.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
            for _ in range(size):
                _send(client, url)
            for _ in range(IN_FLIGHT_GROUPS):  # one message of each of these groups in flight
                client.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=3600)
            return {"send": _rate(lambda: _send(client, url) or 1, seconds),
                    "receive": _rate(lambda: _receive_and_delete(client, url), seconds)}
    finally:
        if indexed:
            moto_sqs.restore_moto_sqs()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000,2000", help="messages in the queue to measure at")
    parser.add_argument("--seconds", type=float, default=2.0, help="CPU seconds per measurement")
    args = parser.parse_args()
    for name, value in (("AWS_ACCESS_KEY_ID", "bench"), ("AWS_SECRET_ACCESS_KEY", "bench"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        os.environ.setdefault(name, value)
    print(f"messages per CPU second; {GROUPS} message groups, {IN_FLIGHT_GROUPS} of them with a message "
          "in flight")
    print(f"{'messages':>9} {'call':<36}{'moto /s':>10}{'harness /s':>12}{'harness / moto':>16}")
    for size in (int(part) for part in args.sizes.split(",")):
        baseline = _measure(size, args.seconds, indexed=False)
        harness = _measure(size, args.seconds, indexed=True)
        for call, label in (("send", "SendMessage"), ("receive", "ReceiveMessage(10), delete, send")):
            print(f"{size:>9} {label:<36}{baseline[call]:>10.1f}{harness[call]:>12.1f}"
                  f"{harness[call] / baseline[call]:>16.1f}")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
