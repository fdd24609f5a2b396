"""A Lambda HTTP function on a local port: real HTTP requests in, HTTP API (v2) events out.

Exchange (or the simulator) POSTs to it exactly as it would to the deployed function URL, and the
same lambda_handler answers; the demo and the callback tests both serve handlers.callbacks this way.
GETs are passed on too (the callback function's connectivity check is one).
"""

from __future__ import annotations

import base64
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LambdaHttpHandler = Callable[[dict[str, Any], Any], dict[str, Any]]

__all__ = ["LambdaHttpBridge", "LocalLambdaContext", "http_api_event"]


class LocalLambdaContext:
    """The few LambdaContext attributes Powertools reads."""

    function_name = "ews-pipeline-local"
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:ews-pipeline-local"
    aws_request_id = "local"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


def http_api_event(method: str, path: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """An API Gateway HTTP API / function URL event (payload format 2.0); a query string in
    `path` goes to rawQueryString and queryStringParameters, as API Gateway splits it."""
    path, _, query = path.partition("?")
    parameters = {name: ",".join(values) for name, values in
                  urllib.parse.parse_qs(query, keep_blank_values=True).items()}
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        **({"queryStringParameters": parameters} if parameters else {}),
        "headers": {name.lower(): value for name, value in headers.items()},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": headers.get("User-Agent", "")},
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Jan/2030:00:00:00 +0000",
            "timeEpoch": 1893456000000,
        },
        "body": base64.b64encode(body).decode("ascii"),
        "isBase64Encoded": True,
    }


class LambdaHttpBridge:
    """Serves `handler` on 127.0.0.1. `down = True` answers 503 without calling it (an outage)."""

    def __init__(self, handler: LambdaHttpHandler) -> None:
        self.down = False
        self.responses: list[tuple[str, int]] = []  # (path, status) of every request
        bridge = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self._relay("POST")

            def do_GET(self) -> None:
                self._relay("GET")

            def _relay(self, method: str) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, headers, payload = bridge._answer(method, self.path, dict(self.headers.items()), body)
                bridge.responses.append((self.path, status))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: callers report what matters to them."""

        self._handler = handler
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def _answer(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        if self.down:
            return 503, {"Content-Type": "text/plain"}, b"down"
        answer = self._handler(http_api_event(method, path, headers, body), LocalLambdaContext())
        raw = answer.get("body") or ""
        payload = base64.b64decode(raw) if answer.get("isBase64Encoded") else str(raw).encode()
        return int(answer.get("statusCode", 500)), dict(answer.get("headers") or {}), payload

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        """POST as a caller would; returns (status, body)."""
        request = urllib.request.Request(self.base_url + path, data=body, method="POST",
                                         headers={"Content-Type": "text/xml; charset=utf-8"})
        status, _, payload = self._send(request)
        return status, payload

    def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        """GET as a browser or curl on the Exchange server would; returns (status, headers, body)."""
        return self._send(urllib.request.Request(self.base_url + path, method="GET"))

    @staticmethod
    def _send(request: urllib.request.Request) -> tuple[int, dict[str, str], bytes]:
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return int(response.status), dict(response.headers.items()), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers.items()), error.read()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
