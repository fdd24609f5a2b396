"""Driving `ews-pipeline` itself against the local stack: moto server, the simulator, real brokers.

`cli` runs a command in this process (click's CliRunner) with the environment the stack gives;
`run_cli` runs it as a subprocess, for the commands that serve until stopped.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result

from infra.ewssim import EwsSimulator
from pipeline.cli import cli as cli_group
from pipeline.store.dynamodb.keys import create_table
from tests.integration.moto_server import FAKE_KEY_ID, FAKE_SECRET, REGION
from tests.seed import PASSWORDS, smtp


@dataclass
class LocalStack:
    """What the CLI talks to, and the environment that points it there."""

    sim: EwsSimulator
    aws: str
    table: str
    env: dict[str, str] = field(default_factory=dict)

    def settings(self, integration_id: str, method: str = "delegate", **overrides: Any) -> dict[str, Any]:
        logon = "svc-imp" if method == "impersonation" else "svc"
        return {"integration_id": integration_id, "connection_method": method, "auth_type": "basic",
                "ews_url": self.sim.ews_url, "server_version": "15.2.1118.7",
                "secret_name": f"cli/{integration_id}", "service_mailbox": smtp(logon), **overrides}

    def secret(self, method: str = "delegate") -> dict[str, str]:
        logon = "svc-imp" if method == "impersonation" else "svc"
        return {"username": smtp(logon), "password": PASSWORDS[logon]}


CliInvoker = Callable[..., Result]


@pytest.fixture
def stack(moto_endpoint: str, sim: EwsSimulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalStack]:
    table = f"cli-{uuid.uuid4().hex[:8]}"
    create_table(boto3.client("dynamodb", region_name=REGION, endpoint_url=moto_endpoint,
                              aws_access_key_id=FAKE_KEY_ID, aws_secret_access_key=FAKE_SECRET), table)
    env = {"AWS_ACCESS_KEY_ID": FAKE_KEY_ID, "AWS_SECRET_ACCESS_KEY": FAKE_SECRET, "AWS_REGION": REGION,
           "AWS_ENDPOINT_URL": moto_endpoint, "PIPELINE_TABLE": table}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PIPELINE_BROKER", raising=False)
    yield LocalStack(sim=sim, aws=moto_endpoint, table=table, env=env)


@pytest.fixture
def cli() -> CliInvoker:
    """cli("integration", "list", env={...}) -> click Result (stdout and stderr apart)."""

    def invoke(*args: str, env: Mapping[str, str | None] | None = None, input: str | None = None) -> Result:
        result = CliRunner().invoke(cli_group, list(args), env=dict(env or {}), input=input,
                                    catch_exceptions=True)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result

    return invoke


def as_json(result: Result) -> Any:
    return json.loads(result.stdout)


def assert_one_line_error(result: Result, code: str, exit_code: int = 1) -> None:
    """An expected error: its exit code, one line naming the code, no traceback."""
    assert result.exit_code == exit_code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{code}: "), result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def run_cli(*args: str, env: Mapping[str, str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=timeout)


def closed_port() -> int:
    """A local port nothing listens on: a connection to it is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
