"""SOAP Autodiscover (GetUserSettings), as exchangelib 5 uses it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from exchangelib import Account, Configuration, Credentials, FailFast
from exchangelib.autodiscover import autodiscover_cache
from exchangelib.autodiscover.protocol import AutodiscoverProtocol
from exchangelib.errors import ErrorNonExistentMailbox
from exchangelib.transport import BASIC, NTLM

from infra.ewssim import EwsSimulator
from tests.seed import DOMAIN, PASSWORDS, smtp


@pytest.fixture
def credentials() -> Credentials:
    return Credentials(smtp("alice"), PASSWORDS["alice"])


@pytest.fixture
def cached_endpoint(sim: EwsSimulator, credentials: Credentials) -> Iterator[None]:
    """Point exchangelib's autodiscover cache for the domain at the simulator.

    exchangelib would otherwise try https://example.com/... and DNS; a cached endpoint is the
    supported way to skip that discovery, and it still sends a real GetUserSettings request.
    """
    key = (DOMAIN, credentials)
    autodiscover_cache[key] = AutodiscoverProtocol(
        config=Configuration(
            service_endpoint=sim.autodiscover_url,
            credentials=credentials,
            auth_type=BASIC,
            retry_policy=FailFast(),
        )
    )
    yield
    del autodiscover_cache[key]


def test_account_autodiscovers_the_ews_url(
    sim: EwsSimulator, credentials: Credentials, cached_endpoint: None
) -> None:
    account = Account(smtp("alice"), credentials=credentials, autodiscover=True)
    assert account.protocol.service_endpoint == sim.ews_url
    assert account.ad_response is not None and account.ad_response.ews_url == sim.ews_url
    assert account.version.api_version == "Exchange2016"
    # The discovered endpoint serves EWS.
    assert account.protocol.resolve_names(["bob"])[0].email_address == smtp("bob")


def test_get_user_settings_directly(sim: EwsSimulator, credentials: Credentials) -> None:
    protocol = AutodiscoverProtocol(
        config=Configuration(service_endpoint=sim.autodiscover_url, credentials=credentials, auth_type=BASIC)
    )
    answer = protocol.get_user_settings(user=smtp("bob"))
    answer.raise_errors()
    assert answer.ews_url == sim.ews_url
    assert answer.user_settings["internal_ews_url"] == sim.ews_url
    assert answer.autodiscover_smtp_address == smtp("bob")
    unknown = protocol.get_user_settings(user="nobody@example.com")
    with pytest.raises(ErrorNonExistentMailbox):
        unknown.raise_errors()


def test_autodiscover_auth_type_detection(sim: EwsSimulator, credentials: Credentials) -> None:
    protocol = AutodiscoverProtocol(
        config=Configuration(service_endpoint=sim.autodiscover_url, credentials=credentials)
    )
    assert protocol.auth_type == NTLM
    assert protocol.get_user_settings(user=smtp("carol")).ews_url == sim.ews_url
