"""The Graph route registry: every endpoint is a function registered with @route.

Plug-in contract (for modules beside this one, e.g. responses/subscriptions.py):

- Write a module under infra/graphsim/responses/ and register handlers::

      from infra.graphsim.routes import Answer, route, WRITE
      from infra.graphsim.context import GraphContext

      @route("POST", "/subscriptions", name="createSubscription", roles=READ)
      def create_subscription(ctx: GraphContext) -> Answer:
          ...
          return Answer(201, body, returns="subscription")

  responses/__init__.py imports it (a guarded import: a missing module is skipped).
- A template is the path after /v1.0, `{name}` matching one path segment. A template starting
  "/users/{user}/" also serves "/me/..." for delegated tokens; the service resolves `{user}` to a
  mailbox (404 ErrorInvalidUser when unknown), checks the route's roles (403) and the app's
  application access policy (403 ErrorAccessDenied "Access to OData is disabled."), takes one of
  the app's 4 concurrent slots on that mailbox (429 MailboxConcurrency) and applies the fault plan
  keyed by `name`, which is also the key of `sim.graph.request_counts()`.
- The handler gets a GraphContext: `ctx.caller` (GraphCaller: app, client_id, roles, user,
  mailbox_scope), `ctx.mailbox` (the resolved SMTP address, for routes with {user}),
  `ctx.params`, `ctx.query`, `ctx.headers`, `ctx.json()` (the request body), `ctx.service`
  (GraphService: `.backend` (EwsBackend: mailboxes, directory, clock, `on_change` change feed),
  `.graph_url`, `.resolve_mailbox(ctx, user)` to check a mailbox named in a body such as a
  subscription's resource, `.on_reset(hook)`, `.attach(name, obj)` for plug-in state).
- Raise infra.graphsim.errors.GraphError(status, code, message) for a failure; it renders as an
  OData error body with request-id headers. EWS-model errors (EwsError) are mapped for you.
- Ids: infra.graphsim.models.ids.rest_id / ews_id convert EWS ItemIds and Graph ids.
- `Answer.returns` names the CSDL type of the body ("event", "Collection(event)", ...) so that
  it is checked against the Graph v1.0 metadata when GRAPH_SCHEMA_DIR is set.
- Service hooks: @on_service(fn) registers fn(service) to run when each GraphService is built
  (to attach state, register change listeners, reset hooks).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

if TYPE_CHECKING:
    from infra.graphsim.context import GraphContext
    from infra.graphsim.service import GraphService

__all__ = [
    "DIRECTORY_PLACES",
    "DIRECTORY_USERS",
    "READ",
    "ROUTES",
    "SERVICE_HOOKS",
    "WRITE",
    "Answer",
    "Route",
    "match",
    "on_service",
    "route",
]

# Application permissions each kind of endpoint accepts (any one suffices), as the API reference
# pages list them, e.g. https://learn.microsoft.com/en-us/graph/api/user-list-events (Calendars.Read,
# Calendars.ReadWrite), https://learn.microsoft.com/en-us/graph/api/user-post-events
# (Calendars.ReadWrite), https://learn.microsoft.com/en-us/graph/api/place-list (Place.Read.All),
# https://learn.microsoft.com/en-us/graph/api/user-get (User.Read.All).
READ = frozenset({"Calendars.ReadBasic", "Calendars.Read", "Calendars.ReadWrite"})
WRITE = frozenset({"Calendars.ReadWrite"})
DIRECTORY_PLACES = frozenset({"Place.Read.All", "Place.ReadWrite.All", "Directory.Read.All"})
DIRECTORY_USERS = frozenset({"User.Read.All", "User.ReadWrite.All", "Directory.Read.All"})


@dataclass
class Answer:
    """What a handler returns: status, JSON body (None for none) and extra headers."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    # The CSDL type of the body (entity or complex type, or "Collection(x)" for a "value" list).
    returns: str | None = None


Handler = Callable[["GraphContext"], Answer]


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    name: str
    handler: Handler
    roles: frozenset[str] | None
    # Graph's code when the app lacks every role: Outlook says ErrorAccessDenied, the directory
    # Authorization_RequestDenied.
    denied_code: str
    pattern: re.Pattern[str]
    # The CSDL type of the request body to check (create and update of events).
    request_type: str | None = None

    @property
    def mailbox_scoped(self) -> bool:
        """Whether the route acts on one mailbox: /users/{user}/... or /me/..."""
        return "{user}" in self.template or self.is_me

    @property
    def is_me(self) -> bool:
        return self.template.lower().startswith("/me/")


ROUTES: list[Route] = []
SERVICE_HOOKS: list[Callable[[GraphService], None]] = []


def _compile(template: str) -> re.Pattern[str]:
    parts = []
    for segment in template.strip("/").split("/"):
        if segment.startswith("{") and segment.endswith("}"):
            parts.append(f"(?P<{segment[1:-1]}>[^/]+)")
        else:
            parts.append(re.escape(segment))
    return re.compile("^/" + "/".join(parts) + "/?$", re.IGNORECASE)


def route(
    method: str,
    template: str,
    *,
    name: str,
    roles: frozenset[str] | None = READ,
    denied_code: str | None = None,
    request_type: str | None = None,
) -> Callable[[Handler], Handler]:
    """Register a handler for METHOD template (under /v1.0); roles=None means no role check."""

    def register(handler: Handler) -> Handler:
        code = denied_code or (
            "Authorization_RequestDenied"
            if roles in (DIRECTORY_PLACES, DIRECTORY_USERS)
            else "ErrorAccessDenied"
        )
        templates = [template]
        if template.startswith("/users/{user}/"):
            templates.append("/me/" + template[len("/users/{user}/") :])
        for each in templates:
            ROUTES.append(
                Route(method.upper(), each, name, handler, roles, code, _compile(each), request_type)
            )
        return handler

    return register


def on_service(hook: Callable[[GraphService], None]) -> Callable[[GraphService], None]:
    """Run hook(service) whenever a GraphService is built."""
    SERVICE_HOOKS.append(hook)
    return hook


def match(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The route for METHOD path (path after /v1.0, without the query) and its parameters; a path
    whose template matches another method only gives None too (the service answers 405)."""
    for candidate in ROUTES:
        if candidate.method != method:
            continue
        found = candidate.pattern.match(path)
        if found is not None:
            return candidate, {k: unquote(v) for k, v in found.groupdict().items()}
    return None


def path_exists(path: str) -> bool:
    """Whether any method serves this path (to tell 405 from 404)."""
    return any(candidate.pattern.match(path) for candidate in ROUTES)
