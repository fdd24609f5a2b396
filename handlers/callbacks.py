"""Lambda entry point for Exchange push notifications: POST /notifications/{token}.

Behind an HTTP API or a function URL (both send payload format 2.0). Parses the request, calls
pipeline.notifications.receive_push, and maps its answer or error to HTTP in one place.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline.broker import build_broker
from pipeline.config import PipelineConfig
from pipeline.enqueue import Enqueue, broker_enqueue
from pipeline.errors import ErrorCode, PipelineError
from pipeline.notifications import receive_push
from pipeline.observability import emit_metric, trace_lambda_handler
from pipeline.store.base import ResultsStore
from pipeline.store.factory import get_store

__all__ = ["CallbackDependencies", "app", "lambda_handler", "use_dependencies"]

# How each refusal is told to the caller. Anything not listed is our side failing: 503 makes
# Exchange retry the POST later (nothing is lost).
_HTTP_STATUS = {
    ErrorCode.FORGED_CALLBACK: 403,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.INVALID_MESSAGE: 400,
}


@dataclass(frozen=True)
class CallbackDependencies:
    store: ResultsStore
    enqueue: Enqueue
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)


_injected: list[CallbackDependencies] = []


def use_dependencies(dependencies: CallbackDependencies | None) -> None:
    """Run the handler on these (local runs and tests); None goes back to the environment's."""
    _injected[:] = [] if dependencies is None else [dependencies]


@cache
def _from_environment() -> CallbackDependencies:
    config = PipelineConfig.from_env(os.environ)
    enqueue = broker_enqueue(build_broker(config.broker_url))
    return CallbackDependencies(store=get_store(config), enqueue=enqueue)


def _dependencies() -> CallbackDependencies:
    return _injected[0] if _injected else _from_environment()


app = APIGatewayHttpResolver()


@app.post("/notifications/<token>")
def notification(token: str) -> Response[str]:
    event = app.current_event
    raw = event.body or ""
    body = base64.b64decode(raw) if event.is_base64_encoded else raw.encode("utf-8")
    deps = _dependencies()
    answer = receive_push(token, body, store=deps.store, enqueue=deps.enqueue, clock=deps.clock)
    emit_metric("PushNotifications", MetricUnit.Count, 1, status="200")
    # Text, not bytes: the resolver would base64-encode a bytes body.
    return Response(status_code=200, content_type="text/xml; charset=utf-8", body=answer.xml)


@app.exception_handler(PipelineError)
def refuse(error: PipelineError) -> Response[dict[str, Any]]:
    status = _HTTP_STATUS.get(error.code, 503)
    emit_metric("PushNotifications", MetricUnit.Count, 1, status=str(status))
    return Response(
        status_code=status,
        content_type="application/json",
        body={"code": error.code.value, "message": error.message},
    )


@trace_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
