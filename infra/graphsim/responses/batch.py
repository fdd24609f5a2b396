"""JSON batching: POST /$batch with up to 20 requests, each run as a request of its own (counted,
throttled and faulted under its own name; the batch counts once as "batch").

https://learn.microsoft.com/en-us/graph/json-batching: at most 20 requests; ids unique (else 400);
`url` relative to the version root; `dependsOn` orders requests, and a request whose dependency
failed gets 424 Failed Dependency; each response carries id, status, headers, body.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from infra.graphsim.context import GraphContext
from infra.graphsim.errors import DroppedRequest, GraphError
from infra.graphsim.routes import Answer, route

__all__ = ["MAX_BATCH"]

MAX_BATCH = 20


def _order(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Requests in an order where each comes after what it depends on."""
    by_id = {str(r["id"]): r for r in requests}
    done: list[dict[str, Any]] = []
    seen: set[str] = set()

    def visit(request: dict[str, Any], trail: frozenset[str]) -> None:
        key = str(request["id"])
        if key in seen:
            return
        if key in trail:
            raise GraphError(400, "BadRequest", "The dependsOn graph of the batch has a cycle.")
        for needed in request.get("dependsOn") or []:
            if str(needed) not in by_id:
                raise GraphError(400, "BadRequest", f"Request {key} depends on an unknown request.")
            visit(by_id[str(needed)], trail | {key})
        seen.add(key)
        done.append(request)

    for request in requests:
        visit(request, frozenset())
    return done


@route("POST", "/$batch", name="batch", roles=None)
def batch(ctx: GraphContext) -> Answer:
    requests = ctx.body_object().get("requests")
    if not isinstance(requests, list) or not requests:
        raise GraphError(400, "BadRequest", "A batch needs requests.")
    if len(requests) > MAX_BATCH:
        raise GraphError(
            400, "BadRequest", f"Number of batch request steps exceeds the maximum of {MAX_BATCH}."
        )
    if not all(isinstance(r, dict) and "id" in r and "method" in r and "url" in r for r in requests):
        raise GraphError(400, "BadRequest", "Every batch request needs id, method and url.")
    if len({str(r["id"]).lower() for r in requests}) != len(requests):
        raise GraphError(400, "BadRequest", "Batch request ids must be unique.")
    statuses: dict[str, int] = {}
    answers: list[dict[str, Any]] = []
    for request in _order(requests):
        key = str(request["id"])
        failed = [d for d in request.get("dependsOn") or [] if statuses.get(str(d), 200) >= 400]
        if failed:
            statuses[key] = 424
            answers.append(
                {
                    "id": key,
                    "status": 424,
                    "headers": {},
                    "body": ctx.service.error_answer(
                        GraphError(424, "BadRequest", "Failed dependency."), ctx.request_id
                    ).body,
                }
            )
            continue
        url = urlsplit(str(request["url"]))
        path = "/" + url.path.lstrip("/").removeprefix("v1.0/")
        headers = {str(k).lower(): str(v) for k, v in (request.get("headers") or {}).items()}
        raw = request.get("body")
        payload = b"" if raw is None else (raw.encode() if isinstance(raw, str) else json.dumps(raw).encode())
        try:
            answer = ctx.service.execute(
                ctx.caller, str(request["method"]), path, url.query, headers, payload, ctx.request_id
            )
        except GraphError as failure:
            answer = ctx.service.error_answer(failure, ctx.request_id)
        except DroppedRequest:  # a dropped inner request: the gateway gives up on it
            answer = ctx.service.error_answer(
                GraphError(504, "GatewayTimeout", "The request timed out."), ctx.request_id
            )
        statuses[key] = answer.status
        entry: dict[str, Any] = {"id": key, "status": answer.status, "headers": dict(answer.headers)}
        if answer.body is not None:
            entry["headers"].setdefault("Content-Type", "application/json")
            entry["body"] = answer.body
        answers.append(entry)
    return Answer(200, {"responses": answers})
