"""Authentication: Basic, NTLM (real handshake), OAuth 2.0 client credentials; impersonation rights."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from exchangelib import Configuration, Credentials, FailFast
from exchangelib.errors import (
    ErrorImpersonateUserDenied,
    ErrorInvalidExchangeImpersonationHeaderData,
    ErrorNonExistentMailbox,
    UnauthorizedError,
)
from exchangelib.protocol import Protocol
from exchangelib.transport import NTLM, OAUTH2
from oauthlib.oauth2.rfc6749.errors import InvalidClientError

from infra.ewssim import EwsSimulator
from infra.ewssim.models.directory import AppRegistration
from tests.conftest import EXCHANGE_2019
from tests.integration.ewssim.conftest import build_account, build_oauth_account, local_oauth_credentials
from tests.seed import APP, smtp


@pytest.fixture
def insecure_oauth(monkeypatch: pytest.MonkeyPatch) -> None:
    # oauthlib refuses plain-HTTP token and resource URLs; the HTTPS variant is in test_tls.py.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


def test_basic_logon(sim: EwsSimulator) -> None:
    assert build_account(sim, "carol").protocol.resolve_names(["alice"])[0].email_address == smtp("alice")
    assert sim.request_log()[-1].caller == smtp("carol")


def test_basic_wrong_password_is_401(sim: EwsSimulator) -> None:
    account = build_account(sim, "alice", password="wrong")
    with pytest.raises(UnauthorizedError):
        account.protocol.resolve_names(["bob"])
    assert sim.request_counts() == {}


def test_401_lists_every_supported_scheme(sim: EwsSimulator) -> None:
    response = requests.post(sim.ews_url, data=b"<x/>", timeout=5)
    assert response.status_code == 401
    offered = response.headers["WWW-Authenticate"]
    for scheme in ("Basic realm=", "NTLM", "Bearer"):
        assert scheme in offered


@pytest.mark.parametrize("username", ["alice@example.com", "EXAMPLE\\alice", "alice"])
def test_ntlm_handshake(sim: EwsSimulator, username: str) -> None:
    account = build_account(sim, "alice", auth_type=NTLM, username=username)
    assert account.protocol.resolve_names(["bob"])[0].email_address == smtp("bob")
    # The connection stays authenticated: a second request needs no new handshake to succeed.
    assert account.protocol.resolve_names(["carol"])[0].email_address == smtp("carol")
    assert [r.caller for r in sim.request_log()] == [smtp("alice"), smtp("alice")]


def test_ntlm_wrong_password_is_401(sim: EwsSimulator) -> None:
    account = build_account(sim, "alice", auth_type=NTLM, password="not-it")
    with pytest.raises(UnauthorizedError):
        account.protocol.resolve_names(["bob"])
    assert sim.request_counts() == {}


def test_auth_type_detection_prefers_ntlm(sim: EwsSimulator) -> None:
    # exchangelib tastes the 401's WWW-Authenticate headers when no auth type is configured.
    config = Configuration(
        service_endpoint=sim.ews_url,
        credentials=Credentials(smtp("bob"), "bob-Secret-2"),
        version=EXCHANGE_2019,
        retry_policy=FailFast(),
    )
    protocol = Protocol(config=config)
    assert protocol.auth_type == NTLM
    assert protocol.resolve_names(["alice"])[0].email_address == smtp("alice")


def test_oauth_app_only_with_impersonation(sim: EwsSimulator, insecure_oauth: None) -> None:
    account = build_oauth_account(sim, "alice")
    assert account.protocol.resolve_names(["bob"])[0].email_address == smtp("bob")
    record = sim.request_log()[-1]
    assert record.app_only and record.impersonated == smtp("alice")
    assert record.caller.startswith(APP["client_id"])


def test_oauth_app_only_without_impersonation_is_refused(sim: EwsSimulator, insecure_oauth: None) -> None:
    credentials = local_oauth_credentials(sim)(
        client_id=APP["client_id"], client_secret=APP["client_secret"], tenant_id=APP["tenant_id"]
    )
    protocol = Protocol(
        config=Configuration(
            service_endpoint=sim.ews_url, credentials=credentials, auth_type=OAUTH2, version=EXCHANGE_2019
        )
    )
    with pytest.raises(ErrorInvalidExchangeImpersonationHeaderData, match="ExchangeImpersonation"):
        protocol.resolve_names(["bob"])


def test_oauth_wrong_secret_is_refused_by_the_token_endpoint(sim: EwsSimulator, insecure_oauth: None) -> None:
    account = build_oauth_account(sim, "alice", secret="wrong")
    with pytest.raises(InvalidClientError):
        account.protocol.resolve_names(["bob"])
    assert sim.request_counts() == {}


def test_oauth_expired_token_is_401(sim: EwsSimulator, insecure_oauth: None) -> None:
    account = build_oauth_account(sim, "alice")
    account.protocol.resolve_names(["bob"])
    # The simulated clock passes the token's lifetime; exchangelib still holds the old token.
    sim.advance_clock(timedelta(hours=2))
    with pytest.raises(UnauthorizedError):
        account.protocol.resolve_names(["bob"])
    assert sim.request_counts() == {"ResolveNames": 1}


def test_oauth_app_without_full_access_cannot_impersonate(sim: EwsSimulator, insecure_oauth: None) -> None:
    sim.backend.directory.add_app(
        AppRegistration(APP["client_id"], APP["client_secret"], APP["tenant_id"], full_access=False)
    )
    with pytest.raises(ErrorImpersonateUserDenied):
        build_oauth_account(sim, "alice").protocol.resolve_names(["bob"])


def test_token_endpoint_errors(sim: EwsSimulator) -> None:
    url = sim.token_url(APP["tenant_id"])
    form = {
        "grant_type": "client_credentials",
        "client_id": APP["client_id"],
        "client_secret": APP["client_secret"],
    }
    ok = requests.post(url, data=form, timeout=5)
    assert ok.status_code == 200 and ok.json()["token_type"] == "Bearer"
    assert requests.post(url, data={**form, "grant_type": "password"}, timeout=5).json()["error"] == (
        "unsupported_grant_type"
    )
    assert requests.post(sim.token_url("other-tenant"), data=form, timeout=5).status_code == 400
    unknown_token = requests.post(
        sim.ews_url, data=b"<x/>", headers={"Authorization": "Bearer nope"}, timeout=5
    )
    assert unknown_token.status_code == 401


# Account-level operations (GetFolder behind account.calendar) carry the ExchangeImpersonation
# header; protocol-level ones only do for OAuth identities.


def test_impersonation_needs_the_right(sim: EwsSimulator) -> None:
    with pytest.raises(ErrorImpersonateUserDenied):
        _ = build_account(sim, "svc", mailbox="alice", impersonate=True).calendar
    # Granting the right through the control API makes the same call work.
    sim.grant_impersonation(smtp("svc"))
    assert build_account(sim, "svc", mailbox="alice", impersonate=True).calendar.name == "Calendar"
    assert sim.request_log()[-1].impersonated == smtp("alice")
    assert sim.request_log()[0].code == "ErrorImpersonateUserDenied"


def test_impersonating_an_unknown_mailbox(sim: EwsSimulator) -> None:
    with pytest.raises(ErrorNonExistentMailbox):
        _ = build_account(sim, "svc-imp", mailbox="nobody", impersonate=True).calendar


def test_impersonation_as_the_user(sim: EwsSimulator) -> None:
    account = build_account(sim, "svc-imp", mailbox="bob", impersonate=True)
    assert account.calendar.name == "Calendar"
    assert sim.request_log()[-1].impersonated == smtp("bob")
