"""The simulator's Azure AD: a token endpoint for seeded app registrations, and bearer tokens.

Two grants, as login.microsoftonline.com's v2.0 endpoint answers them:

- client_credentials: an app-only token (the app acts through impersonation);
- refresh_token: a delegated token acting as the user the refresh token was issued for, plus a
  new refresh token. Rotation is strict here: a refresh token works once (Azure AD keeps old
  ones valid until they expire; the stricter rule is what catches a client that loses the new
  one). Refresh tokens are issued through the control API (`issue_refresh_token`), standing in
  for the upstream app's consent flow, and `revoke` ends all of a user's tokens, refresh and
  access alike (revokeSignInSessions, with continuous access evaluation on Exchange Online).
"""

from __future__ import annotations

import secrets
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from infra.ewssim.auth import Caller, app_principal
from infra.ewssim.errors import UnauthorizedError
from infra.ewssim.models.backend import EwsBackend
from infra.ewssim.models.directory import AppRegistration

__all__ = [
    "DELEGATED_SCOPE",
    "EWS_AUDIENCE",
    "GRAPH_AUDIENCE",
    "GRAPH_SCOPE",
    "TOKEN_LIFETIME",
    "OAuthError",
    "TokenIssuer",
    "openid_configuration",
]

TOKEN_LIFETIME = timedelta(seconds=3599)
DELEGATED_SCOPE = "https://outlook.office365.com/EWS.AccessAsUser.All"
_GRANTS = ("client_credentials", "refresh_token")
# A token's audience (the resource it was issued for), picked by the scope asked for: Graph for
# https://graph.microsoft.com/.default (or a delegated Graph scope), EWS otherwise. A token for one
# audience is refused by the other (401), as Exchange Online refuses a Graph token on EWS.
EWS_AUDIENCE = "https://outlook.office365.com"
GRAPH_AUDIENCE = "https://graph.microsoft.com"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
_MALFORMED = "AADSTS9002313: Invalid request. Request is malformed or invalid."


class OAuthError(Exception):
    """A token request the endpoint refuses, rendered as Azure AD's JSON error body."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.status = status
        self.error = error
        self.description = description


@dataclass(frozen=True)
class _Token:
    app: AppRegistration
    expires: datetime
    # Delegated tokens act as this user (an SMTP address); app-only tokens have none.
    user: str | None = None
    audience: str = EWS_AUDIENCE


def _audience(scope: str) -> str:
    """The resource a token request's scope names (space-separated scopes, as OAuth sends them)."""
    wanted = scope.split()
    return GRAPH_AUDIENCE if any(s.lower().startswith(GRAPH_AUDIENCE) for s in wanted) else EWS_AUDIENCE


@dataclass(frozen=True)
class _RefreshGrant:
    client_id: str
    user: str


