"""An EWS server that cannot be reached fails an attempt within seconds, saying why (issue 9, defect 9).

PIPELINE_EWS_CONNECT_TIMEOUT bounds the wait for a connection apart from PIPELINE_EWS_TIMEOUT, the
wait for an answer: an address that drops connection attempts (a firewall, an unroutable address)
used to hold every attempt for the whole request timeout. Two unreachable servers, both local: a
closed port (refused at once) and a listener whose accept queue is full, so that the kernel drops
further attempts unanswered, as a black-holed address does. Python's audit hook sees each
socket.connect, which counts the attempts without touching exchangelib or requests. Nothing here
asserts a duration: the retry policy decides when a job is tried again.
"""

from __future__ import annotations

import json
import socket
import sys
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from exchangelib.protocol import close_connections
from moto import mock_aws

from pipeline.config import PipelineConfig
from pipeline.contract import JobStatus
from pipeline.errors import ErrorCode, RetryableError
from pipeline.runtimes.runner import Job, run_job
from pipeline.runtimes.runtime import Runtime
from pipeline.store.dynamodb.keys import create_table
from tests.seed import smtp

CONNECT_TIMEOUT_S = 1
_CONNECTS: list[tuple[str, int]] = []


def _count_connects(event: str, args: tuple[Any, ...]) -> None:
    if event == "socket.connect" and isinstance(args[1], tuple) and len(args[1]) >= 2:
        _CONNECTS.append((str(args[1][0]), int(args[1][1])))


sys.addaudithook(_count_connects)  # audit hooks stay for the process; this one only appends


def connects_to(port: int) -> int:
    return sum(1 for host, to in _CONNECTS if (host, to) == ("127.0.0.1", port))


@pytest.fixture
def closed_port() -> int:
    with closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A port whose listener never accepts: with its backlog of one taken, new attempts go unanswered."""
    with closing(socket.socket()) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = int(listener.getsockname()[1])
        with closing(socket.create_connection(("127.0.0.1", port))):
            yield port


@dataclass
class Unreachable:
    runtime: Runtime

    def check(self, port: int) -> tuple[RetryableError, Any]:
        """check_connection of an integration whose EWS URL is this local port; the error and record."""
        integration_id = f"unreachable-{port}"
        self.runtime.store.put_integration(integration_id, {
            "integration_id": integration_id, "connection_method": "dedicated", "auth_type": "basic",
            "ews_url": f"http://127.0.0.1:{port}/EWS/Exchange.asmx", "server_version": "15.2.1118.7",
            "secret_name": "ews/unreachable/service", "service_mailbox": smtp("svc"),
        }, self.runtime.clock())
        message_id = str(uuid.uuid4())
        with pytest.raises(RetryableError) as caught:
            run_job(self.runtime, Job(message_id, "check_connection",
                                      {"integration_id": integration_id, "mailbox": smtp("alice")}))
        return caught.value, self.runtime.store.get_job(message_id)


@pytest.fixture
def unreachable() -> Iterator[Unreachable]:
    """The Runtime a worker builds from its environment, with a short connect timeout."""
    close_connections()
    with mock_aws():
        config = PipelineConfig.from_env({
            "PIPELINE_TABLE": f"connect-{uuid.uuid4().hex[:12]}",
            "PIPELINE_EWS_CONNECT_TIMEOUT": str(CONNECT_TIMEOUT_S),
            "PIPELINE_CONCURRENCY": "2",
        })
        create_table(boto3.client("dynamodb", region_name=config.aws_region), config.table_name)
        boto3.client("secretsmanager", region_name=config.aws_region).create_secret(
            Name="ews/unreachable/service",
            SecretString=json.dumps({"username": smtp("svc"), "password": "svc-Secret-4"}),
        )
        runtime = Runtime.from_config(config)
        yield Unreachable(runtime)
        runtime.gateways.close_all()  # type: ignore[attr-defined]
    close_connections()


@pytest.mark.parametrize(("server", "code", "why"), [
    ("closed_port", ErrorCode.CONNECTION_DROPPED, " (Connection refused)"),
    ("black_hole", ErrorCode.TIMEOUT,
     f": no answer within {CONNECT_TIMEOUT_S} s (PIPELINE_EWS_CONNECT_TIMEOUT)"),
])
def test_an_unreachable_server_fails_the_attempt_after_one_connection_attempt(
    unreachable: Unreachable, request: pytest.FixtureRequest, server: str, code: ErrorCode, why: str
) -> None:
    # Given an integration whose EWS URL nothing answers on
    port: int = request.getfixturevalue(server)
    before = connects_to(port)

    # When check_connection runs
    error, record = unreachable.check(port)

    # Then one connection was attempted, within the connect timeout, and the job waits for its
    # retry, its record saying what could not be reached and why
    assert connects_to(port) - before == 1
    assert (error.code, error.message) == (code, f"ConvertId: cannot connect to 127.0.0.1:{port}{why}")
    assert (record.status, record.error_code, record.error_message) == (
        JobStatus.RETRYING, code, error.message)
