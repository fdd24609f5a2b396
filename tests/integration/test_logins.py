"""Logon names over real HTTP: a secret with a domain tries the UPN first and DOMAIN\\user once on a
401; the form that worked is remembered in the process and on the integration's item in the table.

The simulator's logon log shows every name a client presented and whether it was accepted (a
refused one is an HTTP 401), so each test counts exactly which names were tried, in which order.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from infra.ewssim import EwsSimulator
from pipeline.errors import ErrorCode, PermanentError
from pipeline.exchange.ews import EwsConnector
from pipeline.exchange.ews.logins import LoginFormMemory
from pipeline.store.dynamodb import DynamoDbStore
from pipeline.store.dynamodb.keys import create_table
from tests.integration import ews_support
from tests.integration.ews_support import CountingSecretSource, integration, put_secret
from tests.seed import PASSWORDS, smtp

secrets_client = ews_support.secrets_client
secret_source = ews_support.secret_source
connector = ews_support.connector

ALICE = smtp("alice")
UPN = ALICE
DOMAIN_FORM = "example\\alice"


def secret_name(auth: str) -> str:
    return f"ews/personal-{auth}/users/{ALICE}"


def put_domain_secret(client: Any, auth: str, password: str = PASSWORDS["alice"]) -> None:
    put_secret(client, secret_name(auth), {"username": ALICE, "password": password, "domain": "EXAMPLE"})


def logons(sim: EwsSimulator) -> list[tuple[str, bool]]:
    """(name presented, accepted) for every logon since the last look; then clears the simulator's
    request counts and logs."""
    seen = [(record.login.lower(), record.accepted) for record in sim.logons()]
    sim.requests.clear()
    return seen


def only_domain_logons(sim: EwsSimulator, user: str = "alice") -> None:
    """The account takes DOMAIN\\user only (an on-premises UPN that is not the e-mail address)."""
    sim.backend.directory.get(smtp(user)).domain_logon_only = True


@pytest.fixture
def store(secrets_client: Any) -> Iterator[DynamoDbStore]:
    # secrets_client runs inside moto's mock_aws: the table lives in the same mock.
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    create_table(dynamodb, "logins-test")
    yield DynamoDbStore(dynamodb, "logins-test")


@pytest.mark.parametrize("auth", ["basic", "ntlm"])
def test_an_account_that_takes_only_domain_user_works_on_the_second_try_and_later_jobs_start_there(
    sim: EwsSimulator, connector: EwsConnector, secrets_client: Any, secret_source: CountingSecretSource,
    auth: str,
) -> None:
    # Given alice's secret with a domain, and an account that refuses her e-mail address as a logon
    put_domain_secret(secrets_client, auth)
    only_domain_logons(sim)
    settings = integration(sim, "personal", auth)

    # When the first job runs, the UPN is refused once and DOMAIN\user works, with no secret refresh
    connector.gateway(settings, ALICE).probe_mailbox()
    assert logons(sim) == [(UPN, False), (DOMAIN_FORM, True)]
    assert secret_source.reads == [(secret_name(auth), False)]

    # Then the next job, even on a new connection, logs on as DOMAIN\user first
    connector.discard(settings, ALICE)
    connector.gateway(settings, ALICE).probe_mailbox()
    assert logons(sim) == [(DOMAIN_FORM, True)]


def test_the_form_that_worked_is_on_the_integration_for_other_processes(
    sim: EwsSimulator, secrets_client: Any, store: DynamoDbStore
) -> None:
    put_domain_secret(secrets_client, "basic")
    only_domain_logons(sim)
    settings = integration(sim, "personal", "basic")
    store.put_integration(settings.integration_id, settings.model_dump(mode="json", exclude_none=True))
    first = EwsConnector(CountingSecretSource(boto3_client=secrets_client),
                         login_forms=LoginFormMemory(store))
    first.gateway(settings, ALICE).probe_mailbox()
    record = store.get_integration_record(settings.integration_id)
    assert record is not None and record.login_form == "domain"
    assert record.settings == settings.model_dump(mode="json", exclude_none=True)  # settings untouched
    first.close_all()
    logons(sim)

    # Another process (its own connector and secret cache) reads the form from the table.
    other = EwsConnector(CountingSecretSource(boto3_client=secrets_client),
                         login_forms=LoginFormMemory(store))
    other.gateway(settings, ALICE).probe_mailbox()
    other.gateway(settings, ALICE).probe_mailbox()
    assert logons(sim) == [(DOMAIN_FORM, True), (DOMAIN_FORM, True)]
    other.close_all()


@pytest.mark.parametrize("auth", ["basic", "ntlm"])
def test_an_account_that_takes_the_upn_never_tries_the_domain_form(
    sim: EwsSimulator, connector: EwsConnector, secrets_client: Any, auth: str
) -> None:
    put_domain_secret(secrets_client, auth)
    settings = integration(sim, "personal", auth)
    for _ in range(2):
        connector.gateway(settings, ALICE).probe_mailbox()
        connector.discard(settings, ALICE)
    assert {name for name, _ in logons(sim)} == {UPN}
    assert all(accepted for _, accepted in sim.logons())


@pytest.mark.parametrize("auth", ["basic", "ntlm"])
def test_a_wrong_password_is_refused_in_both_forms_then_fails_for_good(
    sim: EwsSimulator, connector: EwsConnector, secrets_client: Any, secret_source: CountingSecretSource,
    auth: str,
) -> None:
    wrong = "alice-Wrong-0"
    put_domain_secret(secrets_client, auth, password=wrong)
    with pytest.raises(PermanentError) as caught:
        connector.gateway(integration(sim, "personal", auth), ALICE).probe_mailbox()
    assert caught.value.code is ErrorCode.AUTH_FAILED
    assert wrong not in str(caught.value)
    # Both forms with the cached secret, then the secret re-read once; unchanged, so only the first
    # form once more: three refused logons, bounded.
    assert sim.request_counts() == {}  # no EWS request got past authentication
    assert logons(sim) == [(UPN, False), (DOMAIN_FORM, False), (UPN, False)]
    assert secret_source.reads == [(secret_name(auth), False), (secret_name(auth), True)]


def test_a_rotated_password_is_found_after_one_refresh_in_the_remembered_form(
    sim: EwsSimulator, connector: EwsConnector, secrets_client: Any, secret_source: CountingSecretSource
) -> None:
    # Given alice connected as DOMAIN\user, with her secret cached
    put_domain_secret(secrets_client, "basic")
    only_domain_logons(sim)
    settings = integration(sim, "personal", "basic")
    connector.gateway(settings, ALICE).probe_mailbox()
    logons(sim)
    # When her password is rotated in the directory and in Secrets Manager
    sim.backend.directory.get(ALICE).password = "alice-Rotated-9"
    put_domain_secret(secrets_client, "basic", password="alice-Rotated-9")
    secret_source.reads.clear()
    connector.gateway(settings, ALICE).probe_mailbox()
    # Then the cached secret is refused in both forms, and the re-read one works as DOMAIN\user
    assert logons(sim) == [(DOMAIN_FORM, False), (UPN, False), (DOMAIN_FORM, True)]
    assert secret_source.reads == [(secret_name("basic"), False), (secret_name("basic"), True)]


def test_a_bare_username_with_a_domain_starts_as_domain_user(
    sim: EwsSimulator, connector: EwsConnector, secrets_client: Any
) -> None:
    # "alice" with domain EXAMPLE has no UPN to try: EXAMPLE\alice first, as before the fallback.
    put_secret(secrets_client, secret_name("basic"),
               {"username": "alice", "password": PASSWORDS["alice"], "domain": "EXAMPLE"})
    connector.gateway(integration(sim, "personal", "basic"), ALICE).probe_mailbox()
    assert logons(sim) == [(DOMAIN_FORM, True)]
