"""GET /users/{id | userPrincipalName} (User.Read.All): who a mailbox is.
https://learn.microsoft.com/en-us/graph/api/user-get (404 Request_ResourceNotFound when none)."""

from __future__ import annotations

import uuid

from infra.graphsim.context import GraphContext
from infra.graphsim.errors import GraphError
from infra.graphsim.odata import apply_select
from infra.graphsim.routes import DIRECTORY_USERS, Answer, route

__all__: list[str] = []

_NAMESPACE = uuid.UUID("0b8f3a55-2f4e-4c8e-8a8e-3b5d7f1c9a21")


@route("GET", "/users/{principal}", name="getUser", roles=DIRECTORY_USERS)
def get_user(ctx: GraphContext) -> Answer:
    found = ctx.service.backend.directory.find(ctx.params["principal"])
    if found is None:
        raise GraphError(
            404,
            "Request_ResourceNotFound",
            "Resource does not exist or one of its queried reference-property objects are not present.",
        )
    body = {
        "id": str(uuid.uuid5(_NAMESPACE, found.smtp)),
        "displayName": found.display_name,
        "mail": found.smtp,
        "userPrincipalName": found.smtp,
    }
    return Answer(200, apply_select(body, ctx.query.get("$select")), returns="user")
