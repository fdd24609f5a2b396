"""Shared by the connection-layer tests: Secrets Manager (moto), integration settings, a connector."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from exchangelib.protocol import close_connections
from moto import mock_aws

from infra.ewssim import EwsSimulator
from pipeline.exchange.ews import EwsConnector
from pipeline.integrations import IntegrationSettings, load_integration
from pipeline.secrets import SecretSource
from tests.seed import APP, PASSWORDS, smtp

# The service logon each connection method uses in the standard organisation.
SERVICE_LOGON = {"dedicated": "svc", "delegate": "svc", "impersonation": "svc-imp"}
APP_CALLER = f"{APP['client_id']}@app.ewssim.invalid"


class CountingSecretSource(SecretSource):
    """The real SecretSource, recording each read so tests can assert "refreshed exactly once"."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reads: list[tuple[str, bool]] = []

    def get(self, name: str, refresh: bool = False) -> Any:
        self.reads.append((name, refresh))
        return super().get(name, refresh)


@pytest.fixture
def secrets_client() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


@pytest.fixture
def secret_source(secrets_client: Any) -> CountingSecretSource:
    return CountingSecretSource(boto3_client=secrets_client)


@pytest.fixture
def connector(secret_source: CountingSecretSource) -> Iterator[EwsConnector]:
    # Other tests share exchangelib's process-wide protocol cache; start and end clean.
    close_connections()
    connector = EwsConnector(secret_source, concurrency=4)
    yield connector
    connector.close_all()
    close_connections()


def put_secret(client: Any, name: str, value: dict[str, str]) -> None:
    try:
        client.put_secret_value(SecretId=name, SecretString=json.dumps(value))
    except client.exceptions.ResourceNotFoundException:
        client.create_secret(Name=name, SecretString=json.dumps(value))


def seed_secrets(client: Any, integration_id: str, method: str, auth: str) -> None:
    """The secrets an integration of this method and auth type reads, with the seeded passwords."""
    if auth == "oauth2":
        put_secret(client, f"ews/{integration_id}/service", dict(APP))
    elif method == "personal":
        for user in ("alice", "bob", "carol"):
            put_secret(
                client,
                f"ews/{integration_id}/users/{smtp(user)}",
                {"username": smtp(user), "password": PASSWORDS[user]},
            )
    else:
        logon = SERVICE_LOGON[method]
        put_secret(
            client, f"ews/{integration_id}/service", {"username": smtp(logon), "password": PASSWORDS[logon]}
        )


def integration(sim: EwsSimulator, method: str, auth: str = "basic", **overrides: Any) -> IntegrationSettings:
    integration_id = overrides.pop("integration_id", f"{method}-{auth}")
    raw: dict[str, Any] = {
        "integration_id": integration_id,
        "connection_method": method,
        "auth_type": auth,
        "ews_url": sim.ews_url,
        "server_version": "15.2.1118.7",
    }
    if method == "personal":
        raw["personal_secret_template"] = "ews/{integration_id}/users/{mailbox}"
    else:
        raw["secret_name"] = f"ews/{integration_id}/service"
        raw["service_mailbox"] = smtp(SERVICE_LOGON[method])
    if auth == "oauth2":
        raw.update(oauth_authority=sim.base_url, oauth_tenant_id=APP["tenant_id"])
    raw.update(overrides)
    return load_integration({k: v for k, v in raw.items() if v is not None})
