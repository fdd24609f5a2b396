"""get_store: the one ResultsStore of a process, built from the configuration."""

from __future__ import annotations

from functools import cache
from typing import Any

from pipeline.aws_clients import aws_client
from pipeline.config import PipelineConfig
from pipeline.store.base import ResultsStore

__all__ = ["dynamodb_client", "get_store"]


def dynamodb_client(config: PipelineConfig) -> Any:
    """A DynamoDB client for the configured region and endpoint (moto server when set)."""
    return aws_client("dynamodb", config)


@cache
def get_store(config: PipelineConfig) -> ResultsStore:
    """The process's store for this configuration, built once (a warm Lambda reuses it)."""
    # boto3 (0.2 s) loads with the store, not with its interface.
    from pipeline.store.dynamodb import DynamoDbStore

    return DynamoDbStore(
        dynamodb_client(config),
        config.table_name,
        job_ttl_days=config.job_ttl_days,
        job_lease_seconds=config.job_lease_seconds,
        settings_cache_seconds=config.settings_cache_seconds,
    )
