"""moto's WSGI application behind a lean HTTP/1.1 server that keeps connections open.

`python -m moto.server` serves moto through werkzeug's development server, which closes every
connection after one answer (so each boto3 call opens a new TCP connection and the server starts
a thread for it), waits 10 ms after each answer for request bytes to discard, logs every request,
and matches each request's host against every service's URL patterns to find its backend. In
the chaos benchmark's moto processes that was about half of each call's CPU. This server keeps
connections alive (each answer has a Content-Length), answers in one write with TCP_NODELAY,
logs nothing per request, and remembers which backend a host names; the application, every
service's behaviour and the wire format are moto's own (moto.moto_server.werkzeug_app).

    serve("127.0.0.1", 5000)   # until the process is stopped
"""

from __future__ import annotations

import functools
import io
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = ["KeepAliveServer", "serve", "wsgi_application"]

# Connections waiting to be accepted; a burst of new boto3 clients must not be refused.
LISTEN_BACKLOG = 256


def wsgi_application() -> Any:
    """moto's server application (every service, dispatched by host and signature), with the
    host -> backend lookup, a scan of every service's URL patterns, remembered per host."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    application = DomainDispatcherApplication(create_backend_app)
    lookup = application.get_backend_for_host
    application.get_backend_for_host = functools.lru_cache(maxsize=1024)(lookup)  # type: ignore[method-assign]
    return application


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: KeepAliveServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def handle_one_request(self) -> None:
        try:
            self.raw_requestline = self.rfile.readline(65537)
            if not self.raw_requestline or len(self.raw_requestline) > 65536:
                self.close_connection = True
                return
            if not self.parse_request():
                return
            self._answer()
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    def _answer(self) -> None:
        if self.headers.get("Expect", "").lower() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = self._body()
        status_headers: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status_headers[:] = [status, headers]
            return lambda data: chunks.append(data)

        chunks: list[bytes] = []
        result = self.server.app(self._environ(body), start_response)
        try:
            chunks.extend(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        status, headers = status_headers
        payload = b"".join(chunks)
        lines = [f"HTTP/1.1 {status}"]
        lines += [f"{name}: {value}" for name, value in headers
                  if name.lower() not in ("connection", "content-length", "transfer-encoding")]
        lines.append(f"Content-Length: {len(payload)}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head if self.command == "HEAD" else head + payload)
        self.wfile.flush()

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(parts)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _environ(self, body: bytes) -> dict[str, Any]:
        from moto.core.request import PRESERVED_HEADER_NAMES_ENVIRON_KEY

        url = urlsplit(self.path)
        host, port = self.server.server_address[:2]
        environ: dict[str, Any] = {
            "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr, "wsgi.multithread": True, "wsgi.multiprocess": False,
            "wsgi.run_once": False, "SERVER_SOFTWARE": "ews-pipeline-moto",
            "REQUEST_METHOD": self.command, "SCRIPT_NAME": "",
            "PATH_INFO": unquote(url.path, "latin-1"), "QUERY_STRING": url.query,
            "REQUEST_URI": self.path, "RAW_URI": self.path,
            "REMOTE_ADDR": self.client_address[0], "REMOTE_PORT": self.client_address[1],
            "SERVER_NAME": str(host), "SERVER_PORT": str(port), "SERVER_PROTOCOL": self.request_version,
            "CONTENT_LENGTH": str(len(body)), PRESERVED_HEADER_NAMES_ENVIRON_KEY: {},
        }
        for name, value in self.headers.items():
            key = name.upper().replace("-", "_")
            value = value.replace("\r\n", "")
            if key == "CONTENT_LENGTH" or key == "TRANSFER_ENCODING":
                continue
            if key != "CONTENT_TYPE":
                key = f"HTTP_{key}"
                if key in environ:
                    value = f"{environ[key]},{value}"
            if "_" in name:
                environ[PRESERVED_HEADER_NAMES_ENVIRON_KEY][key] = name
            environ[key] = value
        if url.scheme and url.netloc:
            environ["HTTP_HOST"] = url.netloc
        return environ


class KeepAliveServer(ThreadingHTTPServer):
    """A thread per connection, connections kept open between requests."""

    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG

    def __init__(self, address: tuple[str, int], app: Any) -> None:
        super().__init__(address, _Handler)
        self.app = app


def serve(host: str, port: int) -> None:
    """Serve moto on host:port until the process is stopped."""
    server = KeepAliveServer((host, port), wsgi_application())
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()
