"""Delegated OAuth for personal connections, over real HTTP to the simulator's token endpoint and
EWS, with Secrets Manager on moto: each user's refresh token is redeemed, the rotated one stored
back, access tokens reused until they expire, races between processes settled by one re-read,
and a revoked token is a permanent AUTH_FAILED naming the mailbox, never logging a token."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
import requests

from infra.ewssim import EwsSimulator
from infra.ewssim.models.directory import AppRegistration
from pipeline.contract import JobStatus
from pipeline.errors import ErrorCode, PermanentError, PipelineError, RetryableError
from pipeline.exchange.ews import EwsConnector
from pipeline.integrations import IntegrationSettings
from pipeline.runtimes.runner import Job, run_job
from tests.integration import ews_support
from tests.integration.ews_support import CountingSecretSource, integration, put_secret
from tests.integration.pipeline_support import PipelineHarness, pipeline
from tests.integration.test_secrets_never_leak import describe
from tests.seed import APP, smtp

__all__ = ["pipeline"]  # the fixture, re-exported for pytest

secrets_client = ews_support.secrets_client
secret_source = ews_support.secret_source
connector = ews_support.connector

INTEGRATION = "delegated"
APP_SECRET = f"ews/{INTEGRATION}/app"
ALICE, BOB = smtp("alice"), smtp("bob")
MONDAY = datetime(2030, 1, 7, tzinfo=UTC)
UNREDACTED_BEARER = re.compile(r"(?i)\bbearer\s+(?!\*)[A-Za-z0-9+/=._~-]{12,}")


@pytest.fixture(autouse=True)
def plain_http_oauth(monkeypatch: pytest.MonkeyPatch) -> None:
    # oauthlib refuses bearer tokens on http:// EWS URLs; the HTTPS case is test_over_https_...
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


@pytest.fixture
def short_tokens(sim: EwsSimulator) -> None:
    """Access tokens live 2 s: the pipeline renews them 1 s after issue (half their life)."""
    sim.tokens.lifetime = timedelta(seconds=2)  # until the next reset


def user_secret(mailbox: str) -> str:
    return f"ews/{INTEGRATION}/users/{mailbox}"


def settings_for(sim: EwsSimulator) -> IntegrationSettings:
    return integration(sim, "personal", "oauth2_delegated", integration_id=INTEGRATION,
                       secret_name=APP_SECRET, oauth_authority=sim.base_url, oauth_tenant_id=APP["tenant_id"])


def connect(sim: EwsSimulator, client: Any, mailbox: str = ALICE) -> str:
    """What the upstream app does when a user connects: store the app and the user's refresh token."""
    put_secret(client, APP_SECRET, dict(APP))
    token = sim.issue_refresh_token(APP["client_id"], mailbox)
    put_secret(client, user_secret(mailbox), {"refresh_token": token})
    return token


def stored_token(client: Any, mailbox: str = ALICE) -> str:
    token: str = json.loads(client.get_secret_value(SecretId=user_secret(mailbox))["SecretString"])[
        "refresh_token"
    ]
    return token


def redeem(sim: EwsSimulator, refresh_token: str) -> requests.Response:
    form = {"grant_type": "refresh_token", "client_id": APP["client_id"],
            "client_secret": APP["client_secret"], "refresh_token": refresh_token}
    return requests.post(sim.token_url(APP["tenant_id"]), data=form, timeout=5)


def test_a_personal_connection_acts_as_the_user_and_stores_the_rotated_refresh_token(
    sim: EwsSimulator, connector: EwsConnector, secrets_client: Any
) -> None:
    # Given alice connected her mailbox: her secret holds the refresh token the app obtained
    first = connect(sim, secrets_client)
    settings = settings_for(sim)
    # When two jobs run for her
    connector.gateway(settings, ALICE).probe_mailbox()
    connector.gateway(settings, ALICE).authenticate()
    # Then EWS saw alice herself (no app, no impersonation), with one token redemption for both
    assert [(r.operation, r.caller, r.impersonated, r.app_only) for r in sim.request_log()] == [
        ("GetFolder", ALICE, None, False), ("ConvertId", ALICE, None, False)]
    assert sim.tokens.counts() == {"refresh_token": 1}
    assert {(r.scheme, r.login, r.accepted) for r in sim.logons()} == {("bearer", ALICE, True)}
    # And her secret holds the rotated refresh token; the one used is spent
    assert stored_token(secrets_client) != first
    assert redeem(sim, first).json()["error"] == "invalid_grant"


