"""A token endpoint that answers with a page, not JSON, gives the codes EWS gives for it, never INTERNAL.

msal reads every token answer below 500 as JSON; a proxy's or a portal's HTML page (400 text/html)
makes it raise ValueError (and log the page at ERROR). EWS treats such a 4xx as the endpoint's
refusal (AUTH_FAILED: oauthlib's MissingTokenError app-only, delegated_oauth.py's refusal
"HTTP 400" for a refresh token) and a 200 without a token as an outage (EWS_UNAVAILABLE,
retryable). Real msal and requests against a local HTTPS authority (the simulator's TLS material,
trusted per request as for the local Graph) that serves the discovery document and answers each
token request with the page under test.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from infra.ewssim import EwsSimulator
from infra.ewssim.oauth import openid_configuration
from infra.ewssim.tls import server_context
from pipeline.contract import JobStatus
from pipeline.errors import ErrorCode
from tests.integration.graph_support import graph_sim, graph_simulator
from tests.integration.pipeline_support import PipelineHarness, graph_pipeline
from tests.seed import smtp

__all__ = ["graph_pipeline", "graph_sim", "graph_simulator"]  # fixtures, re-exported for pytest

SUPPORT_ID = "7731-rejected-page"
PAGE = f"<html><body>Request rejected. Support ID: {SUPPORT_ID}</body></html>".encode()
FREE_BUSY: dict[str, Any] = {"mailboxes": [smtp("bob")], "start": "2026-11-03T00:00:00Z",
                             "end": "2026-11-04T00:00:00Z"}


class PageAuthority(ThreadingHTTPServer):
    """An HTTPS authority: the real discovery document, and `answer` (status, body) as text/html
    for every token request."""

    def __init__(self, sim: EwsSimulator) -> None:
        authority = self
        self.answer = (400, PAGE)
        self.token_requests = 0

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                tenant = self.path.strip("/").split("/")[0]
                self._send(200, "application/json",
                           json.dumps(openid_configuration(authority.base_url, tenant)).encode())

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                authority.token_requests += 1
                status, body = authority.answer
                self._send(status, "text/html", body)

            def _send(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        assert sim.tls_material is not None
        self.socket = server_context(sim.tls_material).wrap_socket(self.socket, server_side=True)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def authority(graph_pipeline: PipelineHarness) -> Iterator[PageAuthority]:
    server = PageAuthority(graph_pipeline.sim)
    yield server
    server.shutdown()
    server.server_close()


def run_free_busy(pipeline: PipelineHarness, integration_id: str) -> tuple[ErrorCode, bool, str]:
    outcome = pipeline.run("fetch_free_busy", integration_id=integration_id, **FREE_BUSY)
    assert outcome.status is not JobStatus.SUCCEEDED and outcome.error is not None, outcome
    return outcome.error.code, outcome.error.retryable, outcome.error.message


@pytest.mark.parametrize(("method", "auth"), [("impersonation", "oauth2"), ("personal", "oauth2_delegated")])
def test_a_page_for_an_answer_is_a_refusal_when_4xx_and_an_outage_when_200(
    graph_pipeline: PipelineHarness, authority: PageAuthority, caplog: pytest.LogCaptureFixture,
    method: str, auth: str,
) -> None:
    # Given a Graph integration whose authority answers token requests with an HTML page
    integration_id = graph_pipeline.install(method, auth, backend="graph", oauth_authority=authority.base_url)
    caplog.set_level(logging.DEBUG)

    # When a job needs a token and the page comes with 400, then with 200
    refused = run_free_busy(graph_pipeline, integration_id)
    authority.answer = (200, PAGE)
    unusable = run_free_busy(graph_pipeline, integration_id)

    # Then 400 is the endpoint refusing the credentials, 200 an answer to try again later
    assert authority.token_requests >= 2  # each job asked the endpoint
    assert refused[:2] == (ErrorCode.AUTH_FAILED, False), refused
    assert unusable[:2] == (ErrorCode.EWS_UNAVAILABLE, True), unusable
    # ...and the page is quoted neither in the errors nor in any log record
    assert not any(SUPPORT_ID in message for message in (refused[2], unusable[2]))
    assert not any(SUPPORT_ID in record.getMessage() for record in caplog.records)
