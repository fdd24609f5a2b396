"""Delegated OAuth 2.0 (auth_type oauth2_delegated): each user's refresh token, exchanged for tokens
that act as that user, for personal connections on Exchange Online.

The upstream app obtained the refresh token when the user connected their mailbox, with the app
registration in the integration's `secret_name` (client_id, client_secret, tenant_id?); each
user's secret (personal_secret_template) holds `refresh_token`. DelegatedTokens redeems it at
the authority's token endpoint (grant_type=refresh_token) and writes the rotated refresh token
back into the user's secret. exchangelib gets a DelegatedOAuth2Credentials holding only the
access token: it never sees the refresh token or the client secret, and asks DelegatedTokens
for a new access token when the old one expires.

A plain requests POST, not msal: this is one form POST per user about once an hour. msal would
add a dependency (to every Lambda package), an instance-discovery and an openid-configuration
round trip per application object, and an https-only authority (so no local http token endpoint),
and it keeps its own in-memory cache of refresh tokens beside the secret, a second copy to
rotate. exchangelib already brings requests.

Concurrency: one redemption at a time per secret in this process. Another process may have
redeemed and rotated the same refresh token meanwhile (Azure AD lets old ones live, but a strict
authority refuses them, as the simulator does): on invalid_grant the secret is re-read once and
its refresh token, if it is a different one, tried once. Refused again (revoked, expired, or never
valid) is a permanent AUTH_FAILED naming the mailbox, which the connector does not retry.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import requests
from exchangelib import OAuth2AuthorizationCodeCredentials

from pipeline.errors import ErrorCode, PermanentError, PipelineError, RetryableError
from pipeline.exchange.ews.errors import to_pipeline_error
from pipeline.exchange.ews.protocol import Tls12Adapter, http_timeout, token_url
from pipeline.integrations import IntegrationSettings
from pipeline.secrets import ExchangeSecret, SecretSource

__all__ = ["DELEGATED_SCOPE", "DelegatedOAuth2Credentials", "DelegatedTokens", "RefreshTokenRefused"]

log = logging.getLogger(__name__)

# EWS as the signed-in user, and a new refresh token with every answer.
DELEGATED_SCOPE = "https://outlook.office365.com/EWS.AccessAsUser.All offline_access"
# Renew this long before the authority's expiry, so that no request leaves with a dying token.
_EXPIRY_MARGIN_S = 300
_TOKEN_TIMEOUT_S = 30.0
_AADSTS = re.compile(r"\bAADSTS\d+\b")
_APP_REFUSED = {"invalid_client", "unauthorized_client"}


class RefreshTokenRefused(PermanentError):
    """AUTH_FAILED from the token endpoint with the secrets already re-read: the connector must not
    refresh and retry again."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.AUTH_FAILED, message)


class _Refused(Exception):
    """The token endpoint's 4xx answer: its error code and AADSTS number, never its description."""

    def __init__(self, error: str, aadsts: str | None) -> None:
        super().__init__(error)
        self.error = error
        self.detail = f"{error}, {aadsts}" if aadsts else error


class DelegatedOAuth2Credentials(OAuth2AuthorizationCodeCredentials):
    """A user's access token for exchangelib; `renew` (DelegatedTokens) gets the next one.

    With no client secret given, exchangelib's OAuth session never refreshes on its own: an
    expired token raises TokenExpiredError, and exchangelib calls refresh(), as its documentation
    intends for applications that refresh tokens themselves.
    """

    def __init__(self, *, client_id: str, tenant_id: str | None, user: str,
                 renew: Callable[[], dict[str, Any]]) -> None:
        super().__init__(client_id=client_id, client_secret=None, tenant_id=tenant_id)
        self.user = user
        self._renew = renew

    def session_params(self) -> dict[str, Any]:
        with self.lock:
            token: dict[str, Any] | None = self.access_token  # type: ignore[has-type]
            if token is None or float(token.get("expires_at", 0)) <= time.time():
                self.access_token = self._renew()
        params: dict[str, Any] = super().session_params()
        return params

    def refresh(self, session: Any) -> None:
        self.access_token = self._renew()

    # Stable identity (exchangelib caches protocols by credentials): the app and the user, never
    # the token or the lazily built oauthlib client, which would change the hash under the cache.
    def __eq__(self, other: object) -> bool:
        return isinstance(other, DelegatedOAuth2Credentials) and self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    def _identity(self) -> tuple[str, str | None, str]:
        return (self.client_id, self.tenant_id, self.user)

    def __repr__(self) -> str:
        return f"DelegatedOAuth2Credentials({self.client_id!r}, user={self.user!r}, [access_token])"

    def __str__(self) -> str:
        return f"{self.client_id} as {self.user}"


