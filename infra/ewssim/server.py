"""The simulator's HTTP front: EWS SOAP at /EWS/Exchange.asmx, run in a thread or as a command."""

from __future__ import annotations

import base64
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from infra.ewssim.errors import EwsError, RequestFault, UnauthorizedError
from infra.ewssim.models.backend import EwsBackend
from infra.ewssim.models.directory import Principal
from infra.ewssim.responses import OPERATIONS, RequestContext
from infra.ewssim.soap import parse_request, render_fault, render_response

log = logging.getLogger(__name__)

EWS_PATH = "/ews/exchange.asmx"


class EwsRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: EwsHttpServer

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        payload = self.rfile.read(length)
        if self.path.lower().split("?")[0] != EWS_PATH:
            self._send(404, b"Not found", "text/plain")
            return
        try:
            caller = self._authenticate()
        except UnauthorizedError:
            self._send(401, b"", "text/plain", {"WWW-Authenticate": 'Basic realm="ewssim"'})
            return
        status, body = self.server.simulator.handle_soap(caller, payload)
        self._send(status, body, "text/xml; charset=utf-8")

    def _authenticate(self) -> Principal:
        header = self.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "basic":
            user, _, password = base64.b64decode(value).decode().partition(":")
            principal = self.server.simulator.backend.directory.by_login(user)
            if principal is not None and principal.password and principal.password == password:
                return principal
        raise UnauthorizedError()

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)


class EwsHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], simulator: EwsSimulator) -> None:
        super().__init__(address, EwsRequestHandler)
        self.simulator = simulator


class EwsSimulator:
    """A running simulated Exchange: the backend plus an HTTP server in a background thread."""

    def __init__(self, backend: EwsBackend | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.backend = backend or EwsBackend()
        self._httpd = EwsHttpServer((host, port), self)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ews_url(self) -> str:
        return f"{self.base_url}/EWS/Exchange.asmx"

    def start(self) -> EwsSimulator:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="ewssim", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> EwsSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def handle_soap(self, caller: Principal, payload: bytes) -> tuple[int, bytes]:
        """Run one EWS request for an authenticated caller; returns (HTTP status, body)."""
        try:
            request = parse_request(payload)
            handler = OPERATIONS.get(request.operation)
            if handler is None:
                raise RequestFault(
                    "ErrorInvalidRequest", f"The operation {request.operation} is not supported by ewssim."
                )
            impersonated = None
            if request.impersonate_smtp or request.impersonate_sid:
                if not caller.can_impersonate:
                    raise RequestFault(
                        "ErrorImpersonateUserDenied", "The account does not have permission to impersonate."
                    )
                target = request.impersonate_smtp or request.impersonate_sid or ""
                impersonated = self.backend.directory.find(target) or self.backend.directory.by_login(target)
                if impersonated is None:
                    raise RequestFault("ErrorNonExistentMailbox", f"No mailbox with address {target}.")
            context = RequestContext(self.backend, caller, impersonated, request.request_version)
            return 200, render_response(handler(context, request.body))
        except EwsError as failure:
            return 500, render_fault(failure)