def test_an_expired_access_token_is_renewed_on_the_warm_connection(
    sim: EwsSimulator, connector: EwsConnector, secrets_client: Any, short_tokens: None
) -> None:
    connect(sim, secrets_client)
    settings = settings_for(sim)
    connector.gateway(settings, ALICE).probe_mailbox()
    warm = connector.open(settings, ALICE).protocol
    rotated_once = stored_token(secrets_client)
    time.sleep(1.2)
    # exchangelib finds the token expired, asks the pipeline for the next one, and goes on.
    connector.gateway(settings, ALICE).probe_mailbox()
    assert sim.tokens.counts() == {"refresh_token": 2}
    assert connector.open(settings, ALICE).protocol is warm  # the rotation kept the connection
    assert stored_token(secrets_client) not in (rotated_once, "")
    assert [r.code for r in sim.request_log("GetFolder")] == ["NoError", "NoError"]


def test_a_token_the_server_no_longer_takes_is_replaced_after_one_refresh(
    sim: EwsSimulator, connector: EwsConnector, secrets_client: Any, secret_source: CountingSecretSource
) -> None:
    connect(sim, secrets_client)
    settings = settings_for(sim)
    connector.gateway(settings, ALICE).probe_mailbox()
    # The server's clock passes the token's lifetime while the pipeline still holds it: a 401.
    sim.advance_clock(timedelta(hours=2))
    secret_source.reads.clear()
    connector.gateway(settings, ALICE).probe_mailbox()
    assert sim.tokens.counts() == {"refresh_token": 2}
    assert [(r.login, r.accepted) for r in sim.logons()][-2:] == [("", False), (ALICE, True)]
    assert (user_secret(ALICE), True) in secret_source.reads


def test_two_processes_racing_for_one_refresh_token_both_succeed(
    sim: EwsSimulator, connector: EwsConnector, secrets_client: Any
) -> None:
    # Given another process that read alice's secret (and cached it) before this one rotated it
    connect(sim, secrets_client)
    settings = settings_for(sim)
    other_secrets = CountingSecretSource(boto3_client=secrets_client)
    other_secrets.get(user_secret(ALICE))
    other = EwsConnector(other_secrets)
    connector.gateway(settings, ALICE).probe_mailbox()
    connector.close_all()  # one process shares exchangelib's protocol cache; two would not
    # When the other process redeems its cached, already rotated, refresh token
    other.gateway(settings, ALICE).probe_mailbox()
    # Then it was refused once, re-read the secret, and went on with the stored one
    assert sim.tokens.counts() == {"refresh_token": 2, "refresh_token:invalid_grant": 1}
    assert (user_secret(ALICE), True) in other_secrets.reads
    assert redeem(sim, stored_token(secrets_client)).status_code == 200  # the newest one is stored
    other.close_all()


def test_threads_of_one_process_redeem_once(
    sim: EwsSimulator, connector: EwsConnector, secrets_client: Any
) -> None:
    connect(sim, secrets_client)
    settings = settings_for(sim)
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda _: connector.gateway(settings, ALICE).probe_mailbox(), range(8)))
    assert sim.tokens.counts() == {"refresh_token": 1}
    assert sim.request_counts() == {"GetFolder": 8}


