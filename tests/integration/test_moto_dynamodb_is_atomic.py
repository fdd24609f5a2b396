"""The harness's moto DynamoDB makes each request atomic, as DynamoDB does (issue 9, defect 10).

moto checks a conditional put's condition and stores the item in separate steps, so two racing
`attribute_not_exists` puts could both win, and a racing test reported two events for one
booking that DynamoDB would never have let happen. With infra.moto_dynamodb (applied for every
test in tests/conftest.py) a duplicate seen in a test is a duplicate in the pipeline.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.moto_dynamodb_support import mocked_dynamodb

TABLE = "ews-pipeline-race"
RACERS = 4
KEYS = 150


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with mocked_dynamodb(monkeypatch, TABLE) as dynamodb:
        yield dynamodb


def test_racing_conditional_puts_have_exactly_one_winner_per_key(client: Any) -> None:
    wins: list[int] = []
    lock = threading.Lock()

    def race(racer: int, barrier: threading.Barrier) -> None:
        for key in range(KEYS):
            barrier.wait()  # every racer puts the same key at the same moment
            try:
                client.put_item(TableName=TABLE, Item={"pk": {"S": f"RACE#{key}"}, "sk": {"S": "RACE"},
                                                       "winner": {"N": str(racer)}},
                                ConditionExpression="attribute_not_exists(pk)")
            except ClientError as lost:
                assert lost.response["Error"]["Code"] == "ConditionalCheckFailedException"
                continue
            with lock:
                wins.append(key)

    barrier = threading.Barrier(RACERS)
    threads = [threading.Thread(target=race, args=(racer, barrier)) for racer in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(wins) == list(range(KEYS))  # each key won exactly once
