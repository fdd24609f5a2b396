"""Fixtures shared by every test: a simulator per session, reset and seeded per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from exchangelib import DELEGATE, IMPERSONATION, Account, Build, Configuration, Credentials, Version

from infra.ewssim.server import EwsSimulator
from infra.moto_attribute_values import speed_up_moto_attribute_values
from infra.moto_dynamodb import serialize_moto_dynamodb
from tests.botocore_loader import share_botocore_loader
from tests.seed import PASSWORDS, smtp, standard_org

# Every test's moto DynamoDB (in-process mock or server) answers one request at a time, as real
# DynamoDB makes each request atomic: a duplicate a racing test sees is then the pipeline's.
serialize_moto_dynamodb()
# moto renders the attribute values in its DynamoDB answers directly (the same JSON, less CPU).
speed_up_moto_attribute_values()
# Every boto3 session the tests make reads botocore's service models once, not once per session.
share_botocore_loader()

# Pinned so that tests do not depend on version guessing (which has its own tests).
EXCHANGE_2019 = Version(build=Build(15, 2, 1118, 7))


@pytest.fixture(autouse=True)
def _no_schema_violations() -> Iterator[None]:
    """Fail the test during which a simulator sent a response that messages.xsd rejects.

    Only records anything when the schema check is on (EWS_SCHEMA_DIR, as CI sets it).
    """
    for running in EwsSimulator.running():
        running.take_schema_violations()
    yield
    violations = [v for running in EwsSimulator.running() for v in running.take_schema_violations()]
    if violations:
        pytest.fail("the EWS simulator sent invalid responses:\n" + "\n".join(violations), pytrace=False)


@pytest.fixture(scope="session")
def simulator() -> Iterator[EwsSimulator]:
    server = EwsSimulator().start()
    yield server
    server.stop()


@pytest.fixture
def sim(simulator: EwsSimulator) -> EwsSimulator:
    """The session's simulator, reset and seeded with the standard organisation."""
    simulator.backend.reset()
    simulator.backend.seed(standard_org())
    return simulator


AccountFactory = Callable[..., Account]


@pytest.fixture
def account(sim: EwsSimulator) -> AccountFactory:
    """Build an exchangelib Account against the simulator, over real HTTP.

    account("alice") logs on as alice to her own mailbox; account("svc", mailbox="alice") opens
    alice's mailbox as svc (delegate); impersonate=True uses the ExchangeImpersonation header.
    """

    def build(login: str, *, mailbox: str | None = None, impersonate: bool = False,
              password: str | None = None, auth_type: str = "basic") -> Account:
        config = Configuration(
            service_endpoint=sim.ews_url,
            credentials=Credentials(smtp(login), password if password is not None else PASSWORDS[login]),
            auth_type=auth_type,
            version=EXCHANGE_2019,
        )
        return Account(
            smtp(mailbox or login),
            config=config,
            autodiscover=False,
            access_type=IMPERSONATION if impersonate else DELEGATE,
        )

    return build