@pytest.mark.parametrize("warm", [False, True])
def test_a_revoked_refresh_token_is_a_permanent_auth_failure_naming_the_mailbox(
    sim: EwsSimulator, connector: EwsConnector, secrets_client: Any, warm: bool
) -> None:
    first = connect(sim, secrets_client)
    settings = settings_for(sim)
    if warm:
        connector.gateway(settings, ALICE).probe_mailbox()
    # The user revoked the app's access (or an admin revoked their sessions): every token ends.
    sim.revoke_tokens(ALICE)
    with pytest.raises(PermanentError) as caught:
        connector.gateway(settings, ALICE).probe_mailbox()
    assert caught.value.code is ErrorCode.AUTH_FAILED
    assert ALICE in caught.value.message and "AADSTS50173" in caught.value.message
    assert first not in str(caught.value) and stored_token(secrets_client) not in str(caught.value)
    # One refused redemption: the re-read secret held the same token, and nothing retried it.
    assert sim.tokens.counts() == ({"refresh_token": 1} if warm else {}) | {"refresh_token:invalid_grant": 1}


def test_a_rotated_client_secret_is_read_again_once_and_a_wrong_one_fails_for_good(
    sim: EwsSimulator, connector: EwsConnector, secrets_client: Any
) -> None:
    # Given a warm process that cached the app registration's secret
    connect(sim, secrets_client)
    settings = settings_for(sim)
    connector.gateway(settings, ALICE).probe_mailbox()
    # When the client secret is rotated in Azure AD and in Secrets Manager, and bob connects
    sim.backend.directory.add_app(AppRegistration(APP["client_id"], "app-Rotated-7", APP["tenant_id"]))
    put_secret(secrets_client, APP_SECRET, {**APP, "client_secret": "app-Rotated-7"})
    connect_token = sim.issue_refresh_token(APP["client_id"], BOB)
    put_secret(secrets_client, user_secret(BOB), {"refresh_token": connect_token})
    connector.gateway(settings, BOB).probe_mailbox()
    # Then the refused app secret was read again once, and bob's job went on
    assert sim.tokens.counts() == {"refresh_token": 2, "refresh_token:invalid_client": 1}

    # A wrong client secret fails at once, naming the app's secret, with no retry by the connector
    put_secret(secrets_client, APP_SECRET, {**APP, "client_secret": "app-Wrong-0"})
    fresh = EwsConnector(CountingSecretSource(boto3_client=secrets_client))
    with pytest.raises(PermanentError) as caught:
        fresh.gateway(settings, ALICE).probe_mailbox()
    assert caught.value.code is ErrorCode.AUTH_FAILED and APP_SECRET in caught.value.message
    assert "app-Wrong-0" not in str(caught.value)
    assert sim.tokens.counts()["refresh_token:invalid_client"] == 2
    fresh.close_all()


class FailingWrites(CountingSecretSource):
    """Secrets Manager refuses the first write-back (throttled, say); reads work."""

    def __init__(self, *args: Any, failures: int = 1, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.failures = failures

    def update(self, name: str, changes: Any) -> Any:
        if self.failures:
            self.failures -= 1
            raise RetryableError(ErrorCode.STORE_UNAVAILABLE, f"Secrets Manager failed writing {name}")
        return super().update(name, changes)


def test_a_rotated_token_that_could_not_be_stored_is_used_for_the_next_renewal(
    sim: EwsSimulator, secrets_client: Any, short_tokens: None
) -> None:
    first = connect(sim, secrets_client)
    settings = settings_for(sim)
    flaky = EwsConnector(FailingWrites(boto3_client=secrets_client))
    # The job succeeds although its rotated refresh token could not be written back...
    flaky.gateway(settings, ALICE).probe_mailbox()
    assert stored_token(secrets_client) == first
    time.sleep(1.2)
    # ...and the next renewal redeems the one kept in memory (the stored one is spent), then
    # stores its successor.
    flaky.gateway(settings, ALICE).probe_mailbox()
    assert sim.tokens.counts() == {"refresh_token": 2}
    assert redeem(sim, stored_token(secrets_client)).status_code == 200
    flaky.close_all()


def test_over_https_the_token_endpoint_is_verified_too(
    secrets_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.seed import standard_org

    with EwsSimulator(tls=True) as tls_sim:
        tls_sim.seed(standard_org())
        monkeypatch.delenv("OAUTHLIB_INSECURE_TRANSPORT")
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_sim.ca_file))
        connect(tls_sim, secrets_client)
        https = EwsConnector(CountingSecretSource(boto3_client=secrets_client))
        https.gateway(settings_for(tls_sim), ALICE).probe_mailbox()
        assert tls_sim.tokens.counts() == {"refresh_token": 1}
        # Without the CA the token endpoint's certificate is refused: a TLS error, not a retry.
        monkeypatch.delenv("REQUESTS_CA_BUNDLE")
        monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
        https.close_all()
        with pytest.raises(PermanentError) as caught:
            EwsConnector(CountingSecretSource(boto3_client=secrets_client)).gateway(
                settings_for(tls_sim), ALICE).probe_mailbox()
        assert caught.value.code is ErrorCode.TLS_ERROR