class DelegatedTokens:
    """Redeems users' refresh tokens and keeps the rotated ones; one per connector, thread-safe."""

    def __init__(
        self,
        secrets: SecretSource,
        *,
        timeout_s: float = _TOKEN_TIMEOUT_S,
        connect_timeout_s: float | None = None,
    ) -> None:
        self._secrets = secrets
        # requests' (connect, read) form when a connect timeout is set: an unreachable authority
        # fails in seconds.
        self._timeout = http_timeout(connect_timeout_s, timeout_s)
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        # A rotated refresh token whose write-back failed: the only valid one, kept for the next try.
        self._unsaved: dict[str, str] = {}

    def credentials(
        self, settings: IntegrationSettings, secret_name: str, mailbox: str
    ) -> DelegatedOAuth2Credentials:
        """exchangelib credentials acting as `mailbox`; the first token is fetched on first use."""
        app = self._app(settings)
        return DelegatedOAuth2Credentials(
            client_id=app.client_id or "",
            tenant_id=app.tenant_id or settings.oauth_tenant_id,
            user=mailbox,
            renew=lambda: self.access_token(settings, secret_name, mailbox),
        )

    def access_token(self, settings: IntegrationSettings, secret_name: str, mailbox: str) -> dict[str, Any]:
        """A fresh access token for `mailbox` (an oauthlib token dict); the rotated refresh token
        is written back to `secret_name`. RefreshTokenRefused when no refresh token is accepted."""
        with self._lock_for(secret_name):
            tried: list[str] = []
            refused: _Refused | None = None
            for token in self._candidates(secret_name):
                if token in tried:
                    continue
                tried.append(token)
                try:
                    answer = self._redeem(settings, token)
                except _Refused as failure:
                    refused = failure
                    self._unsaved.pop(secret_name, None)
                    continue
                self._keep(settings, secret_name, token, answer)
                return _oauth_token(answer)
        if not tried:
            raise PermanentError(ErrorCode.INVALID_INTEGRATION,
                                 f"secret {secret_name} needs refresh_token for oauth2_delegated")
        # The mailbox is named for the job record; this module's own logs carry the integration only.
        detail = refused.detail if refused else "invalid_grant"
        if refused is None or refused.error == "invalid_grant":
            raise RefreshTokenRefused(
                f"the refresh token for {mailbox} was refused ({detail}): it was revoked or has expired,"
                " and the user must connect their mailbox again"
            )
        raise RefreshTokenRefused(f"the token endpoint refused the refresh token for {mailbox} ({detail})")

    # Internals -----------------------------------------------------------------------------------

    def _lock_for(self, secret_name: str) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(secret_name, threading.Lock())

    def _candidates(self, secret_name: str) -> Iterator[str]:
        """Refresh tokens to try, newest knowledge last: an unsaved one, the cached secret's, a re-read's."""
        pending = self._unsaved.get(secret_name)
        if pending:
            yield pending
        for refresh in (False, True):
            token = self._secrets.get(secret_name, refresh=refresh).refresh_token
            if token:
                yield token

    def _app(self, settings: IntegrationSettings, *, refresh: bool = False) -> ExchangeSecret:
        name = settings.secret_name or ""
        app = self._secrets.get(name, refresh=refresh)
        if not (app.client_id and app.client_secret):
            raise PermanentError(ErrorCode.INVALID_INTEGRATION,
                                 f"secret {name} needs client_id and client_secret for oauth2_delegated")
        return app

    def _redeem(self, settings: IntegrationSettings, refresh_token: str) -> dict[str, Any]:
        """One grant_type=refresh_token request; a refused app registration is re-read once."""
        app = self._app(settings)
        try:
            return self._post(settings, app, refresh_token)
        except _Refused as failure:
            if failure.error not in _APP_REFUSED:
                raise
            refused = failure
        reread = self._app(settings, refresh=True)
        if reread.fingerprint != app.fingerprint:
            try:
                return self._post(settings, reread, refresh_token)
            except _Refused as again:
                if again.error not in _APP_REFUSED:
                    raise
                refused = again
        raise RefreshTokenRefused(
            f"the token endpoint refused the app registration in secret {settings.secret_name} "
            f"({refused.detail})"
        )

    def _post(self, settings: IntegrationSettings, app: ExchangeSecret, refresh_token: str) -> dict[str, Any]:
        url = token_url(settings.oauth_authority, app.tenant_id or settings.oauth_tenant_id)
        form = {
            "grant_type": "refresh_token",
            "client_id": app.client_id or "",
            "client_secret": app.client_secret or "",
            "refresh_token": refresh_token,
            "scope": DELEGATED_SCOPE,
        }
        try:
            with requests.Session() as session:
                session.mount("https://", Tls12Adapter())
                # verify per request: a session's own verify loses to REQUESTS_CA_BUNDLE.
                reply = session.post(url, data=form, timeout=self._timeout, verify=settings.verify_tls,
                                     headers={"Accept": "application/json"})
        except requests.RequestException as exc:
            mapped = to_pipeline_error(exc, "token request")
            raise (mapped or RetryableError(ErrorCode.EWS_UNAVAILABLE, "token request failed")) from None
        if reply.status_code == 200:
            answer = _json(reply)
            if answer and answer.get("access_token"):
                return answer
            raise RetryableError(ErrorCode.EWS_UNAVAILABLE, "token request: no access token in the answer")
        if reply.status_code == 429 or reply.status_code >= 500:
            retry_after = reply.headers.get("Retry-After", "")
            delay = int(retry_after) * 1000 if retry_after.isdigit() else None
            code = ErrorCode.SERVER_BUSY if reply.status_code == 429 else ErrorCode.EWS_UNAVAILABLE
            raise RetryableError(code, f"token request: HTTP {reply.status_code}", delay)
        body = _json(reply) or {}
        found = _AADSTS.search(str(body.get("error_description", "")))
        error = str(body.get("error") or f"HTTP {reply.status_code}")
        raise _Refused(error, found.group(0) if found else None)

    def _keep(
        self, settings: IntegrationSettings, secret_name: str, used: str, answer: dict[str, Any]
    ) -> None:
        """Write the rotated refresh token back; if that fails, keep it here for the next redemption."""
        rotated = answer.get("refresh_token")
        if not isinstance(rotated, str) or not rotated or rotated == used:
            self._unsaved.pop(secret_name, None)
            return
        try:
            self._secrets.update(secret_name, {"refresh_token": rotated})
        except PipelineError as failure:
            self._unsaved[secret_name] = rotated
            log.warning(
                "integration %s: a rotated refresh token was not saved (%s); kept in memory for now",
                settings.integration_id, failure.code,
            )
            return
        self._unsaved.pop(secret_name, None)


def _json(reply: requests.Response) -> dict[str, Any] | None:
    try:
        body = reply.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _oauth_token(answer: dict[str, Any]) -> dict[str, Any]:
    """What exchangelib's OAuth session needs: the access token and when to stop using it."""
    lifetime = int(answer.get("expires_in") or 3600)
    return {
        "access_token": answer["access_token"],
        "token_type": answer.get("token_type", "Bearer"),
        "expires_in": lifetime,
        "expires_at": time.time() + max(lifetime - _EXPIRY_MARGIN_S, lifetime // 2),
    }
