"""The push-callback function on a local port: HTTP requests in, HTTP API (v2) events to Lambda.

The simulator POSTs SendNotification requests here, exactly as Exchange would to the deployed
function URL; the same handlers.callbacks.lambda_handler answers them.
"""

from __future__ import annotations

import base64
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import dramatiq

from handlers import callbacks
from infra.ewssim import EwsSimulator
from infra.ewssim.push import attach as attach_push
from pipeline.enqueue import Enqueue, broker_enqueue
from pipeline.runtime import Runtime


class _LambdaContext:
    function_name = "ews-pipeline-callbacks"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:ews-pipeline-callbacks"
    aws_request_id = "local"


def http_api_event(method: str, path: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """The payload-format-2.0 event API Gateway (or a function URL) would give the function."""
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {key.lower(): value for key, value in headers.items()},
        "requestContext": {"http": {"method": method, "path": path, "sourceIp": "127.0.0.1"},
                           "stage": "$default", "requestId": "local"},
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the demo prints its own report."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        event = http_api_event("POST", self.path, dict(self.headers.items()), body)
        response = callbacks.lambda_handler(event, _LambdaContext())  # type: ignore[arg-type]
        payload = response.get("body") or ""
        data = base64.b64decode(payload) if response.get("isBase64Encoded") else str(payload).encode()
        self.send_response(int(response.get("statusCode", 500)))
        for key, value in (response.get("headers") or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class CallbackServer:
    """Serves handlers.callbacks on 127.0.0.1; records the jobs it enqueued."""

    def __init__(self) -> None:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._enqueued: list[tuple[str, str, str]] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def attach(self, runtime: Runtime, broker: dramatiq.Broker) -> None:
        """Route callbacks to this runtime's store and enqueue onto `broker`."""
        send = broker_enqueue(broker)

        def enqueue(actor_name: str, kwargs: dict[str, Any], *, message_id: str | None = None) -> str:
            sent = send(actor_name, kwargs, message_id=message_id)
            self._enqueued.append((sent, actor_name, str(kwargs.get("integration_id"))))
            return sent

        recording: Enqueue = enqueue
        callbacks.use_dependencies(
            callbacks.CallbackDependencies(store=runtime.store, enqueue=recording, clock=runtime.clock)
        )

    def enqueued_jobs(self) -> list[tuple[str, str, str]]:
        return list(self._enqueued)

    @staticmethod
    def wait_idle(sim: EwsSimulator, timeout: float = 10.0) -> None:
        """Wait until the simulator has delivered every pending push notification."""
        attach_push(sim.backend).wait_idle(timeout)

    def __enter__(self) -> CallbackServer:
        threading.Thread(target=self._httpd.serve_forever, name="callbacks", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        callbacks.use_dependencies(None)
        self._httpd.shutdown()
        self._httpd.server_close()


__all__ = ["CallbackServer", "http_api_event"]
