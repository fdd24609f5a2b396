"""Who is calling: Basic, NTLM (a real handshake, pyspnego as acceptor) and OAuth 2.0 bearer tokens.

NTLM authenticates a TCP connection, not a request: the HTTP handler keeps one NtlmHandshake per
connection and, once it completes, the connection's principal (as IIS does). OAuth tokens come
from the simulator's own token endpoint (client-credentials grant) and are app-only.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import tempfile
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import spnego
from spnego.exceptions import SpnegoError

from infra.ewssim.errors import UnauthorizedError
from infra.ewssim.models.backend import EwsBackend
from infra.ewssim.models.directory import AppRegistration, Principal, PrincipalKind

__all__ = [
    "CHALLENGE_HEADERS",
    "Caller",
    "NtlmHandshake",
    "OAuthError",
    "TokenIssuer",
    "app_principal",
    "basic_principal",
    "write_ntlm_user_file",
]

# Every scheme the simulator accepts, as separate WWW-Authenticate headers like IIS sends them.
CHALLENGE_HEADERS = ('Basic realm="ewssim"', "NTLM", 'Bearer authorization_uri="ewssim"')
TOKEN_LIFETIME = timedelta(seconds=3599)


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: a mailbox logon, or an OAuth app acting app-only."""

    principal: Principal
    app: AppRegistration | None = None

    @property
    def app_only(self) -> bool:
        return self.app is not None


def basic_principal(backend: EwsBackend, value: str) -> Principal:
    """The principal for a Basic credential, or UnauthorizedError."""
    try:
        user, _, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise UnauthorizedError("malformed Basic credentials") from exc
    principal = backend.directory.by_login(user)
    # compare_digest: a simulator, but no reason to teach timing-unsafe habits.
    if (
        principal is None
        or not principal.password
        or not secrets.compare_digest(principal.password, password)
    ):
        raise UnauthorizedError("wrong user name or password")
    return principal


def app_principal(app: AppRegistration) -> Principal:
    """A stand-in principal for an app; it owns no mailbox, so it is not in the directory."""
    return Principal(
        smtp=f"{app.client_id}@app.ewssim.invalid",
        display_name=f"app {app.client_id}",
        kind=PrincipalKind.SERVICE,
        can_impersonate=app.full_access,
    )


# NTLM ------------------------------------------------------------------------------------------

_USER_FILE_LOCK = threading.Lock()


def write_ntlm_user_file(backend: EwsBackend, path: Path) -> Path:
    """Write the directory's logons as DOMAIN:USER:PASSWORD lines and point NTLM_USER_FILE at them.

    pyspnego's acceptor reads the process-wide NTLM_USER_FILE at the handshake's last step, so
    one NTLM-serving simulator per process is what this supports.
    """
    lines: set[str] = set()
    for principal in list(backend.directory.principals.values()):
        password = principal.password
        local = principal.smtp.split("@")[0]
        users = {principal.smtp, principal.username, local}
        if not password or ":" in password or any(":" in u for u in users):
            continue  # the file format cannot express these; such logons fail NTLM like a bad password
        lines.update(f":{user}:{password}" for user in users)
        if principal.domain:
            lines.update(f"{principal.domain}:{user}:{password}" for user in (local, principal.username))
    with _USER_FILE_LOCK:
        temporary = path.with_suffix(".tmp")
        temporary.write_text("\n".join(sorted(lines)) + "\n", encoding="utf-8")
        temporary.chmod(0o600)
        os.replace(temporary, path)
        os.environ["NTLM_USER_FILE"] = str(path)
    return path


def default_user_file() -> Path:
    return Path(tempfile.mkdtemp(prefix="ewssim-ntlm-")) / "ntlm-users"


class NtlmHandshake:
    """One connection's NTLM exchange: NEGOTIATE -> CHALLENGE -> AUTHENTICATE."""

    def __init__(self, backend: EwsBackend, user_file: Path) -> None:
        self._backend = backend
        self._user_file = user_file
        self._context: spnego.ContextProxy | None = None

    def step(self, token_b64: str) -> tuple[str | None, Principal | None]:
        """Feed one client token; returns (challenge to send, None) or (None, authenticated principal)."""
        try:
            token = base64.b64decode(token_b64, validate=True)
        except binascii.Error as exc:
            raise UnauthorizedError("malformed NTLM token") from exc
        # Message type 1 (NEGOTIATE) starts a new handshake, even on a connection that had one.
        if self._context is None or token[8:12] == b"\x01\x00\x00\x00":
            write_ntlm_user_file(self._backend, self._user_file)
            self._context = spnego.server(protocol="ntlm")
        try:
            out = self._context.step(token)
        except SpnegoError as exc:
            self._context = None
            raise UnauthorizedError("NTLM authentication failed") from exc
        if not self._context.complete:
            return base64.b64encode(out or b"").decode(), None
        name = self._context.client_principal or ""
        self._context = None
        principal = self._backend.directory.by_login(name)
        if principal is None:
            raise UnauthorizedError(f"no mailbox for NTLM user {name}")
        return None, principal


# OAuth 2.0 -------------------------------------------------------------------------------------


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


class TokenIssuer:
    """The simulator's Azure AD: client-credentials grant for seeded app registrations."""

    def __init__(self, backend: EwsBackend) -> None:
        self._backend = backend
        self._tokens: dict[str, _Token] = {}
        self._lock = threading.Lock()

    def issue(self, tenant: str, form: dict[str, str], basic: tuple[str, str] | None) -> dict[str, object]:
        """Answer a token request; client id and secret come from the form or HTTP Basic."""
        if form.get("grant_type") != "client_credentials":
            raise OAuthError(
                400, "unsupported_grant_type", "AADSTS70003: only client_credentials is supported."
            )
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
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = _Token(app, self._backend.clock.now() + TOKEN_LIFETIME)
        seconds = int(TOKEN_LIFETIME.total_seconds())
        return {
            "token_type": "Bearer",
            "expires_in": seconds,
            "ext_expires_in": seconds,
            "access_token": token,
        }

    def app_for(self, token: str) -> AppRegistration:
        """The app a bearer token was issued to, or UnauthorizedError if unknown or expired."""
        with self._lock:
            found = self._tokens.get(token)
        if found is None:
            raise UnauthorizedError("unknown bearer token")
        if found.expires <= self._backend.clock.now():
            raise UnauthorizedError("expired bearer token")
        if self._backend.directory.apps.get(found.app.client_id) != found.app:
            raise UnauthorizedError("the app registration was removed")
        return found.app

    def reset(self) -> None:
        with self._lock:
            self._tokens.clear()
