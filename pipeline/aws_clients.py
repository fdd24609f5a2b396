"""How the store, the secrets source and the EventBridge sink build their AWS clients: one recipe."""

from __future__ import annotations

from typing import Any, Literal

import boto3
from botocore.config import Config

from pipeline.config import PipelineConfig
from pipeline.log_privacy.aws_credentials import withhold_aws_credentials

__all__ = ["aws_client"]


def aws_client(
    service_name: Literal["dynamodb", "secretsmanager", "events"], config: PipelineConfig,
    *, options: Config | None = None,
) -> Any:
    """A client for the configured region and endpoint (a moto server when set).

    Each client gets a session of its own, because boto3's default session is not safe to share
    across threads, and a connection pool with a connection for every worker thread. `options`
    (timeouts, retries) are merged over that.
    """
    # botocore's DEBUG records of signed requests carry the session token.
    withhold_aws_credentials()
    botocore_config = Config(max_pool_connections=config.aws_pool_connections)
    if options is not None:
        botocore_config = botocore_config.merge(options)
    session = boto3.session.Session()
    return session.client(
        service_name,
        region_name=config.aws_region,
        endpoint_url=config.aws_endpoint_url,
        config=botocore_config,
    )
