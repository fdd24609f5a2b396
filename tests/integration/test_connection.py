"""The connection layer over real HTTP: every connection method x auth type, versions, pooling,
autodiscover, TLS policy, 401 -> one secret refresh, and Exchange errors -> pipeline codes."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from exchangelib.protocol import BaseProtocol, Protocol

from infra.ewssim import EwsSimulator, FaultKind
from pipeline.errors import ErrorCode, PermanentError, RetryableError
from pipeline.exchange.ews import EwsConnector
from tests.integration import ews_support
from tests.integration.ews_support import (
    APP_CALLER,
    SERVICE_LOGON,
    CountingSecretSource,
    integration,
    put_secret,
    seed_secrets,
)
from tests.seed import APP, PASSWORDS, smtp

# Fixtures shared by the connection-layer tests (pytest finds them as module attributes).
secrets_client = ews_support.secrets_client
secret_source = ews_support.secret_source
connector = ews_support.connector


@pytest.fixture(autouse=True)
def plain_http_oauth(monkeypatch: pytest.MonkeyPatch) -> None:
    # oauthlib refuses http:// token URLs; the simulator's HTTP endpoint stands in for the authority.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


MATRIX = [
    (method, auth)
    for method in ("personal", "dedicated", "delegate", "impersonation")
    for auth in ("basic", "ntlm", "oauth2")
    if not (method == "personal" and auth == "oauth2")  # client credentials are app-only
]


def expected_caller_and_mailbox(method: str, auth: str) -> tuple[str, str | None, str]:
    """(who logs on, whom the ExchangeImpersonation header names, whose calendar) for a job for alice."""
    calendar = smtp("svc") if method == "dedicated" else smtp("alice")
    if auth == "oauth2":
        return APP_CALLER, calendar, calendar
    if method == "personal":
        return smtp("alice"), None, calendar
    logon = smtp(SERVICE_LOGON[method])
    return logon, smtp("alice") if method == "impersonation" else None, calendar


@pytest.mark.parametrize(("method", "auth"), MATRIX)
def test_connection_methods_and_auth_types(
    sim: EwsSimulator, connector: EwsConnector, secrets_client: Any, method: str, auth: str
) -> None:
    # Given an integration of this kind and its secret in Secrets Manager
    seed_secrets(secrets_client, f"{method}-{auth}", method, auth)
    gateway = connector.gateway(integration(sim, method, auth), smtp("alice"))
    caller, impersonated, calendar = expected_caller_and_mailbox(method, auth)
    # When the gateway proves the mailbox and authenticates
    gateway.probe_mailbox()
    assert gateway.authenticate() == "15.2.1118.7"
    # Then it read the right calendar, logged on as the right account, acting as the right user
    assert gateway.target.mailbox == calendar
    probe = sim.request_log("GetFolder")
    assert [(r.caller, r.impersonated, r.code) for r in probe] == [(caller, impersonated, "NoError")]
    assert sim.request_counts() == {"GetFolder": 1, "ConvertId": 1}  # pinned version: no detection


def test_delegate_without_rights_is_access_denied(
    sim: EwsSimulator, connector: EwsConnector, secrets_client: Any
) -> None:
    seed_secrets(secrets_client, "delegate-basic", "delegate", "basic")
    # svc may only see bob's free/busy, not open his calendar folder.
    with pytest.raises(PermanentError) as caught:
        connector.gateway(integration(sim, "delegate"), smtp("bob")).probe_mailbox()
    assert caught.value.code is ErrorCode.ACCESS_DENIED


def test_impersonation_without_the_right(
    sim: EwsSimulator, connector: EwsConnector, secrets_client: Any
) -> None:
    seed_secrets(secrets_client, "impersonation-basic", "impersonation", "basic")
    sim.grant_impersonation(smtp("svc-imp"), allowed=False)
    with pytest.raises(PermanentError) as caught:
        connector.gateway(integration(sim, "impersonation"), smtp("alice")).probe_mailbox()
    assert caught.value.code is ErrorCode.IMPERSONATION_DENIED


@pytest.mark.parametrize("method", ["impersonation", "delegate"])
def test_unknown_mailbox(
    sim: EwsSimulator, connector: EwsConnector, secrets_client: Any, method: str
) -> None:
    seed_secrets(secrets_client, f"{method}-basic", method, "basic")
    with pytest.raises(PermanentError) as caught:
        connector.gateway(integration(sim, method), "nobody@example.com").probe_mailbox()
    assert caught.value.code is ErrorCode.UNKNOWN_MAILBOX


def test_detected_version_is_cached_per_integration(
    sim: EwsSimulator, connector: EwsConnector, secrets_client: Any
) -> None:
    seed_secrets(secrets_client, "personal-basic", "personal", "basic")
    settings = integration(sim, "personal", server_version=None)
    # Two users means two secrets and two protocols, but the server is only asked its version once.
    connector.gateway(settings, smtp("alice")).probe_mailbox()
    connector.gateway(settings, smtp("bob")).probe_mailbox()
    connector.gateway(settings, smtp("alice")).probe_mailbox()
    assert sim.request_counts() == {"ConvertId": 1, "GetFolder": 3}


def test_connections_are_pooled_across_jobs(
    sim: EwsSimulator, connector: EwsConnector, secrets_client: Any
) -> None:
    seed_secrets(secrets_client, "delegate-basic", "delegate", "basic")
    settings = integration(sim, "delegate")
    first = connector.open(settings, smtp("alice"))
    again = connector.open(settings, smtp("alice"))
    other = connector.open(settings, smtp("carol"))
    assert again.account is first.account
    assert other.protocol is first.protocol  # one session pool per service secret
    assert first.protocol.max_connections == connector.max_connections == 4


def test_autodiscover_url(sim: EwsSimulator, connector: EwsConnector, secrets_client: Any) -> None:
    seed_secrets(secrets_client, "dedicated-basic", "dedicated", "basic")
    settings = integration(sim, "dedicated", ews_url=None, autodiscover_url=sim.autodiscover_url)
    gateway = connector.gateway(settings, smtp("alice"))
    assert gateway.probe_endpoint().lower() == sim.ews_url.lower()
    gateway.probe_mailbox()
    assert sim.request_counts() == {"GetFolder": 1}


def test_autodiscover_of_an_unknown_address_fails(
    sim: EwsSimulator, connector: EwsConnector, secrets_client: Any
) -> None:
    seed_secrets(secrets_client, "dedicated-basic", "dedicated", "basic")
    settings = integration(
        sim,
        "dedicated",
        ews_url=None,
        autodiscover_url=sim.autodiscover_url,
        autodiscover_email="ghost@example.com",
    )
    with pytest.raises(PermanentError) as caught:
        connector.gateway(settings).probe_endpoint()
    assert caught.value.code in {ErrorCode.UNKNOWN_MAILBOX, ErrorCode.AUTODISCOVER_FAILED}


# Secrets: 401 -> refresh once ------------------------------------------------------------------


def rotate_password(sim: EwsSimulator, client: Any, user: str, new_password: str, secret: str) -> None:
    sim.backend.directory.get(smtp(user)).password = new_password
    put_secret(client, secret, {"username": smtp(user), "password": new_password})


@pytest.mark.parametrize("auth", ["basic", "ntlm"])
def test_rotated_secret_after_401_refreshes_once_and_drops_the_stale_protocol(
    sim: EwsSimulator,
    connector: EwsConnector,
    secrets_client: Any,
    secret_source: CountingSecretSource,
    auth: str,
) -> None:
    # Given a warm connection for alice (her secret cached for 300 s)
    seed_secrets(secrets_client, f"personal-{auth}", "personal", auth)
    settings = integration(sim, "personal", auth)
    connector.gateway(settings, smtp("alice")).probe_mailbox()
    stale = connector.open(settings, smtp("alice"))
    # When her password is rotated in the directory and in Secrets Manager
    secret = f"ews/personal-{auth}/users/{smtp('alice')}"
    rotate_password(sim, secrets_client, "alice", "alice-Rotated-9", secret)
    secret_source.reads.clear()
    if auth == "ntlm":
        # NTLM authenticates a TCP connection, not a request: the old password is only refused
        # once the server recycles the connection (idle timeout), which this stands in for.
        stale.protocol.close()
    # Then the next job meets a 401, refreshes the secret once, and succeeds
    connector.gateway(settings, smtp("alice")).probe_mailbox()
    assert secret_source.reads == [(secret, False), (secret, True)]
    assert [r.code for r in sim.request_log("GetFolder")] == ["NoError", "NoError"]
    # And the old protocol is closed and gone from exchangelib's process-wide cache
    fresh = connector.open(settings, smtp("alice"))
    assert fresh.protocol is not stale.protocol
    assert stale.protocol.session_pool_size == 0
    with pytest.raises(KeyError):
        Protocol[stale.protocol.config]


def test_rotation_seen_without_a_401_closes_the_old_protocol(sim: EwsSimulator, secrets_client: Any) -> None:
    source = CountingSecretSource(boto3_client=secrets_client, max_age_seconds=0)
    connector = EwsConnector(source)
    seed_secrets(secrets_client, "delegate-basic", "delegate", "basic")
    settings = integration(sim, "delegate")
    connector.gateway(settings, smtp("alice")).probe_mailbox()
    old = connector.open(settings, smtp("alice"))
    rotate_password(sim, secrets_client, "svc", "svc-Rotated-9", "ews/delegate-basic/service")
    connector.gateway(settings, smtp("alice")).probe_mailbox()
    assert connector.open(settings, smtp("alice")).protocol is not old.protocol
    assert old.protocol.session_pool_size == 0
    with pytest.raises(KeyError):
        Protocol[old.protocol.config]
    connector.close_all()


@pytest.mark.parametrize("auth", ["basic", "ntlm", "oauth2"])
def test_wrong_credentials_fail_after_exactly_one_refresh(
    sim: EwsSimulator,
    connector: EwsConnector,
    secrets_client: Any,
    secret_source: CountingSecretSource,
    auth: str,
) -> None:
    wrong = "Wrong-Secret-0"
    if auth == "oauth2":
        put_secret(secrets_client, "ews/dedicated-oauth2/service", {**APP, "client_secret": wrong})
    else:
        put_secret(
            secrets_client, f"ews/dedicated-{auth}/service", {"username": smtp("svc"), "password": wrong}
        )
    with pytest.raises(PermanentError) as caught:
        connector.gateway(integration(sim, "dedicated", auth), smtp("alice")).probe_mailbox()
    assert caught.value.code is ErrorCode.AUTH_FAILED
    assert [refresh for _, refresh in secret_source.reads] == [False, True]
    assert wrong not in str(caught.value) and PASSWORDS["svc"] not in str(caught.value)
    assert sim.request_counts() == {}


# TLS --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def https_sim() -> Iterator[EwsSimulator]:
    server = EwsSimulator(tls=True).start()
    yield server
    server.stop()


@pytest.fixture
def tls_sim(https_sim: EwsSimulator, monkeypatch: pytest.MonkeyPatch) -> EwsSimulator:
    from tests.seed import standard_org

    https_sim.reset()
    https_sim.seed(standard_org())
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    return https_sim


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_verify_off_is_per_integration(
    tls_sim: EwsSimulator, connector: EwsConnector, secrets_client: Any
) -> None:
    seed_secrets(secrets_client, "unverified", "delegate", "basic")
    seed_secrets(secrets_client, "verified", "delegate", "basic")
    adapter = BaseProtocol.HTTP_ADAPTER_CLS
    # An integration with verify_tls off reaches the self-signed server...
    connector.gateway(
        integration(tls_sim, "delegate", integration_id="unverified", verify_tls=False), smtp("alice")
    ).probe_mailbox()
    # ...while one with verification on (the default), same process, same server, is refused.
    with pytest.raises(PermanentError) as caught:
        connector.gateway(
            integration(tls_sim, "delegate", integration_id="verified"), smtp("alice")
        ).probe_mailbox()
    assert caught.value.code is ErrorCode.TLS_ERROR
    assert BaseProtocol.HTTP_ADAPTER_CLS is adapter  # no global switch was flipped
    assert tls_sim.request_counts() == {"GetFolder": 1}


def test_verify_on_with_a_trusted_ca(
    tls_sim: EwsSimulator, connector: EwsConnector, secrets_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_sim.ca_file))
    seed_secrets(secrets_client, "dedicated-oauth2", "dedicated", "oauth2")
    # OAuth over HTTPS: the token endpoint is verified too.
    monkeypatch.delenv("OAUTHLIB_INSECURE_TRANSPORT")
    connector.gateway(integration(tls_sim, "dedicated", "oauth2"), smtp("alice")).probe_mailbox()
    assert [(r.caller, r.code) for r in tls_sim.request_log()] == [(APP_CALLER, "NoError")]


# Transient failures -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "code", "delay_ms"),
    [
        (FaultKind.SERVER_BUSY, ErrorCode.SERVER_BUSY, 1500),
        (FaultKind.HTTP_503, ErrorCode.EWS_UNAVAILABLE, None),
        (FaultKind.DROP, ErrorCode.CONNECTION_DROPPED, None),
    ],
)
def test_transient_failures_are_retryable(
    sim: EwsSimulator,
    connector: EwsConnector,
    secrets_client: Any,
    kind: FaultKind,
    code: ErrorCode,
    delay_ms: int | None,
) -> None:
    seed_secrets(secrets_client, "delegate-basic", "delegate", "basic")
    gateway = connector.gateway(integration(sim, "delegate"), smtp("alice"))
    sim.faults.fail(kind, count=1, back_off_ms=1500)
    with pytest.raises(RetryableError) as caught:
        gateway.probe_mailbox()
    assert (caught.value.code, caught.value.delay_ms) == (code, delay_ms)
    # Fail fast: exchangelib did not retry on its own; the next job succeeds.
    assert sim.request_counts() == {"GetFolder": 1}
    gateway.probe_mailbox()


# Secrets stay out of logs -------------------------------------------------------------------------


@pytest.mark.parametrize("auth", ["basic", "oauth2"])
def test_debug_logs_carry_no_credentials(
    sim: EwsSimulator,
    connector: EwsConnector,
    secrets_client: Any,
    caplog: pytest.LogCaptureFixture,
    auth: str,
) -> None:
    seed_secrets(secrets_client, f"dedicated-{auth}", "dedicated", auth)
    with caplog.at_level(logging.DEBUG):
        connector.gateway(integration(sim, "dedicated", auth), smtp("alice")).probe_mailbox()
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "Authorization" in text or "token" in text  # exchangelib did log its requests...
    basic = base64.b64encode(f"{smtp('svc')}:{PASSWORDS['svc']}".encode()).decode()
    for secret in (PASSWORDS["svc"], basic, APP["client_secret"]):
        assert secret not in text  # ...with the credentials scrubbed
    issued = [r for r in sim.request_log() if r.app_only]
    assert len(issued) == (1 if auth == "oauth2" else 0)
