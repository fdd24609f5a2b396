"""The HTTP front: routes, authentication per connection, TLS, and response writing.

One EwsRequestHandler instance serves one TCP connection for its whole keep-alive life, which is
what lets NTLM authenticate a connection rather than each request, as IIS does.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import socketserver
import ssl
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from infra.ewssim.auth import (
    CHALLENGE_HEADERS,
    Caller,
    NtlmHandshake,
    basic_login_name,
    basic_principal,
    ntlm_login_name,
)
from infra.ewssim.autodiscover import AUTODISCOVER_PATH, AutodiscoverFault, handle_get_user_settings
from infra.ewssim.control import CONTROL_PREFIX, handle_control
from infra.ewssim.errors import UnauthorizedError
from infra.ewssim.models.directory import Principal
from infra.ewssim.oauth import OAuthError, openid_configuration
from infra.ewssim.request_log import LogonRecord

if TYPE_CHECKING:
    from infra.ewssim.server import EwsSimulator

log = logging.getLogger(__name__)

EWS_PATH = "/ews/exchange.asmx"
_TOKEN_PATH = re.compile(r"^/([^/]+)/oauth2/(?:v2\.0/)?token$")
_OPENID_PATH = re.compile(r"^/([^/]+)/v2\.0/\.well-known/openid-configuration$")
# Every path beneath /v1.0/ is Microsoft Graph (infra/graphsim), served over the same backend.
GRAPH_PREFIX = "/v1.0/"
_XML = "text/xml; charset=utf-8"
_JSON = "application/json"


class EwsRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: EwsHttpServer
    # Headers and body leave in one write (buffered wfile, flushed per request) and without
    # Nagle's delay, so that keep-alive clients never wait on a delayed ACK.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True

    def setup(self) -> None:
        context = self.server.ssl_context
        if context is not None:
            # The TLS handshake runs here, in the connection's thread, not in the accept loop.
            self.request = context.wrap_socket(self.request, server_side=True)
        super().setup()
        self._ntlm: NtlmHandshake | None = None
        self._connection_principal: Principal | None = None

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    @property
    def simulator(self) -> EwsSimulator:
        return self.server.simulator

    # Routing ----------------------------------------------------------------------------------

    def do_POST(self) -> None:
        payload = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = self.path.split("?")[0]
        lowered = path.lower()
        if path.startswith(GRAPH_PREFIX):
            self._graph("POST", payload)
        elif lowered == EWS_PATH:
            self._ews(payload)
        elif lowered == AUTODISCOVER_PATH:
            self._autodiscover(payload)
        elif path.startswith(CONTROL_PREFIX):
            self._send(*handle_control(self.simulator, "POST", self.path, payload), _JSON)
        elif (match := _TOKEN_PATH.match(path)) is not None:
            self._token(match.group(1), payload)
        else:
            self._send(404, b"Not found", "text/plain")

    def do_GET(self) -> None:
        self._control_only("GET")

    def do_DELETE(self) -> None:
        self._control_only("DELETE")

    def do_PATCH(self) -> None:
        self._control_only("PATCH")

    def _control_only(self, method: str) -> None:
        payload = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = self.path.split("?")[0]
        if path.startswith(GRAPH_PREFIX):
            self._graph(method, payload)
        elif method == "GET" and (match := _OPENID_PATH.match(path)) is not None:
            document = openid_configuration(self.simulator.base_url, match.group(1))
            self._send(200, json.dumps(document).encode(), _JSON)
        elif self.path.startswith(CONTROL_PREFIX):
            self._send(*handle_control(self.simulator, method, self.path, payload), _JSON)
        elif self.path.lower().startswith(EWS_PATH):
            # IIS authenticates before EWS sees the verb: a client may run the NTLM handshake on a GET
            # (@ewsjs/xhr does) and send its request on the authenticated connection. Only then is the
            # verb refused (the simulator serves no service description).
            if self._authenticate() is not None:
                self._send(405, b"", "text/plain", {"Allow": "POST"})
        else:
            self._send(404, b"", "text/plain")

    # Endpoints --------------------------------------------------------------------------------

    def _ews(self, payload: bytes) -> None:
        caller = self._authenticate()
        if caller is None:
            return
        outcome = self.simulator.handle_soap(caller, payload)
        if outcome.delay_s:
            time.sleep(outcome.delay_s)
        if outcome.drop:
            # Close without a byte of response, as a crashed front end or a reset connection would.
            self.close_connection = True
            return
        if outcome.stream is not None:
            self._send_stream(outcome.status, outcome.stream, outcome.content_type)
            return
        self._send(outcome.status, outcome.body, outcome.content_type)

    def _graph(self, method: str, payload: bytes) -> None:
        answer = self.simulator.graph.handle(method, self.path, dict(self.headers.items()), payload)
        if answer.drop:
            self.close_connection = True
            return
        self._send(answer.status, answer.body, answer.content_type, answer.headers)

    def _autodiscover(self, payload: bytes) -> None:
        if self._authenticate() is None:
            return
        try:
            body = handle_get_user_settings(self.simulator.backend, payload, lambda: self.simulator.ews_url)
        except AutodiscoverFault as exc:
            self._send(400, str(exc).encode(), "text/plain")
            return
        self._send(200, body, _XML)

    def _token(self, tenant: str, payload: bytes) -> None:
        form = dict(parse_qsl(payload.decode("utf-8", "replace")))
        basic = None
        scheme, _, value = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _, secret = base64.b64decode(value).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                user = secret = ""
            basic = (user, secret)
        try:
            status, answer = 200, self.simulator.tokens.issue(tenant, form, basic)
        except OAuthError as exc:
            status, answer = exc.status, {"error": exc.error, "error_description": exc.description}
        self._send(status, json.dumps(answer).encode(), _JSON, {"Cache-Control": "no-store"})

    # Authentication ---------------------------------------------------------------------------

    def _authenticate(self) -> Caller | None:
        """The caller, or None after a 401 (a challenge or a refusal) was sent."""
        scheme, _, value = self.headers.get("Authorization", "").partition(" ")
        scheme, value = scheme.lower(), value.strip()
        # The name presented, for the logon log; None where no credential was presented yet.
        login: str | None = None
        try:
            if scheme == "basic":
                login = basic_login_name(value)
                caller = Caller(basic_principal(self.simulator.backend, value))
            elif scheme in ("ntlm", "negotiate"):
                login = ntlm_login_name(value)  # None until the AUTHENTICATE message
                found = self._ntlm_step(scheme, value)
                if found is None:
                    return None
                caller = found
            elif scheme == "bearer":
                login = ""
                caller = self.simulator.tokens.caller_for(value)
                login = caller.principal.smtp
            elif not scheme and self._connection_principal is not None:
                return Caller(self._connection_principal)
            else:
                raise UnauthorizedError("no credentials")
        except UnauthorizedError as exc:
            log.debug("401 for %s: %s", self.path, exc)
            self._log_logon(scheme, login, accepted=False)
            self._ntlm = None
            self._unauthorized()
            return None
        self._log_logon(scheme, login, accepted=True)
        return caller

    def _log_logon(self, scheme: str, login: str | None, *, accepted: bool) -> None:
        if login is not None:
            now = self.simulator.backend.clock.now().isoformat()
            self.simulator.requests.record_logon(LogonRecord(scheme, login, accepted, now))

    def _ntlm_step(self, scheme: str, token: str) -> Caller | None:
        if self._ntlm is None:
            self._ntlm = NtlmHandshake(self.simulator.backend, self.simulator.ntlm_user_file)
        challenge, principal = self._ntlm.step(token)
        if principal is None:
            # Keep the connection: the AUTHENTICATE message must arrive on this same socket.
            self._send(401, b"", "text/plain", [("WWW-Authenticate", f"{scheme.upper()} {challenge}")])
            return None
        self._connection_principal = principal
        return Caller(principal)

    def _unauthorized(self) -> None:
        self._send(401, b"", "text/plain", [("WWW-Authenticate", h) for h in CHALLENGE_HEADERS])

    # Output -----------------------------------------------------------------------------------

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: list[tuple[str, str]] | dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers.items() if isinstance(headers, dict) else headers or []:
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)


    def _send_stream(self, status: int, chunks: Iterator[bytes], content_type: str) -> None:
        """A chunked answer whose chunks leave as the iterator gives them (a streaming connection);
        a client that hangs up ends it."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            self.wfile.flush()
            for chunk in chunks:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            self.close_connection = True
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()


class EwsHttpServer(ThreadingHTTPServer):
    """A thread per connection; daemon threads so that idle keep-alive clients never block shutdown."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], simulator: EwsSimulator, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        super().__init__(address, EwsRequestHandler)
        self.simulator = simulator
        self.ssl_context = ssl_context

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Failed TLS handshakes (a client that does not trust the certificate) and clients that
        # hang up are normal in tests; keep them out of stderr.
        log.debug("connection from %s ended with an error", client_address, exc_info=True)

    def server_bind(self) -> None:
        # HTTPServer.server_bind asks DNS for the host's FQDN, which stalls on an offline machine.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)
