"""Building blocks for exchangelib connections: TLS policy, credentials per auth type, pinned versions.

TLS policy is per protocol class, not global: exchangelib reads `HTTP_ADAPTER_CLS` from the
protocol's class, so a subclass per policy keeps one integration's "verify TLS off" from
touching any other (BaseProtocol.HTTP_ADAPTER_CLS itself is never changed).
"""

from __future__ import annotations

import ssl
from contextlib import suppress
from typing import Any

import requests.adapters
from exchangelib import (
    DELEGATE,
    IMPERSONATION,
    NTLM,
    OAUTH2,
    Build,
    Configuration,
    Credentials,
    Identity,
    OAuth2Credentials,
    Version,
)
from exchangelib.autodiscover import AutodiscoverProtocol
from exchangelib.credentials import BaseCredentials
from exchangelib.protocol import NoVerifyHTTPAdapter, Protocol
from exchangelib.transport import BASIC

from pipeline.errors import ErrorCode, PermanentError
from pipeline.exchange.versions import resolve
from pipeline.integrations import AuthType, ConnectionMethod, IntegrationSettings
from pipeline.secrets import ExchangeSecret

__all__ = [
    "HttpTimeout",
    "UnverifiedAutodiscoverProtocol",
    "UnverifiedProtocol",
    "VerifiedAutodiscoverProtocol",
    "VerifiedProtocol",
    "access_type_for",
    "autodiscover_protocol_class",
    "build_credentials",
    "exchangelib_auth_type",
    "forget_protocol",
    "http_timeout",
    "pinned_version",
    "protocol_class",
    "token_url",
]


class Tls12Adapter(requests.adapters.HTTPAdapter):
    """Refuses anything older than TLS 1.2 (urllib3 2 defaults to it too; this makes it explicit)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_minimum_version"] = ssl.TLSVersion.TLSv1_2
        super().init_poolmanager(*args, **kwargs)


class NoVerifyTls12Adapter(Tls12Adapter, NoVerifyHTTPAdapter):
    """TLS 1.2 at least, certificate not verified (verify_tls=False)."""


class VerifiedProtocol(Protocol):
    HTTP_ADAPTER_CLS = Tls12Adapter


class UnverifiedProtocol(Protocol):
    HTTP_ADAPTER_CLS = NoVerifyTls12Adapter


class VerifiedAutodiscoverProtocol(AutodiscoverProtocol):
    HTTP_ADAPTER_CLS = Tls12Adapter


class UnverifiedAutodiscoverProtocol(AutodiscoverProtocol):
    HTTP_ADAPTER_CLS = NoVerifyTls12Adapter


HttpTimeout = float | tuple[float, float]


def http_timeout(connect_s: float | None, read_s: float | None) -> HttpTimeout | None:
    """The timeout requests takes for EWS: (connect, read) when a connect timeout is set, so that an
    unreachable server fails in seconds; exchangelib's own TIMEOUT stands in for a missing part;
    None leaves exchangelib's alone."""
    if connect_s is None:
        return read_s
    return (connect_s, read_s if read_s is not None else Protocol.TIMEOUT)


def protocol_class(settings: IntegrationSettings) -> type[Protocol]:
    return VerifiedProtocol if settings.verify_tls else UnverifiedProtocol


def autodiscover_protocol_class(settings: IntegrationSettings) -> type[AutodiscoverProtocol]:
    return VerifiedAutodiscoverProtocol if settings.verify_tls else UnverifiedAutodiscoverProtocol


def token_url(authority: str, tenant_id: str | None) -> str:
    """The v2.0 token endpoint of an authority (login.microsoftonline.com, another cloud, a local one)."""
    return f"{authority.rstrip('/')}/{tenant_id}/oauth2/v2.0/token"


class AuthorityOAuth2Credentials(OAuth2Credentials):
    """Client credentials against a configurable authority (other clouds, or a local token endpoint)."""

    def __init__(self, *, authority: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.authority = authority.rstrip("/")

    @property
    def token_url(self) -> str:
        return token_url(self.authority, self.tenant_id)


def exchangelib_auth_type(auth_type: AuthType) -> str:
    return {
        AuthType.BASIC: BASIC,
        AuthType.NTLM: NTLM,
        AuthType.OAUTH2: OAUTH2,
        AuthType.OAUTH2_DELEGATED: OAUTH2,
    }[auth_type]


def build_credentials(
    settings: IntegrationSettings, secret: ExchangeSecret, secret_name: str, login: str | None = None
) -> BaseCredentials:
    """exchangelib credentials for Basic, NTLM and app-only OAuth (delegated OAuth is
    delegated_oauth.py's); `login` is the logon name to send (pipeline.exchange.ews.logins), by
    default the secret's username. Errors name the secret, not its values."""
    if settings.auth_type is AuthType.OAUTH2:
        if not (secret.client_id and secret.client_secret):
            raise PermanentError(
                ErrorCode.INVALID_INTEGRATION,
                f"secret {secret_name} needs client_id and client_secret for oauth2",
            )
        credentials = AuthorityOAuth2Credentials(
            authority=settings.oauth_authority,
            client_id=secret.client_id,
            client_secret=secret.client_secret,
            tenant_id=secret.tenant_id or settings.oauth_tenant_id,
        )
        # App-only tokens must always name a mailbox to act as; protocol-level requests (version
        # guess, room lists) act as the service mailbox. identity is not part of the cache key.
        credentials.identity = Identity(primary_smtp_address=settings.service_mailbox)
        return credentials
    if not (secret.username and secret.password):
        raise PermanentError(
            ErrorCode.INVALID_INTEGRATION,
            f"secret {secret_name} needs username and password for {settings.auth_type}",
        )
    login = login or secret.username
    if settings.auth_type is AuthType.BASIC and not _latin1(f"{login}:{secret.password}"):
        # requests encodes Basic credentials as Latin-1; it would fail with a UnicodeEncodeError
        # whose repr quotes the whole password. NTLM sends any text.
        raise PermanentError(
            ErrorCode.INVALID_INTEGRATION,
            f"secret {secret_name}: the username or password has characters that Basic "
            "authentication cannot send (outside Latin-1); use ntlm",
        )
    return Credentials(login, secret.password)


def _latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def access_type_for(settings: IntegrationSettings) -> str:
    """DELEGATE when the logon acts in its own right, IMPERSONATION when it acts as the mailbox owner."""
    if settings.auth_type is AuthType.OAUTH2:
        return IMPERSONATION  # app-only has no mailbox of its own
    if settings.connection_method is ConnectionMethod.IMPERSONATION:
        return IMPERSONATION
    return DELEGATE


def pinned_version(server_version: str | None) -> Version | None:
    """exchangelib's Version for a server_version setting (pipeline/exchange/versions.py); None to detect."""
    if not server_version:
        return None
    try:
        pinned = resolve(server_version)
    except ValueError as exc:
        raise PermanentError(ErrorCode.INVALID_INTEGRATION, str(exc)) from None
    return Version(build=Build(*pinned.build), api_version=pinned.api_version)


def forget_protocol(config: Configuration, protocol: Protocol) -> None:
    """Close a protocol's sessions and drop it from exchangelib's process-wide protocol cache."""
    with suppress(KeyError):
        cached, _ = Protocol[config]
        if cached is protocol:
            del Protocol[config]
    protocol.close()