class TokenIssuer:
    """Issues and checks the tokens; counts token requests per grant and outcome."""

    def __init__(self, backend: EwsBackend) -> None:
        self._backend = backend
        self._tokens: dict[str, _Token] = {}
        self._refresh: dict[str, _RefreshGrant] = {}
        # Why a refresh token no longer works, for Azure AD's distinct answers.
        self._spent: dict[str, str] = {}
        self._counts: Counter[str] = Counter()
        # Every token handed out since the last reset, for tests that search logs for leaks.
        self._issued: list[str] = []
        self._lock = threading.Lock()
        # How long an access token lives (tests shorten it to watch clients refresh early).
        self.lifetime = TOKEN_LIFETIME

    # The token endpoint -------------------------------------------------------------------------

    def issue(self, tenant: str, form: dict[str, str], basic: tuple[str, str] | None) -> dict[str, object]:
        """Answer a token request; client id and secret come from the form or HTTP Basic."""
        grant = form.get("grant_type", "")
        try:
            if grant not in _GRANTS:
                raise OAuthError(
                    400, "unsupported_grant_type",
                    "AADSTS70003: only client_credentials and refresh_token are supported.",
                )
            app = self._client(tenant, form, basic)
            if grant == "client_credentials":
                answer = self._answer(app, None, _audience(form.get("scope", "")))
            else:
                answer = self._redeem(app, form.get("refresh_token", ""), form.get("scope", ""))
        except OAuthError as refused:
            with self._lock:
                self._counts[f"{grant}:{refused.error}"] += 1
            raise
        with self._lock:
            self._counts[grant] += 1
        return answer

    def _client(self, tenant: str, form: dict[str, str], basic: tuple[str, str] | None) -> AppRegistration:
        client_id, client_secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
        app = self._backend.directory.apps.get(client_id)
        if app is None:
            raise OAuthError(400, "unauthorized_client", f"AADSTS700016: Application {client_id} not found.")
        if app.tenant_id != tenant:
            raise OAuthError(
                400, "invalid_request", f"AADSTS90002: Tenant '{tenant}' not found for this app."
            )
        if not secrets.compare_digest(app.client_secret, client_secret):
            raise OAuthError(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
        return app

    def _redeem(self, app: AppRegistration, refresh_token: str, scope: str) -> dict[str, object]:
        with self._lock:
            grant = self._refresh.get(refresh_token)
            if grant is None:
                why = self._spent.get(refresh_token, _MALFORMED)
                raise OAuthError(400, "invalid_grant", why)
            if grant.client_id != app.client_id:
                raise OAuthError(
                    400, "invalid_grant", "AADSTS70000: The refresh token was issued to a different client."
                )
            if self._backend.directory.find(grant.user) is None:
                raise OAuthError(400, "invalid_grant", "AADSTS50034: The user account does not exist.")
            del self._refresh[refresh_token]
            self._spent[refresh_token] = "AADSTS70000: The refresh token has already been redeemed."
            rotated = secrets.token_urlsafe(32)
            self._refresh[rotated] = grant
            self._issued.append(rotated)
        answer = self._answer(app, grant.user, _audience(scope))
        return {**answer, "scope": scope or DELEGATED_SCOPE, "refresh_token": rotated}

    def _answer(
        self, app: AppRegistration, user: str | None, audience: str = EWS_AUDIENCE
    ) -> dict[str, object]:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = _Token(app, self._backend.clock.now() + self.lifetime, user, audience)
            self._issued.append(token)
        seconds = int(self.lifetime.total_seconds())
        return {
            "token_type": "Bearer", "expires_in": seconds, "ext_expires_in": seconds, "access_token": token,
        }

    # Control ------------------------------------------------------------------------------------

    def issue_refresh_token(self, client_id: str, smtp: str) -> str:
        """A refresh token for `smtp` issued to app `client_id`, as the upstream app's consent would give."""
        if client_id not in self._backend.directory.apps:
            raise KeyError(f"no app registration {client_id}")
        user = self._backend.directory.get(smtp).smtp
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._refresh[token] = _RefreshGrant(client_id, user)
            self._issued.append(token)
        return token

    def revoke(self, smtp: str) -> int:
        """End every refresh and access token of this user; returns how many refresh tokens ended."""
        user = smtp.lower()
        with self._lock:
            ended = [t for t, grant in self._refresh.items() if grant.user == user]
            for token in ended:
                del self._refresh[token]
                self._spent[token] = "AADSTS50173: The provided grant has expired due to it being revoked."
            for token in [t for t, found in self._tokens.items() if found.user == user]:
                del self._tokens[token]
        return len(ended)

    def revoke_app(self, client_id: str) -> int:
        """End every access token issued to app `client_id` (as a disabled or rotated app's end);
        returns how many ended. A client holding one gets 401 and must ask for a new token."""
        with self._lock:
            ended = [t for t, found in self._tokens.items() if found.app.client_id == client_id]
            for token in ended:
                del self._tokens[token]
        return len(ended)

    def issued(self) -> list[str]:
        """Every access and refresh token issued since the last reset (to search logs for them)."""
        with self._lock:
            return list(self._issued)

    def counts(self) -> dict[str, int]:
        """Token requests since the last reset: "refresh_token", "refresh_token:invalid_grant", ..."""
        with self._lock:
            return dict(self._counts)

    # Bearer tokens ------------------------------------------------------------------------------

    def caller_for(self, token: str, audience: str = EWS_AUDIENCE) -> Caller:
        """Who a bearer token acts as, or UnauthorizedError if it is unknown, expired, revoked or
        issued for another audience (a Graph token on EWS, an EWS token on Graph)."""
        with self._lock:
            found = self._tokens.get(token)
        if found is None:
            raise UnauthorizedError("unknown bearer token")
        if found.audience != audience:
            raise UnauthorizedError("the token was issued for another audience")
        if found.expires <= self._backend.clock.now():
            raise UnauthorizedError("expired bearer token")
        if self._backend.directory.apps.get(found.app.client_id) != found.app:
            raise UnauthorizedError("the app registration was removed")
        if found.user is None:
            return Caller(app_principal(found.app), found.app)
        principal = self._backend.directory.find(found.user)
        if principal is None:
            raise UnauthorizedError("the token's user no longer exists")
        return Caller(principal)

    def app_for(self, token: str) -> AppRegistration | None:
        """The app a token (app-only or delegated) was issued to; None for an unknown token."""
        with self._lock:
            found = self._tokens.get(token)
        return found.app if found is not None else None

    def reset(self) -> None:
        with self._lock:
            self._tokens.clear()
            self._refresh.clear()
            self._spent.clear()
            self._counts.clear()
            self._issued.clear()
            self.lifetime = TOKEN_LIFETIME


def openid_configuration(base_url: str, tenant: str) -> dict[str, object]:
    """The tenant's OpenID Connect discovery document, as login.microsoftonline.com serves it at
    /{tenant}/v2.0/.well-known/openid-configuration; msal reads token_endpoint from it."""
    root = f"{base_url}/{tenant}"
    return {
        "token_endpoint": f"{root}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "jwks_uri": f"{base_url}/{tenant}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": f"{root}/v2.0",
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": f"{base_url}/oidc/userinfo",
        "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "tid", "oid", "roles"],
        "tenant_region_scope": "EU",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
    }
