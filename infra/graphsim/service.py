"""GraphService: the local Microsoft Graph v1.0, bound to one EwsSimulator and its EwsBackend.

Dispatch of one request: authenticate the bearer token (Graph audience), find the route, count
it, resolve and check the mailbox (roles, application access policy), take a concurrency slot,
apply the fault plan, check the request body against the CSDL, run the handler, check the
response, render it with request-id headers. $batch runs its inner requests through the same
`execute`, so each is counted, throttled and faulted on its own.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from infra.ewssim.errors import EwsError, UnauthorizedError
from infra.ewssim.faults import FaultKind, FaultRule
from infra.ewssim.models.access import folder_access
from infra.ewssim.oauth import GRAPH_AUDIENCE
from infra.ewssim.request_log import RequestLog, RequestRecord
from infra.graphsim import responses as _responses  # noqa: F401  (registers every route)
from infra.graphsim.context import GraphContext
from infra.graphsim.errors import DroppedRequest, GraphError, from_ews_error, odata_error
from infra.graphsim.models.caller import GraphCaller
from infra.graphsim.models.delta import DeltaStore
from infra.graphsim.models.throttle import ConcurrencyLimit
from infra.graphsim.odata import parse_preferences
from infra.graphsim.routes import SERVICE_HOOKS, Answer, match, path_exists
from infra.graphsim.schema import GraphSchema, schema_dir_from_env

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from infra.ewssim.server import EwsSimulator

__all__ = ["GraphOutcome", "GraphService"]

_JSON = (
    "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8"
)
_FROM_ENV = Path("<GRAPH_SCHEMA_DIR>")
_POLICY_MESSAGE = "Access to OData is disabled."


@dataclass(frozen=True)
class GraphOutcome:
    """What the HTTP front sends for one Graph request."""

    status: int
    body: bytes
    content_type: str = _JSON
    headers: list[tuple[str, str]] = field(default_factory=list)
    drop: bool = False


class GraphService:
    """The Graph front of one simulator; control API for tests (counts, policies, delta tokens)."""

    def __init__(self, simulator: EwsSimulator, schema_dir: Path | str | None = _FROM_ENV) -> None:
        self.sim = simulator
        self.backend = simulator.backend
        self.faults = simulator.faults  # one fault plan: rules are keyed by Graph operation names
        self.requests = RequestLog()
        self.throttle = ConcurrencyLimit()
        self.delta = DeltaStore()
        folder = (
            schema_dir_from_env() if schema_dir == _FROM_ENV else (Path(schema_dir) if schema_dir else None)
        )
        self.schema: GraphSchema | None = GraphSchema(folder) if folder else None
        self._violations: list[str] = []
        self._lock = threading.Lock()
        self._policies: dict[str, frozenset[str] | None] = {}
        self._roles: dict[str, frozenset[str]] = {}
        self._reset_hooks: list[Callable[[], None]] = []
        self.extensions: dict[str, Any] = {}
        self.backend.on_reset(self.reset)
        for hook in SERVICE_HOOKS:
            hook(self)

    # Addresses and plug-ins -----------------------------------------------------------------

    @property
    def graph_url(self) -> str:
        return self.sim.graph_url

    def attach(self, name: str, extension: Any) -> Any:
        """Keep a plug-in's state on the service (e.g. "subscriptions")."""
        self.extensions[name] = extension
        return extension

    def on_reset(self, hook: Callable[[], None]) -> None:
        self._reset_hooks.append(hook)

    # Control API -------------------------------------------------------------------------------

    def request_counts(self) -> dict[str, int]:
        """Graph requests per operation name ("createEvent", "batch", ...) since the last reset;
        a $batch counts once as "batch" and once per inner request under its own name."""
        return self.requests.counts()

    def request_log(self, operation: str | None = None) -> list[RequestRecord]:
        return self.requests.records(operation)

    def expire_delta_tokens(self) -> int:
        """Make every delta and skip token unknown (the next use answers 410 SyncStateNotFound)."""
        return self.delta.expire_all()

    def set_access_policy(self, client_id: str, mailboxes: list[str] | frozenset[str] | None) -> None:
        """Scope an app to these mailboxes (an application access policy), or None for all."""
        self._policies[client_id] = None if mailboxes is None else frozenset(m.lower() for m in mailboxes)

    def set_app_roles(self, client_id: str, roles: list[str] | frozenset[str]) -> None:
        """Replace an app's Graph application permissions until the next reset."""
        self._roles[client_id] = frozenset(roles)

    @contextmanager
    def occupy(self, client_id: str, mailbox: str, slots: int = 4) -> Iterator[None]:
        """Hold an app's concurrency slots on a mailbox, as requests in flight would."""
        with self.throttle.occupied(client_id, mailbox, slots):
            yield

    def send_lifecycle(self, subscription_id: str, event: str) -> Any:
        """Lifecycle notifications belong to the subscriptions plug-in."""
        plugin = self.extensions.get("subscriptions")
        if plugin is None:
            raise NotImplementedError("the subscriptions plug-in (responses/subscriptions.py) is not loaded")
        return plugin.send_lifecycle(subscription_id, event)

    def take_schema_violations(self) -> list[str]:
        with self._lock:
            taken, self._violations = self._violations, []
        return taken

    def record_violation(self, text: str) -> None:
        with self._lock:
            self._violations.append(text)

    def reset(self) -> None:
        self.requests.clear()
        self.throttle.reset()
        self.delta.reset()
        self._policies.clear()
        self._roles.clear()
        for hook in list(self._reset_hooks):
            hook()

    # HTTP entry --------------------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, headers: dict[str, str], payload: bytes) -> GraphOutcome:
        """Serve one HTTP request whose path starts with /v1.0/."""
        lowered = {k.lower(): v for k, v in headers.items()}
        request_id = str(uuid.uuid4())
        client_request_id = lowered.get("client-request-id") or request_id
        url = urlsplit(raw_path)
        path = url.path[len("/v1.0") :] or "/"
        answer: Answer
        try:
            caller = self._authenticate(lowered.get("authorization", ""))
            answer = self.execute(caller, method, path, url.query, lowered, payload, request_id)
        except DroppedRequest:
            return GraphOutcome(0, b"", drop=True)
        except GraphError as failure:
            answer = self.error_answer(failure, request_id, client_request_id)
        except Exception:
            # A simulator defect answers as Graph's own failures do (500 with an OData body), so
            # the client sees a server error rather than a dropped connection.
            log.exception("graph simulator: %s request failed", method)
            internal = GraphError(500, "InternalServerError", "An internal server error occurred.")
            answer = self.error_answer(internal, request_id, client_request_id)
        answer.headers.setdefault("request-id", request_id)
        answer.headers.setdefault("client-request-id", client_request_id)
        if isinstance(answer.body, dict) and "error" in answer.body:
            inner = answer.body["error"].get("innerError")
            if isinstance(inner, dict):
                inner["client-request-id"] = client_request_id
        body = b"" if answer.body is None else json.dumps(answer.body).encode()
        out_headers = [("OData-Version", "4.0"), *answer.headers.items()]
        return GraphOutcome(answer.status, body, _JSON if body else "text/plain", out_headers)

    def _authenticate(self, authorization: str) -> GraphCaller:
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        try:
            if scheme.lower() != "bearer" or not token:
                raise UnauthorizedError("no bearer token")
            found = self.sim.tokens.caller_for(token, GRAPH_AUDIENCE)
        except UnauthorizedError as exc:
            raise GraphError(
                401,
                "InvalidAuthenticationToken",
                "Access token is empty."
                if not token
                else "Access token validation failure. Invalid audience.",
                headers={"WWW-Authenticate": 'Bearer realm="", authorization_uri="ewssim"'},
            ) from exc
        app = found.app or self.sim.tokens.app_for(token)
        user = None if found.app_only else found.principal
        roles: frozenset[str] = frozenset()
        scope: frozenset[str] | None = None
        if app is not None:
            roles = self._roles.get(app.client_id, app.graph_roles)
            scope = self._policies.get(app.client_id, app.mailbox_scope)
        return GraphCaller(app, user, roles, scope)

    # Dispatch ----------------------------------------------------------------------------------

    def error_answer(self, failure: GraphError, request_id: str, client_request_id: str = "") -> Answer:
        date = self.backend.clock.now().strftime("%Y-%m-%dT%H:%M:%S") + "Z"
        body = odata_error(
            failure.code,
            failure.message,
            date=date,
            request_id=request_id,
            client_request_id=client_request_id or request_id,
        )
        return Answer(failure.status, body, dict(failure.headers))

    def execute(
        self,
        caller: GraphCaller,
        method: str,
        path: str,
        query_text: str,
        headers: dict[str, str],
        payload: bytes,
        request_id: str,
    ) -> Answer:
        """Run one (possibly inner) request for an authenticated caller; GraphError for failures
        found before a route is known, an error Answer after."""
        found = match(method.upper(), path)
        if found is None:
            name = "(unknown)"
            self.requests.count(name)
            if path_exists(path):
                raise GraphError(405, "BadRequest", "The HTTP method is not allowed on this resource.")
            raise GraphError(400, "BadRequest", "Resource not found for the segment in the request URL.")
        route, params = found
        self.requests.count(route.name)
        arrived = self.backend.clock.now().isoformat()
        query = {
            (k.lower() if k.startswith("$") else k): v
            for k, v in parse_qsl(query_text, keep_blank_values=True)
        }
        context = GraphContext(
            self,
            caller,
            route,
            method.upper(),
            path,
            params,
            query,
            headers,
            payload,
            parse_preferences(headers),
            request_id,
        )
        status, code = 200, "NoError"
        try:
            answer = self._run(context)
            status = answer.status
        except GraphError as failure:
            status, code = failure.status, failure.code
            answer = self.error_answer(failure, request_id, headers.get("client-request-id", ""))
        finally:
            caller_name = caller.client_id or (caller.user.smtp if caller.user else "")
            self.requests.record(
                RequestRecord(
                    route.name, caller_name, context.mailbox or None, status, code, arrived, caller.app_only
                )
            )
        return answer

    def _run(self, ctx: GraphContext) -> Answer:
        route = ctx.route
        if route.roles is not None and not ctx.caller.has_any_role(route.roles):
            if route.denied_code == "Authorization_RequestDenied":
                raise GraphError(403, route.denied_code, "Insufficient privileges to complete the operation.")
            raise GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
        if route.mailbox_scoped:
            ctx.mailbox = self.resolve_mailbox(ctx, None if route.is_me else ctx.params.get("user", ""))
            if not self.throttle.try_enter(ctx.caller.throttle_key, ctx.mailbox):
                raise GraphError(
                    429,
                    "ApplicationThrottled",
                    "Application is over its MailboxConcurrency limit.",
                    headers={"Retry-After": "1"},
                )
            try:
                return self._serve(ctx)
            finally:
                self.throttle.leave(ctx.caller.throttle_key, ctx.mailbox)
        return self._serve(ctx)

    def _serve(self, ctx: GraphContext) -> Answer:
        decision = self.faults.decide(ctx.route.name)
        if decision.delay_s:
            time.sleep(decision.delay_s)
        if decision.fault is not None:
            self._fail(decision.fault)
        if self.schema is not None and ctx.route.request_type and ctx.body.strip():
            problems = self.schema.errors(ctx.route.request_type, ctx.json())
            if problems:
                self.record_violation(
                    f"{ctx.route.name} request violates the Graph CSDL: {'; '.join(problems[:5])}"
                )
                raise GraphError(400, "BadRequest", f"Invalid request body: {problems[0]}")
        try:
            answer = ctx.route.handler(ctx)
        except EwsError as failure:
            raise from_ews_error(failure) from failure
        if self.schema is not None and answer.returns and answer.body is not None:
            self._check_response(ctx.route.name, answer)
        return answer

    def _check_response(self, name: str, answer: Answer) -> None:
        assert self.schema is not None and answer.returns is not None
        body = answer.body
        if answer.returns.startswith("Collection("):
            body = body.get("value", []) if isinstance(body, dict) else body
        problems = self.schema.errors(answer.returns, body)
        if problems:
            self.record_violation(f"{name} response violates the Graph CSDL: {'; '.join(problems[:5])}")
            raise GraphError(500, "InternalServerError", f"graphsim produced an invalid {name} response.")

    def _fail(self, rule: FaultRule) -> None:
        seconds = str(max(1, math.ceil(rule.back_off_ms / 1000)))
        if rule.kind is FaultKind.DROP:
            raise DroppedRequest()
        if rule.kind in (FaultKind.SERVER_BUSY, FaultKind.SERVER_BUSY_MESSAGE):
            # https://learn.microsoft.com/en-us/graph/throttling: 429 with Retry-After (seconds).
            raise GraphError(
                429,
                "TooManyRequests",
                rule.message or "Too many requests. Retry after the period in Retry-After.",
                headers={"Retry-After": seconds},
            )
        if rule.kind is FaultKind.HTTP_503:
            raise GraphError(
                503,
                "ServiceUnavailable",
                rule.message or "The service is temporarily unavailable.",
                headers={"Retry-After": seconds},
            )
        raise GraphError(500, rule.code, rule.message or f"graphsim injected {rule.code}.")

    # Mailboxes ---------------------------------------------------------------------------------

    def resolve_mailbox(self, ctx: GraphContext, user: str | None) -> str:
        """The SMTP address of /users/{user} (or /me when user is None), once the caller may use
        it: 404 ErrorInvalidUser when no such mailbox, 403 outside the app's access policy or
        (delegated) without a calendar permission."""
        caller = ctx.caller
        if user is None:
            if caller.user is None:
                raise GraphError(
                    400, "BadRequest", "/me request is only valid with delegated authentication flow."
                )
            return caller.user.smtp
        principal = self.backend.directory.find(user)
        if principal is None or principal.smtp not in self.backend.mailboxes:
            raise GraphError(404, "ErrorInvalidUser", "The requested user is invalid.")
        if caller.app is not None and caller.app_only and not caller.may_access(principal.smtp):
            raise GraphError(403, "ErrorAccessDenied", _POLICY_MESSAGE)
        if caller.user is not None and caller.user.smtp != principal.smtp:
            level = folder_access(self.backend, caller.user, principal.smtp, "calendar")
            writes = ctx.method in ("POST", "PATCH", "DELETE") and ctx.route.name != "getSchedule"
            if not (level.can_write_items() if writes else level.can_read_items()):
                raise GraphError(
                    403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
                )
        return principal.smtp
