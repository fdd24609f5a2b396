"""Building blocks for exchangelib connections: TLS policy, credentials per auth type, pinned versions.

TLS policy is per protocol class, not global: exchangelib reads `HTTP_ADAPTER_CLS` from the
protocol's class, so a subclass per policy keeps one integration's "verify TLS off" from
touching any other (BaseProtocol.HTTP_ADAPTER_CLS itself is never changed).
"""

from __future__ import annotations

import ssl
from typing import Any

import requests.adapters
from exchangelib import (
    DELEGATE,
    IMPERSONATION,
    NTLM,
    OAUTH2,
    Build,
    Credentials,
    Identity,
    OAuth2Credentials,
    Version,
)
from exchangelib.autodiscover import AutodiscoverProtocol
from exchangelib.credentials import BaseCredentials
from exchangelib.protocol import NoVerifyHTTPAdapter, Protocol
from exchangelib.transport import BASIC
from exchangelib.version import VERSIONS

from pipeline.errors import ErrorCode, PermanentError
from pipeline.integrations import AuthType, ConnectionMethod, IntegrationSettings
from pipeline.secrets import ExchangeSecret

__all__ = [
    "UnverifiedAutodiscoverProtocol",
    "UnverifiedProtocol",
    "VerifiedAutodiscoverProtocol",
    "VerifiedProtocol",
    "access_type_for",
    "autodiscover_protocol_class",
    "build_credentials",
    "exchangelib_auth_type",
    "pinned_version",
    "protocol_class",
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


def protocol_class(settings: IntegrationSettings) -> type[Protocol]:
    return VerifiedProtocol if settings.verify_tls else UnverifiedProtocol


def autodiscover_protocol_class(settings: IntegrationSettings) -> type[AutodiscoverProtocol]:
    return VerifiedAutodiscoverProtocol if settings.verify_tls else UnverifiedAutodiscoverProtocol


class AuthorityOAuth2Credentials(OAuth2Credentials):
    """Client credentials against a configurable authority (other clouds, or a local token endpoint)."""

    def __init__(self, *, authority: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.authority = authority.rstrip("/")

    @property
    def token_url(self) -> str:
        return f"{self.authority}/{self.tenant_id}/oauth2/v2.0/token"


def exchangelib_auth_type(auth_type: AuthType) -> str:
    return {AuthType.BASIC: BASIC, AuthType.NTLM: NTLM, AuthType.OAUTH2: OAUTH2}[auth_type]


def build_credentials(
    settings: IntegrationSettings, secret: ExchangeSecret, secret_name: str
) -> BaseCredentials:
    """exchangelib credentials for the integration's auth type; errors name the secret, not its values."""
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
    username = secret.username
    if secret.domain and "@" not in username and "\\" not in username:
        username = f"{secret.domain}\\{username}"
    return Credentials(username, secret.password)


def access_type_for(settings: IntegrationSettings) -> str:
    """DELEGATE when the logon acts in its own right, IMPERSONATION when it acts as the mailbox owner."""
    if settings.auth_type is AuthType.OAUTH2:
        return IMPERSONATION  # app-only has no mailbox of its own
    if settings.connection_method is ConnectionMethod.IMPERSONATION:
        return IMPERSONATION
    return DELEGATE


def pinned_version(server_version: str | None) -> Version | None:
    """Version(build=...) for "15.2.1118[.7]" or an API version name ("Exchange2016"); None to detect."""
    if not server_version:
        return None
    if server_version[0].isdigit():
        parts = [int(p) for p in server_version.split(".")]
        return Version(build=Build(*parts))
    # The oldest build speaking this API version: never claims features the server may lack.
    for build, api_version, _ in reversed(VERSIONS):
        if api_version == server_version:
            return Version(build=build, api_version=api_version)
    raise PermanentError(
        ErrorCode.INVALID_INTEGRATION, f"server_version {server_version} is not a known EWS version"
    )
