"""HTTPS with the simulator's generated certificate: verify on (trusted CA), verify on (untrusted), off."""

from __future__ import annotations

import socket
import ssl

import pytest
from exchangelib.errors import TransportError
from exchangelib.protocol import BaseProtocol, NoVerifyHTTPAdapter
from exchangelib.transport import NTLM

from infra.ewssim import EwsSimulator
from infra.ewssim.tls import server_context
from tests.integration.ewssim.conftest import build_account, build_oauth_account
from tests.seed import smtp


@pytest.fixture
def trusted(tls_sim: EwsSimulator, monkeypatch: pytest.MonkeyPatch) -> EwsSimulator:
    # requests reads REQUESTS_CA_BUNDLE for every request whose verify is left on.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_sim.ca_file))
    return tls_sim


def test_verify_on_with_the_ca_trusted(trusted: EwsSimulator) -> None:
    assert trusted.ews_url.startswith("https://")
    account = build_account(trusted, "alice")
    assert account.protocol.resolve_names(["bob"])[0].email_address == smtp("bob")


def test_verify_on_against_an_untrusted_certificate_fails(
    tls_sim: EwsSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    account = build_account(tls_sim, "alice")
    with pytest.raises(TransportError, match="CERTIFICATE_VERIFY_FAILED"):
        account.protocol.resolve_names(["bob"])
    assert tls_sim.request_counts() == {}


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_verify_off(tls_sim: EwsSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    # exchangelib's documented switch for "do not verify TLS"; the fixture restores the class.
    BaseProtocol.HTTP_ADAPTER_CLS = NoVerifyHTTPAdapter
    account = build_account(tls_sim, "alice")
    assert account.protocol.resolve_names(["bob"])[0].email_address == smtp("bob")


def test_ntlm_over_tls_with_channel_binding(trusted: EwsSimulator) -> None:
    account = build_account(trusted, "carol", auth_type=NTLM)
    assert account.protocol.resolve_names(["alice"])[0].email_address == smtp("alice")


def test_oauth_over_tls(trusted: EwsSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OAUTHLIB_INSECURE_TRANSPORT", raising=False)
    account = build_oauth_account(trusted, "bob")
    assert account.protocol.resolve_names(["carol"])[0].email_address == smtp("carol")
    assert trusted.request_log()[-1].impersonated == smtp("bob")


def test_tls_1_2_is_the_minimum(tls_sim: EwsSimulator) -> None:
    assert tls_sim.tls_material is not None
    assert server_context(tls_sim.tls_material).minimum_version is ssl.TLSVersion.TLSv1_2
    # A client capped at TLS 1.2 still gets in; one capped at 1.1 does not.
    for maximum, expect_ok in ((ssl.TLSVersion.TLSv1_2, True), (ssl.TLSVersion.TLSv1_1, False)):
        client = ssl.create_default_context(cafile=str(tls_sim.ca_file))
        client.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        client.maximum_version = maximum
        with socket.create_connection(("127.0.0.1", tls_sim.port), timeout=5) as raw:
            if expect_ok:
                with client.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                    assert tls.version() == "TLSv1.2"
            else:
                with pytest.raises(ssl.SSLError):
                    client.wrap_socket(raw, server_hostname="127.0.0.1")
