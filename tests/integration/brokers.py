"""Real brokers for runtime tests: Redis and RabbitMQ on this machine, SQS from a moto server.

A test that needs a broker skips with the reason when it is not running, unless
PIPELINE_REQUIRE_BROKERS=1 (CI sets it), which turns the skip into a failure.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator

import pytest

REDIS_URL = os.environ.get("PIPELINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
AMQP_URL = os.environ.get("PIPELINE_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def listening(host: str, port: int) -> bool:
    """True when a server accepts connections on host:port."""
    with socket.socket() as probe:
        probe.settimeout(1.0)
        return probe.connect_ex((host, port)) == 0


def require_broker(name: str, host: str, port: int) -> None:
    """Skip (or fail, when brokers are required) unless something listens on host:port."""
    if listening(host, port):
        return
    reason = f"{name} is not running on {host}:{port}"
    if os.environ.get("PIPELINE_REQUIRE_BROKERS") == "1":
        pytest.fail(f"{reason}, and PIPELINE_REQUIRE_BROKERS=1 requires it")
    pytest.skip(reason)


@pytest.fixture
def redis_url() -> str:
    require_broker("Redis", "127.0.0.1", 6379)
    return REDIS_URL


@pytest.fixture
def amqp_url() -> str:
    require_broker("RabbitMQ", "127.0.0.1", 5672)
    return AMQP_URL


@pytest.fixture
def sqs_url(moto_endpoint: str) -> Iterator[str]:
    """A fresh FIFO jobs queue (and its DLQ) on the session's moto server, as a PIPELINE_BROKER URL."""
    name = f"jobs-{uuid.uuid4().hex[:8]}"
    yield f"sqs://{name}?endpoint={moto_endpoint}&region=us-east-1&create=1&wait=0&visibility_timeout=5"
