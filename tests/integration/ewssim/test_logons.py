"""The simulator's side of logons: the logon log, accounts that take only DOMAIN\\user, and the
refresh-token grant (rotation, revocation, delegated tokens acting as their user)."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from exchangelib import DELEGATE, Account, Configuration, FailFast, OAuth2AuthorizationCodeCredentials
from exchangelib.errors import ErrorAccessDenied, UnauthorizedError
from exchangelib.transport import NTLM, OAUTH2

from infra.ewssim import EwsSimulator
from tests.conftest import EXCHANGE_2019
from tests.integration.ewssim.conftest import build_account
from tests.seed import APP, smtp

ALICE = smtp("alice")


def control(sim: EwsSimulator, method: str, path: str, json: object = None) -> requests.Response:
    return requests.request(method, f"{sim.base_url}/_sim/{path}", json=json, timeout=5)


def redeem(sim: EwsSimulator, refresh_token: str, **form: str) -> requests.Response:
    body = {"grant_type": "refresh_token", "client_id": APP["client_id"],
            "client_secret": APP["client_secret"], "refresh_token": refresh_token,
            "scope": "https://outlook.office365.com/EWS.AccessAsUser.All", **form}
    return requests.post(sim.token_url(APP["tenant_id"]), data=body, timeout=5)


def bearer_account(sim: EwsSimulator, access_token: str, mailbox: str) -> Account:
    credentials = OAuth2AuthorizationCodeCredentials(access_token={"access_token": access_token,
                                                                   "token_type": "Bearer"})
    config = Configuration(service_endpoint=sim.ews_url, credentials=credentials, auth_type=OAUTH2,
                           version=EXCHANGE_2019, retry_policy=FailFast())
    return Account(mailbox, config=config, autodiscover=False, access_type=DELEGATE)


@pytest.fixture
def insecure_oauth(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


# The logon log and DOMAIN\user-only accounts ----------------------------------------------------


@pytest.mark.parametrize("auth_type", ["basic", NTLM])
def test_a_domain_only_account_refuses_its_address_and_takes_domain_user(
    sim: EwsSimulator, auth_type: str
) -> None:
    sim.backend.directory.get(ALICE).domain_logon_only = True
    with pytest.raises(UnauthorizedError):
        build_account(sim, "alice", auth_type=auth_type).protocol.resolve_names(["bob"])
    domain_user = build_account(sim, "alice", auth_type=auth_type, username="EXAMPLE\\alice")
    domain_user.protocol.resolve_names(["bob"])
    assert [(r.scheme, r.login, r.accepted) for r in sim.logons()] == [
        (auth_type.lower(), ALICE, False), (auth_type.lower(), "EXAMPLE\\alice", True)]
    assert [r.caller for r in sim.request_log()] == [ALICE]


def test_the_logon_log_over_http_never_holds_a_password(sim: EwsSimulator) -> None:
    build_account(sim, "alice").protocol.resolve_names(["bob"])
    logons = control(sim, "GET", "requests/logons").json()
    assert [(r["scheme"], r["login"], r["accepted"]) for r in logons] == [("basic", ALICE, True)]
    assert "alice-Secret-1" not in str(logons)
    control(sim, "DELETE", "requests")
    assert control(sim, "GET", "requests/logons").json() == []


# The refresh-token grant -----------------------------------------------------------------------


def test_a_refresh_token_works_once_and_comes_back_rotated(sim: EwsSimulator) -> None:
    issued = control(sim, "POST", "oauth/refresh-tokens", {"client_id": APP["client_id"], "smtp": ALICE})
    first = issued.json()["refresh_token"]
    answer = redeem(sim, first)
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    body: dict[str, Any] = answer.json()
    assert body["token_type"] == "Bearer" and body["refresh_token"] != first and body["access_token"]
    again = redeem(sim, first)
    assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")
    assert redeem(sim, body["refresh_token"]).status_code == 200
    counts = control(sim, "GET", "oauth/counts").json()
    assert counts == {"refresh_token": 2, "refresh_token:invalid_grant": 1}


def test_the_refresh_grant_checks_the_client(sim: EwsSimulator) -> None:
    token = sim.issue_refresh_token(APP["client_id"], ALICE)
    assert redeem(sim, token, client_secret="wrong").json()["error"] == "invalid_client"
    assert redeem(sim, "made-up").json()["error"] == "invalid_grant"
    assert redeem(sim, token).status_code == 200  # the refused attempts did not spend it


def test_a_delegated_token_acts_as_its_user_with_the_users_rights(
    sim: EwsSimulator, insecure_oauth: None
) -> None:
    token = redeem(sim, sim.issue_refresh_token(APP["client_id"], ALICE)).json()["access_token"]
    assert bearer_account(sim, token, ALICE).calendar.name == "Calendar"
    record = sim.request_log()[-1]
    assert (record.caller, record.app_only, record.impersonated) == (ALICE, False, None)
    # alice has no rights on bob's calendar: her token does not either.
    with pytest.raises(ErrorAccessDenied):
        _ = bearer_account(sim, token, smtp("bob")).calendar


def test_revoking_ends_a_users_refresh_and_access_tokens(sim: EwsSimulator, insecure_oauth: None) -> None:
    answer = redeem(sim, sim.issue_refresh_token(APP["client_id"], ALICE)).json()
    other = sim.issue_refresh_token(APP["client_id"], smtp("bob"))
    assert control(sim, "POST", "oauth/revoke", {"smtp": ALICE}).json() == {"revoked": 1}
    refused = redeem(sim, answer["refresh_token"]).json()
    assert refused["error"] == "invalid_grant" and "AADSTS50173" in refused["error_description"]
    with pytest.raises(UnauthorizedError):
        _ = bearer_account(sim, answer["access_token"], ALICE).calendar
    assert redeem(sim, other).status_code == 200  # bob's are untouched
