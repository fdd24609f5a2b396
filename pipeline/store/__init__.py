"""The results table: jobs, bookings, subscriptions and integration settings.

Only this package (and pipeline.secrets) touches boto3; everything else speaks ResultsStore and
the records in records.py.
"""

from pipeline.store.base import ResultsStore
from pipeline.store.dynamodb import DynamoDbStore, create_table
from pipeline.store.factory import dynamodb_client, get_store
from pipeline.store.records import (
    BookingRecord,
    IntegrationRecord,
    JobRecord,
    JobStatus,
    SubscriptionRecord,
    SubscriptionStatus,
)

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
