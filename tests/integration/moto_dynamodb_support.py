"""An in-process moto DynamoDB with one results table, for the tests of the store and of the harness."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from moto import mock_aws

from pipeline.store.dynamodb.keys import create_table

__all__ = ["REGION", "mocked_dynamodb"]

REGION = "us-east-1"
_FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                     "AWS_DEFAULT_REGION": REGION}


@contextmanager
def mocked_dynamodb(monkeypatch: pytest.MonkeyPatch, table: str) -> Iterator[Any]:
    """A DynamoDB client on moto, with `table` created as the pipeline creates its table."""
    for name, value in _FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        create_table(client, table)
        yield client
