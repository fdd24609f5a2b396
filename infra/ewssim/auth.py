"""Who is calling: Basic and NTLM (a real handshake, pyspnego as acceptor); OAuth is in oauth.py.

NTLM authenticates a TCP connection, not a request: the HTTP handler keeps one NtlmHandshake per
connection and, once it completes, the connection's principal (as IIS does). The logon name a
client presented (`basic_login_name`, `ntlm_login_name`) goes to the request log, never a password.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import struct
import tempfile
import threading
from dataclasses import dataclass
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
    "app_principal",
    "basic_login_name",
    "basic_principal",
    "ntlm_login_name",
    "write_ntlm_user_file",
]

# Every scheme the simulator accepts, as separate WWW-Authenticate headers like IIS sends them.
CHALLENGE_HEADERS = ('Basic realm="ewssim"', "NTLM", 'Bearer authorization_uri="ewssim"')


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: a mailbox logon (a delegated OAuth token is one too), or an OAuth
    app acting app-only."""

    principal: Principal
    app: AppRegistration | None = None

    @property
    def app_only(self) -> bool:
        return self.app is not None


def basic_login_name(value: str) -> str:
    """The user name in a Basic credential ("" when it is malformed)."""
    try:
        return base64.b64decode(value, validate=True).decode("utf-8").partition(":")[0]
    except (binascii.Error, UnicodeDecodeError):
        return ""


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
        if not (principal.domain_logon_only and principal.domain):
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


def ntlm_login_name(token_b64: str) -> str | None:
    """DOMAIN\\user (or user) from an NTLM AUTHENTICATE message; None for any other message."""
    try:
        token = base64.b64decode(token_b64, validate=True)
    except binascii.Error:
        return None
    if len(token) < 64 or token[:12] != b"NTLMSSP\x00\x03\x00\x00\x00":
        return None
    unicode = int.from_bytes(token[60:64], "little") & 0x1  # NTLMSSP_NEGOTIATE_UNICODE

    def field(at: int) -> str:  # MS-NLMP 2.2.1.3: length, max length, offset
        length, _, offset = struct.unpack_from("<HHI", token, at)
        return token[offset : offset + length].decode("utf-16-le" if unicode else "latin-1", "replace")

    domain, user = field(28), field(36)
    return f"{domain}\\{user}" if domain else user


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
