"""Where the SQS broker connects: `sqs://` URLs and the boto3 client."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import parse_qs, urlparse

__all__ = ["DEFAULT_REGION", "parse_sqs_url", "sqs_client_for"]

DEFAULT_REGION = "us-east-1"

# URL query keys -> SqsFifoBroker keyword arguments, with their parsers.
_QUERY_OPTIONS: dict[str, tuple[str, Any]] = {
    "endpoint": ("endpoint_url", str),
    "region": ("region", str),
    "create": ("create_queues", lambda value: value.lower() in ("1", "true", "yes")),
    "wait": ("wait_time_seconds", int),
    "visibility_timeout": ("visibility_timeout", int),
    "max_receive_count": ("max_receive_count", int),
}


def parse_sqs_url(url: str) -> tuple[str, dict[str, Any]]:
    """`sqs://QUEUE?endpoint=...&region=...&create=1&wait=S&visibility_timeout=S&max_receive_count=N`
    -> (queue name, broker keyword arguments)."""
    parsed = urlparse(url)
    if parsed.scheme != "sqs" or not parsed.netloc:
        raise ValueError(f"not an SQS broker URL (sqs://QUEUE_NAME?...): {url!r}")
    options: dict[str, Any] = {}
    for key, values in parse_qs(parsed.query).items():
        if key not in _QUERY_OPTIONS:
            raise ValueError(f"unknown option {key!r} in SQS broker URL; known: {sorted(_QUERY_OPTIONS)}")
        name, parse = _QUERY_OPTIONS[key]
        options[name] = parse(values[-1])
    return parsed.netloc, options


def sqs_client_for(endpoint_url: str | None, region: str | None) -> Any:
    """A boto3 SQS client; the endpoint falls back to AWS_ENDPOINT_URL, the region to AWS_REGION."""
    from botocore.config import Config

    from pipeline.aws_clients import new_client
    from pipeline.log_privacy.aws_credentials import withhold_aws_credentials
    from pipeline.log_privacy.aws_payloads import withhold_aws_payloads

    withhold_aws_credentials()  # botocore's DEBUG records of signed requests carry the session token
    withhold_aws_payloads()  # and of every call its payload: the job messages
    return new_client(  # the process's one boto3 session (pipeline.aws_clients)
        "sqs",
        endpoint_url=endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None,
        region_name=region
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or DEFAULT_REGION,
        # Worker threads delete concurrently; the default pool of 10 connections would queue them.
        config=Config(max_pool_connections=50, retries={"mode": "standard"}),
    )
