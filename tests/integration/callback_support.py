"""The push callback Lambda behind a real HTTP server, so the simulator can POST to it.

Each POST becomes an HTTP API (payload format 2.0) event for handlers.callbacks.lambda_handler,
run on the test's store, an in-memory queue and the simulator's clock.
"""

from __future__ import annotations

import base64
import json
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from handlers import callbacks
from infra.ewssim.push import PushService, attach
from tests.integration.pipeline_support import PipelineHarness


@dataclass
class QueuedJob:
    actor_name: str
    kwargs: dict[str, Any]
    message_id: str


@dataclass
class MemoryQueue:
    """An Enqueue that keeps the jobs in a list (thread-safe enough: list.append is atomic)."""

    jobs: list[QueuedJob] = field(default_factory=list)

    def __call__(self, actor_name: str, kwargs: dict[str, Any], *, message_id: str | None = None) -> str:
        job = QueuedJob(actor_name, json.loads(json.dumps(kwargs)), message_id or str(uuid.uuid4()))
        self.jobs.append(job)
        return job.message_id

    def take(self, actor_name: str | None = None) -> list[QueuedJob]:
        taken = [j for j in self.jobs if actor_name is None or j.actor_name == actor_name]
        self.jobs = [j for j in self.jobs if j not in taken]
        return taken


def http_api_event(method: str, path: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """An API Gateway HTTP API / function URL event (payload format 2.0)."""
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {name.lower(): value for name, value in headers.items()},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "callbacks",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": "ExchangeServicesClient"},
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Jan/2030:00:00:00 +0000",
            "timeEpoch": 1893456000000,
        },
        "body": base64.b64encode(body).decode("ascii"),
        "isBase64Encoded": True,
    }


class CallbackServer:
    """A local HTTP front for the callback Lambda. `down = True` answers 503 without calling it."""

    def __init__(self) -> None:
        self.down = False
        self.responses: list[tuple[str, int]] = []  # (path, status) of every POST
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if server.down:
                    status, headers, payload = 503, {"Content-Type": "text/plain"}, b"down"
                else:
                    event = http_api_event("POST", self.path, dict(self.headers.items()), body)
                    answer = callbacks.lambda_handler(event, None)  # type: ignore[arg-type]
                    status = int(answer["statusCode"])
                    headers = dict(answer.get("headers") or {})
                    raw = answer.get("body") or ""
                    payload = base64.b64decode(raw) if answer.get("isBase64Encoded") else raw.encode()
                server.responses.append((self.path, status))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        """POST as a caller would; returns (status, body)."""
        request = urllib.request.Request(self.base_url + path, data=body, method="POST",
                                         headers={"Content-Type": "text/xml; charset=utf-8"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return int(response.status), response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@dataclass
class PushRig:
    pipeline: PipelineHarness
    server: CallbackServer
    queue: MemoryQueue
    push: PushService


@pytest.fixture
def rig(pipeline: PipelineHarness) -> Iterator[PushRig]:
    """The pipeline with a callback URL, the callback Lambda served locally, one clock for all."""
    server = CallbackServer()
    queue = MemoryQueue()
    runtime = pipeline.runtime
    runtime.config = runtime.config.model_copy(update={"callback_base_url": server.base_url})
    # The pipeline runs on the simulator's clock, so advancing it moves Exchange's timers and
    # the pipeline's notion of "stale" together.
    runtime.clock = pipeline.sim.backend.clock.now
    callbacks.use_dependencies(
        callbacks.CallbackDependencies(store=runtime.store, enqueue=queue, clock=runtime.clock)
    )
    try:
        yield PushRig(pipeline, server, queue, attach(pipeline.sim.backend))
    finally:
        callbacks.use_dependencies(None)
        server.close()