# Through the pipeline: job records, logs and leaks -------------------------------------------------


def install(pipeline: PipelineHarness) -> None:
    settings = settings_for(pipeline.sim)
    pipeline.store.put_integration(INTEGRATION, settings.model_dump(mode="json", exclude_none=True))


def test_jobs_record_the_revoked_mailbox_and_nothing_leaks_into_debug_logs(
    pipeline: PipelineHarness, sim: EwsSimulator, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("", "exchangelib", "urllib3", "requests", "requests_oauthlib", "oauthlib", "botocore",
                 "boto3", "aws_lambda_powertools", "pipeline"):
        caplog.set_level(logging.DEBUG, logger=name)
    sim.tokens.lifetime = timedelta(seconds=2)  # until the next reset
    install(pipeline)
    connect(sim, pipeline.secrets_client, ALICE)
    connect(sim, pipeline.secrets_client, BOB)
    sim.revoke_tokens(BOB)
    window = {"start": MONDAY.isoformat(), "end": (MONDAY + timedelta(hours=8)).isoformat()}
    raised: list[BaseException] = []
    outcomes = {}
    # alice: redeem, write back, reuse; renew after expiry; bob: revoked.
    for label, mailbox in (("alice", ALICE), ("alice-again", ALICE), ("bob", BOB)):
        if label == "alice-again":
            time.sleep(1.2)
        message_id = str(uuid.uuid4())
        job = Job(message_id, "fetch_free_busy",
                  {"integration_id": INTEGRATION, "mailbox": mailbox, "mailboxes": [ALICE, BOB], **window})
        try:
            run_job(pipeline.runtime, job)
        except PipelineError as error:
            raised.append(error)
        record = pipeline.store.get_job(message_id)
        assert record is not None
        outcomes[label] = record.to_outcome()

    assert outcomes["alice"].status is JobStatus.SUCCEEDED, outcomes["alice"].error
    assert outcomes["alice-again"].status is JobStatus.SUCCEEDED, outcomes["alice-again"].error
    failed = outcomes["bob"]
    assert failed.status is JobStatus.FAILED and failed.error is not None
    assert (failed.error.code, failed.error.retryable) == (ErrorCode.AUTH_FAILED, False)
    assert BOB in failed.error.message  # the job record names the mailbox...
    pipeline_lines = [r for r in caplog.records if r.name.startswith("pipeline")]
    assert pipeline_lines
    assert not [r for r in pipeline_lines if BOB in r.getMessage() or BOB in str(vars(r))]  # ...logs never
    assert sim.tokens.counts() == {"refresh_token": 2, "refresh_token:invalid_grant": 1}

    # No refresh token, access token or client secret in logs (at DEBUG), exceptions or the table.
    logs = caplog.text + "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records)
    errors = "\n".join(describe(error) for error in raised)
    config = pipeline.runtime.config
    table = json.dumps(boto3.client("dynamodb", region_name=config.aws_region).scan(
        TableName=config.table_name)["Items"])
    secrets = [*sim.tokens.issued(), APP["client_secret"]]
    assert len(secrets) == 2 + 2 * 2 + 1  # two consents, two redemptions (refresh + access), the app
    for place, text in (("logs", logs), ("exceptions", errors), ("table", table)):
        leaked = sum(secret in text for secret in secrets)
        assert leaked == 0, f"{place} contain {leaked} token(s)"
        assert not UNREDACTED_BEARER.findall(text), f"{place} contain an unredacted bearer token"
    assert any("PutSecretValue" in r.getMessage() for r in caplog.records)  # the write-back was logged
