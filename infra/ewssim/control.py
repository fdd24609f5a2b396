"""The control surface over HTTP: JSON under /_sim/ for tests and the demo in other processes.

Routes (no authentication: the simulator is a local test tool):

    GET    /_sim/health                          {"ok": true, "ews_url": ...}
    POST   /_sim/reset                           forget everything (mailboxes, grants, faults, log)
    POST   /_sim/seed                            body: the seed mapping (see EwsBackend.seed)
    POST   /_sim/grants/folder                   {owner, grantee, level, folder?}
    POST   /_sim/grants/impersonation            {smtp, allowed?}
    POST   /_sim/folders                         {owner, path, folder_class?} -> {"folder_id": ...}
    GET    /_sim/mailboxes/{smtp}/{folder}       items of calendar, inbox, deleteditems, ... or of a
                                                 folder by id or path (Calendar/Interviews)
    GET    /_sim/clock                           {"now": iso}
    POST   /_sim/clock/advance                   {"seconds": n}
    GET    /_sim/requests/counts                 {"CreateItem": 3, ...}
    GET    /_sim/requests/log[?operation=X]      [{operation, caller, impersonated, status, code, time}]
    GET    /_sim/requests/logons                 [{scheme, login, accepted, time}] (refused = HTTP 401)
    DELETE /_sim/requests                        clear counts and logs
    POST   /_sim/oauth/refresh-tokens            {client_id, smtp} -> {"refresh_token": ...}
    POST   /_sim/oauth/revoke                    {smtp} -> {"revoked": n}
    GET    /_sim/oauth/counts                    token requests per grant (and per grant:error)
    GET    /_sim/faults                          the active latency and fault rules
    POST   /_sim/faults                          {"latency_ms", "max_ms"?, "operation"?} or
                                                 {"kind", "operation"?, "count"?, "window"?, "back_off_ms"?,
                                                  "code"?, "message"?, "seed"?}
    DELETE /_sim/faults                          clear all rules
    GET    /_sim/schema/violations               invalid responses recorded (and drained)
    *      /_sim/graph/...                       Microsoft Graph control (infra/graphsim/control.py)
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from infra.ewssim.errors import EwsError
from infra.ewssim.models.permissions import PermissionLevel

if TYPE_CHECKING:
    from infra.ewssim.server import EwsSimulator

__all__ = ["CONTROL_PREFIX", "handle_control"]

CONTROL_PREFIX = "/_sim/"


class _NotFound(Exception):
    pass


def handle_control(sim: EwsSimulator, method: str, raw_path: str, payload: bytes) -> tuple[int, bytes]:
    """Run one control request; returns (HTTP status, JSON body)."""
    url = urlsplit(raw_path)
    parts = [unquote(p) for p in url.path[len(CONTROL_PREFIX) :].split("/") if p]
    query = {k: v[-1] for k, v in parse_qs(url.query).items()}
    try:
        body: Any = json.loads(payload) if payload.strip() else {}
        result = _route(sim, method, parts, query, body)
        status = 200
    except _NotFound:
        status, result = 404, {"error": "not_found", "message": f"no control route {method} {url.path}"}
    except EwsError as exc:
        status, result = 400, {"error": exc.code, "message": exc.message}
    except (ValueError, KeyError, TypeError) as exc:
        status, result = 400, {"error": "bad_request", "message": str(exc)}
    return status, json.dumps(result, default=str).encode()


def _route(sim: EwsSimulator, method: str, parts: list[str], query: dict[str, str], body: Any) -> Any:
    match method, parts:
        case "GET", ["health"]:
            return {"ok": True, "ews_url": sim.ews_url}
        case "POST", ["reset"]:
            sim.reset()
            return {"ok": True}
        case "POST", ["seed"]:
            sim.seed(body)
            return {"ok": True}
        case "POST", ["grants", "folder"]:
            sim.grant_folder_permission(
                body["owner"], body["grantee"], PermissionLevel(body["level"]), body.get("folder", "calendar")
            )
            return {"ok": True}
        case "POST", ["grants", "impersonation"]:
            sim.grant_impersonation(body["smtp"], bool(body.get("allowed", True)))
            return {"ok": True}
        case "POST", ["folders"]:
            return {"folder_id": sim.create_folder(body["owner"], body["path"], body.get("folder_class"))}
        case "GET", ["mailboxes", smtp, *folder] if folder:
            return sim.folder_items(smtp, "/".join(folder))
        case "GET", ["clock"]:
            return {"now": sim.backend.clock.now().isoformat()}
        case "POST", ["clock", "advance"]:
            return {"now": sim.advance_clock(timedelta(seconds=float(body["seconds"]))).isoformat()}
        case "GET", ["requests", "counts"]:
            return sim.request_counts()
        case "GET", ["requests", "log"]:
            return [r.to_dict() for r in sim.request_log(query.get("operation"))]
        case "GET", ["requests", "logons"]:
            return [r.to_dict() for r in sim.logons()]
        case "POST", ["oauth", "refresh-tokens"]:
            return {"refresh_token": sim.issue_refresh_token(body["client_id"], body["smtp"])}
        case "POST", ["oauth", "revoke"]:
            return {"revoked": sim.revoke_tokens(body["smtp"])}
        case "GET", ["oauth", "counts"]:
            return sim.tokens.counts()
        case "DELETE", ["requests"]:
            sim.requests.clear()
            return {"ok": True}
        case "GET", ["faults"]:
            return sim.faults.describe()
        case "POST", ["faults"]:
            return sim.faults.add_from_dict(body)
        case "DELETE", ["faults"]:
            sim.faults.reset()
            return {"ok": True}
        case "GET", ["schema", "violations"]:
            return sim.take_schema_violations()
        case _, ["graph", *rest]:
            from infra.graphsim.control import UnknownRoute, graph_control

            try:
                return graph_control(sim.graph, method, rest, query, body)
            except UnknownRoute:
                raise _NotFound() from None
    raise _NotFound()
