"""The Graph part of the HTTP control surface, under /_sim/graph/ (infra/ewssim/control.py routes
there). No authentication: the simulator is a local test tool.

    GET    /_sim/graph/requests/counts          {"createEvent": 3, "batch": 1, ...}
    GET    /_sim/graph/requests/log             [{operation, caller, impersonated (= mailbox), status, ...}]
    DELETE /_sim/graph/requests                 clear the Graph counts and log
    POST   /_sim/graph/delta/expire             make every delta token unknown -> {"expired": n}
    POST   /_sim/graph/access-policy            {client_id, mailboxes: [...] | null}
    POST   /_sim/graph/app-roles                {client_id, roles: [...]}
    POST   /_sim/graph/subscriptions/{id}/lifecycle   {event}  (the subscriptions plug-in)
    GET    /_sim/graph/schema/violations        invalid bodies recorded (and drained)

Faults use the simulator's one plan (/_sim/faults) with Graph operation names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from infra.graphsim.service import GraphService

__all__ = ["graph_control"]


class UnknownRoute(LookupError):
    pass


def graph_control(
    graph: GraphService, method: str, parts: list[str], query: dict[str, str], body: Any
) -> Any:
    """Run one /_sim/graph/... request (parts after "graph"); UnknownRoute when there is none."""
    match method, parts:
        case "GET", ["requests", "counts"]:
            return graph.request_counts()
        case "GET", ["requests", "log"]:
            return [r.to_dict() for r in graph.request_log(query.get("operation"))]
        case "DELETE", ["requests"]:
            graph.requests.clear()
            return {"ok": True}
        case "POST", ["delta", "expire"]:
            return {"expired": graph.expire_delta_tokens()}
        case "POST", ["access-policy"]:
            graph.set_access_policy(body["client_id"], body.get("mailboxes"))
            return {"ok": True}
        case "POST", ["app-roles"]:
            graph.set_app_roles(body["client_id"], body["roles"])
            return {"ok": True}
        case "POST", ["subscriptions", subscription_id, "lifecycle"]:
            graph.send_lifecycle(subscription_id, body["event"])
            return {"ok": True}
        case "GET", ["schema", "violations"]:
            return graph.take_schema_violations()
    raise UnknownRoute(method, parts)
