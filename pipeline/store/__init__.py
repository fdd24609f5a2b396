"""The results table: jobs, bookings, subscriptions and integration settings.

Only this package (and pipeline.secrets) touches boto3; everything else speaks ResultsStore and
the records in records.py. The DynamoDB names load on first use, so that importing the interface
(store.base, records) does not import boto3.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from pipeline.store.base import ResultsStore
from pipeline.store.records import (
    BookingRecord,
    IntegrationRecord,
    JobRecord,
    JobStatus,
    SubscriptionRecord,
    SubscriptionStatus,
)

if TYPE_CHECKING:
    from pipeline.store.dynamodb import DynamoDbStore, create_table
    from pipeline.store.factory import dynamodb_client, get_store

__all__ = [
    "BookingRecord",
    "DynamoDbStore",
    "IntegrationRecord",
    "JobRecord",
    "JobStatus",
    "ResultsStore",
    "SubscriptionRecord",
    "SubscriptionStatus",
    "create_table",
    "dynamodb_client",
    "get_store",
]

_LAZY = {
    "DynamoDbStore": "pipeline.store.dynamodb",
    "create_table": "pipeline.store.dynamodb",
    "dynamodb_client": "pipeline.store.factory",
    "get_store": "pipeline.store.factory",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
