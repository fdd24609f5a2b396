"""Fixtures for the simulator's own server-side tests (beyond tests/conftest.py)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from exchangelib import (
    DELEGATE,
    IMPERSONATION,
    Account,
    Configuration,
    Credentials,
    FailFast,
    Identity,
    OAuth2Credentials,
)
from exchangelib.protocol import BaseProtocol, close_connections
from exchangelib.transport import OAUTH2

from infra.ewssim import EwsSimulator
from tests.conftest import EXCHANGE_2019
from tests.seed import APP, PASSWORDS, smtp, standard_org

SCHEMA_DIR = Path(
    os.environ.get("EWS_SCHEMA_DIR") or Path(__file__).resolve().parents[4] / "shared" / "ews-schema"
)


@pytest.fixture(autouse=True)
def fresh_protocols() -> Iterator[None]:
    """exchangelib caches a Protocol per (endpoint, credentials) and ignores the auth type in the key,
    so a test that switches auth or faults a connection must not inherit another test's sessions."""
    close_connections()
    adapter = BaseProtocol.HTTP_ADAPTER_CLS
    yield
    BaseProtocol.HTTP_ADAPTER_CLS = adapter
    close_connections()


@pytest.fixture(scope="session")
def tls_simulator() -> Iterator[EwsSimulator]:
    server = EwsSimulator(tls=True).start()
    yield server
    server.stop()


@pytest.fixture
def tls_sim(tls_simulator: EwsSimulator) -> EwsSimulator:
    tls_simulator.reset()
    tls_simulator.seed(standard_org())
    return tls_simulator


def local_oauth_credentials(sim: EwsSimulator) -> type[OAuth2Credentials]:
    """OAuth2Credentials whose authority is the simulator (token_url is a property upstream)."""

    class SimulatorOAuth2Credentials(OAuth2Credentials):
        @property
        def token_url(self) -> str:
            return sim.token_url(self.tenant_id)

    return SimulatorOAuth2Credentials


AccountBuilder = Callable[..., Account]


def build_account(
    sim: EwsSimulator,
    login: str,
    *,
    mailbox: str | None = None,
    impersonate: bool = False,
    password: str | None = None,
    auth_type: str = "basic",
    pin_version: bool = True,
    retry_policy: Any = None,
    username: str | None = None,
) -> Account:
    """An exchangelib Account on `sim` (which may be the HTTPS one), with any auth type."""
    config = Configuration(
        service_endpoint=sim.ews_url,
        credentials=Credentials(username or smtp(login), PASSWORDS[login] if password is None else password),
        auth_type=auth_type,
        version=EXCHANGE_2019 if pin_version else None,
        retry_policy=retry_policy or FailFast(),
    )
    return Account(
        smtp(mailbox or login),
        config=config,
        autodiscover=False,
        access_type=IMPERSONATION if impersonate else DELEGATE,
    )


def build_oauth_account(sim: EwsSimulator, mailbox: str, *, secret: str | None = None) -> Account:
    """An app-only OAuth account acting as `mailbox` through impersonation (Exchange Online style)."""
    credentials = local_oauth_credentials(sim)(
        client_id=APP["client_id"],
        client_secret=APP["client_secret"] if secret is None else secret,
        tenant_id=APP["tenant_id"],
        # App-only tokens act as this identity: exchangelib sends it as ExchangeImpersonation.
        identity=Identity(primary_smtp_address=smtp(mailbox)),
    )
    config = Configuration(
        service_endpoint=sim.ews_url, credentials=credentials, auth_type=OAUTH2, version=EXCHANGE_2019
    )
    return Account(smtp(mailbox), config=config, autodiscover=False, access_type=IMPERSONATION)
