"""Lambda entry point for Exchange push notifications: POST /notifications/{token}, and the
connectivity check Exchange admins run: GET /check/{integration_id}.

Behind an HTTP API or a function URL (both send payload format 2.0). Parses the request, calls
pipeline.notifications.receive_push or pipeline.callback_check.check_connectivity, and maps its
answer or error to HTTP in one place. Each route imports what it calls when it first runs: the
connectivity check never loads the notification parser (exchangelib), nor the check the queue.
"""

from __future__ import annotations

import base64
import logging
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
    checking = app.current_event.path.startswith("/check/")
    emit_metric("ConnectivityChecks" if checking else "PushNotifications", MetricUnit.Count, 1,
                status=str(status))
    return Response(
        status_code=status,
        content_type="application/json",
        body={"code": error.code.value, "message": error.message},
    )


@trace_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
