"""What a Graph handler sees of one request (see routes.py for the plug-in contract)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from infra.graphsim.errors import GraphError
from infra.graphsim.models.caller import GraphCaller
from infra.graphsim.odata import Preferences

if TYPE_CHECKING:
    from infra.graphsim.routes import Route
    from infra.graphsim.service import GraphService

__all__ = ["GraphContext"]


@dataclass
class GraphContext:
    service: GraphService
    caller: GraphCaller
    route: Route
    method: str
    # The path after /v1.0 (no query), as requested.
    path: str
    params: dict[str, str]
    # Query options by name; OData's $-options are matched without regard to case ($Filter = $filter).
    query: dict[str, str]
    # Request headers, names lower-cased.
    headers: dict[str, str]
    body: bytes
    prefs: Preferences
    request_id: str
    # The mailbox the route acts on (resolved and checked), for /users/{user}/... and /me/...
    mailbox: str = ""
    _json: Any = field(default=None, repr=False)

    def json(self) -> Any:
        """The request body as JSON (an empty body is {}); 400 BadRequest when it is not JSON."""
        if self._json is None:
            if not self.body.strip():
                self._json = {}
            else:
                try:
                    self._json = json.loads(self.body)
                except ValueError as exc:
                    raise GraphError(400, "BadRequest", "Unable to read JSON request payload.") from exc
        return self._json

    def body_object(self) -> dict[str, Any]:
        found = self.json()
        if not isinstance(found, dict):
            raise GraphError(400, "BadRequest", "The request body must be a JSON object.")
        return found
