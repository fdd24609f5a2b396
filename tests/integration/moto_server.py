"""A moto server in this process, for tests that talk to AWS over real HTTP.

Import the fixtures into a test module (or a conftest) with
`from tests.integration.moto_server import moto_endpoint, sqs_client  # noqa: F401`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

REGION = "us-east-1"
# moto accepts any credentials; fixed fake ones keep boto3 from looking for real ones.
FAKE_KEY_ID = FAKE_SECRET = "testing"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """The URL of a moto server on a free port, for the whole session."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def sqs_client(moto_endpoint: str) -> Any:
    """A boto3 SQS client pointed at the moto server."""
    return boto3.client(
        "sqs",
        endpoint_url=moto_endpoint,
        region_name=REGION,
        aws_access_key_id=FAKE_KEY_ID,
        aws_secret_access_key=FAKE_SECRET,
    )
