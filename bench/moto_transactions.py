"""TransactWriteItems on the harness's moto against moto's own, as the table fills.

moto's own deep-copies each table in a transaction for its rollback; infra.moto_dynamodb's checks
the conditions first and copies only the items it touches. Both run here in one process, one
after the other at each table size, on the pipeline's own table layout, with the outbox's shape of
transaction (an update of a record plus a put of an event).

    python bench/moto_transactions.py [--sizes 100,1000,10000] [--transactions 200]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import boto3
from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend

from infra import moto_dynamodb
from pipeline.store.dynamodb.keys import create_table

TABLE = "bench-transactions"


def _fill(client: Any, size: int) -> None:
    """`size` job records, written 25 at a time (BatchWriteItem's limit)."""
    items = [{"PutRequest": {"Item": {"pk": {"S": f"JOB#{number}"}, "sk": {"S": "JOB"},
                                      "status": {"S": "succeeded"}, "payload": {"S": "x" * 200}}}}
             for number in range(size)]
    for first in range(0, len(items), 25):
        client.batch_write_item(RequestItems={TABLE: items[first:first + 25]})


def _transactions_per_second(client: Any, count: int) -> float:
    started = time.perf_counter()
    for number in range(count):
        client.transact_write_items(TransactItems=[
            {"Update": {"TableName": TABLE, "Key": {"pk": {"S": f"JOB#{number}"}, "sk": {"S": "JOB"}},
                        "UpdateExpression": "SET #s = :s", "ExpressionAttributeNames": {"#s": "status"},
                        "ExpressionAttributeValues": {":s": {"S": "failed"}}}},
            {"Put": {"TableName": TABLE, "Item": {"pk": {"S": f"EVENT#{number}"}, "sk": {"S": "EVENT"}},
                     "ConditionExpression": "attribute_not_exists(pk)"}},
        ])
    return count / (time.perf_counter() - started)


def _measure(size: int, count: int, transact: Any) -> float:
    DynamoDBBackend.transact_write_items = transact  # type: ignore[method-assign]
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, TABLE)
        _fill(client, size)
        return _transactions_per_second(client, count)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000,10000", help="table sizes (items) to measure at")
    parser.add_argument("--transactions", type=int, default=200, help="transactions per measurement")
    args = parser.parse_args()
    for name, value in (("AWS_ACCESS_KEY_ID", "bench"), ("AWS_SECRET_ACCESS_KEY", "bench"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        os.environ.setdefault(name, value)
    motos_own = DynamoDBBackend.transact_write_items
    print(f"{'items':>8}{'moto tx/s':>12}{'harness tx/s':>14}{'harness / moto':>16}")
    for size in (int(part) for part in args.sizes.split(",")):
        baseline = _measure(size, args.transactions, motos_own)
        harness = _measure(size, args.transactions, moto_dynamodb.transact_write_items_without_copies)
        print(f"{size:>8}{baseline:>12.0f}{harness:>14.0f}{harness / baseline:>16.1f}")
    DynamoDBBackend.transact_write_items = motos_own  # type: ignore[method-assign]
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
