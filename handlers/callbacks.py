"""Lambda entry point for Exchange push notifications: POST /notifications/{token} (EWS),
POST /graph/notifications and /graph/lifecycle (Microsoft Graph webhooks), and the connectivity
check Exchange admins run: GET /check/{integration_id}.

Behind an HTTP API or a function URL (both send payload format 2.0). Parses the request, calls
pipeline.notifications.receive_push, pipeline.notifications.graph_webhooks or
pipeline.callback_check.check_connectivity, and maps its answer or error to HTTP in one place.
Each route imports what it calls when it first runs: the connectivity check never loads the
notification parser (exchangelib), nor the check the queue; the Graph routes never load exchangelib.
A Graph validation handshake (`?validationToken=`) is answered before anything else is loaded.
"""

from __future__ import annotations

import base64
import logging
import urllib.parse
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.metrics import MetricUnit

from pipeline.errors import ErrorCode, PipelineError
from pipeline.observability import emit_metric, trace_lambda_handler
from pipeline.runtimes.enqueue import DependencySlot, QueueingDependencies

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

__all__ = ["CallbackDependencies", "app", "lambda_handler", "use_dependencies"]

# How each refusal is told to the caller. Anything not listed is our side failing: 503 makes
# Exchange retry the POST later (nothing is lost).
_HTTP_STATUS = {
    ErrorCode.FORGED_CALLBACK: 403,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.INVALID_MESSAGE: 400,
}


# The test and local-run seam: handlers.callbacks.use_dependencies(CallbackDependencies(...)).
CallbackDependencies = QueueingDependencies
_dependencies = DependencySlot()
use_dependencies = _dependencies.use


app = APIGatewayHttpResolver()
# The resolver's DEBUG lines echo the request path and route arguments, and both carry the
# subscription's secret token: they never reach the logs, whatever level operators choose.
logging.getLogger("aws_lambda_powertools.event_handler").setLevel(logging.INFO)


@app.post("/notifications/<token>")
def notification(token: str) -> Response[str]:
    from pipeline.notifications import receive_push

    event = app.current_event
    raw = event.body or ""
    body = base64.b64decode(raw) if event.is_base64_encoded else raw.encode("utf-8")
    deps = _dependencies.get()
    answer = receive_push(token, body, store=deps.store, enqueue=deps.enqueue, clock=deps.clock)
    emit_metric("PushNotifications", MetricUnit.Count, 1, status="200")
    # Text, not bytes: the resolver would base64-encode a bytes body.
    return Response(status_code=200, content_type="text/xml; charset=utf-8", body=answer.xml)


@app.post("/graph/notifications")
def graph_notifications() -> Response[str]:
    handshake = _graph_handshake()
    if handshake is not None:
        return handshake
    from pipeline.notifications.graph_webhooks import receive_graph_notifications

    deps = _dependencies.get()
    answer = receive_graph_notifications(_body(), store=deps.store, enqueue=deps.enqueue, clock=deps.clock)
    return _graph_accepted("GraphNotifications", answer.ignored)


@app.post("/graph/lifecycle")
def graph_lifecycle() -> Response[str]:
    handshake = _graph_handshake()
    if handshake is not None:
        return handshake
    from pipeline.notifications.graph_webhooks import receive_graph_lifecycle

    deps = _dependencies.get()
    answer = receive_graph_lifecycle(_body(), store=deps.store, enqueue=deps.enqueue, clock=deps.clock)
    return _graph_accepted("GraphLifecycleNotifications", answer.ignored)


def _body() -> bytes:
    event = app.current_event
    raw = event.body or ""
    return base64.b64decode(raw) if event.is_base64_encoded else raw.encode("utf-8")


def _graph_handshake() -> Response[str] | None:
    """Graph's validation request: the URL-decoded token echoed as text/plain, or None."""
    query = app.current_event.raw_query_string or ""
    tokens = urllib.parse.parse_qs(query, keep_blank_values=True).get("validationToken")
    if not tokens:
        return None
    from pipeline.notifications.graph_webhooks import validation_answer

    body = validation_answer(tokens[0])
    emit_metric("GraphValidations", MetricUnit.Count, 1, status="200")
    return Response(status_code=200, content_type="text/plain; charset=utf-8", body=body,
                    headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"})


def _graph_accepted(metric: str, ignored: int) -> Response[str]:
    emit_metric(metric, MetricUnit.Count, 1, status="202")
    if ignored:
        emit_metric("GraphNotificationsIgnored", MetricUnit.Count, ignored)
    return Response(status_code=202, content_type="text/plain; charset=utf-8", body="")


@app.get("/check/<integration_id>")
def connectivity_check(integration_id: str) -> Response[str]:
    from pipeline.callback_check import CHECK_CONTENT_TYPE, check_connectivity

    answer = check_connectivity(integration_id, store=_dependencies.get().store)
    emit_metric("ConnectivityChecks", MetricUnit.Count, 1, status=str(answer.status))
    # The same headers for 200 and 404; no-store, so that no proxy keeps an answer for later.
    return Response(status_code=answer.status, content_type=CHECK_CONTENT_TYPE, body=answer.text,
                    headers={"Cache-Control": "no-store"})


@app.exception_handler(PipelineError)
def refuse(error: PipelineError) -> Response[dict[str, Any]]:
    status = _HTTP_STATUS.get(error.code, 503)
    path = app.current_event.path
    metric = ("ConnectivityChecks" if path.startswith("/check/")
              else "GraphNotifications" if path.startswith("/graph/") else "PushNotifications")
    emit_metric(metric, MetricUnit.Count, 1, status=str(status))
    return Response(
        status_code=status,
        content_type="application/json",
        body={"code": error.code.value, "message": error.message},
    )


@trace_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
