"""The harness's moto TransactWriteItems: all or nothing, as DynamoDB, without copying the table.

moto's own takes a deep copy of every table in a transaction for its rollback, so each write of
the pipeline's outbox (update_and_put) cost time in proportion to the table, and the chaos
benchmark's moto servers fell behind as their tables filled. infra.moto_dynamodb (applied for
every test in tests/conftest.py) checks all conditions first and undoes only what it touched.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.integration.moto_dynamodb_support import mocked_dynamodb

TABLE = "ews-pipeline-transactions"


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with mocked_dynamodb(monkeypatch, TABLE) as dynamodb:
        yield dynamodb


def _key(name: str) -> dict[str, Any]:
    return {"pk": {"S": name}, "sk": {"S": "ITEM"}}


def _put(name: str, **condition: Any) -> dict[str, Any]:
    return {"Put": {"TableName": TABLE, "Item": {**_key(name), "n": {"N": "1"}}, **condition}}


def _items(client: Any) -> dict[str, str]:
    return {item["pk"]["S"]: item.get("n", {}).get("N", "") for item in client.scan(TableName=TABLE)["Items"]}


def _stream_records(client: Any) -> list[dict[str, Any]]:
    streams = boto3.client("dynamodbstreams", region_name="us-east-1")
    arn = client.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records: list[dict[str, Any]] = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    return records


def test_a_transaction_with_a_failed_condition_writes_nothing_and_says_which_failed(client: Any) -> None:
    client.put_item(TableName=TABLE, Item={**_key("taken"), "n": {"N": "7"}})
    with pytest.raises(ClientError) as cancelled:
        client.transact_write_items(TransactItems=[
            _put("fresh"),
            _put("taken", ConditionExpression="attribute_not_exists(pk)",
                 ReturnValuesOnConditionCheckFailure="ALL_OLD"),
        ])
    reasons = cancelled.value.response["CancellationReasons"]
    assert [reason["Code"] for reason in reasons] == ["None", "ConditionalCheckFailed"]
    assert reasons[1]["Item"]["n"] == {"N": "7"}
    assert _items(client) == {"taken": "7"}


def test_a_write_that_fails_halfway_is_undone(client: Any) -> None:
    client.put_item(TableName=TABLE, Item={**_key("kept"), "n": {"N": "7"}})
    with pytest.raises(ClientError) as refused:
        client.transact_write_items(TransactItems=[
            {"Update": {"TableName": TABLE, "Key": _key("kept"), "UpdateExpression": "SET n = :n",
                        "ExpressionAttributeValues": {":n": {"N": "8"}}}},
            _put("new"),
            # Adding a number to a string fails only when the update is applied.
            {"Update": {"TableName": TABLE, "Key": _key("kept-too"),
                        "UpdateExpression": "SET s = :s ADD s :one",
                        "ExpressionAttributeValues": {":s": {"S": "text"}, ":one": {"N": "1"}}}},
        ])
    assert refused.value.response["Error"]["Code"] in ("ValidationException", "TransactionCanceledException")
    assert _items(client) == {"kept": "7"}


def test_only_committed_transactions_reach_the_stream(client: Any) -> None:
    with pytest.raises(ClientError):
        client.transact_write_items(TransactItems=[
            _put("a"), {"ConditionCheck": {"TableName": TABLE, "Key": _key("missing"),
                                           "ConditionExpression": "attribute_exists(pk)"}},
        ])
    client.transact_write_items(TransactItems=[_put("b"), _put("c")])
    assert sorted(record["dynamodb"]["Keys"]["pk"]["S"] for record in _stream_records(client)) == ["b", "c"]


def test_a_transaction_copies_the_items_it_touches_not_the_table(client: Any,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    for number in range(50):
        client.put_item(TableName=TABLE, Item={**_key(f"old-{number}"), "n": {"N": str(number)}})
    copied: list[type] = []
    real_deepcopy = copy.deepcopy

    def counting_deepcopy(value: Any, memo: Any = None) -> Any:
        if memo is None:  # the outermost call only
            copied.append(type(value))
        return real_deepcopy(value, memo)

    monkeypatch.setattr(copy, "deepcopy", counting_deepcopy)
    client.transact_write_items(TransactItems=[_put("x"), _put("old-3")])
    assert [kind.__name__ for kind in copied if kind.__name__ == "Table"] == []
    assert _items(client)["x"] == "1" and _items(client)["old-3"] == "1"
