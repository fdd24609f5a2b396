"""translateExchangeIds: ewsId <-> restId (and restImmutableEntryId, the same text here).
https://learn.microsoft.com/en-us/graph/api/user-translateexchangeids: inputIds (at most 1,000),
sourceIdType, targetIdType -> value[] of convertIdResult {sourceId, targetId}."""

from __future__ import annotations

from typing import Any

from infra.ewssim.models.items import is_well_formed_id
from infra.graphsim.context import GraphContext
from infra.graphsim.errors import GraphError
from infra.graphsim.models.ids import ews_id, rest_id
from infra.graphsim.routes import READ, Answer, route

__all__: list[str] = []

_SUPPORTED = ("ewsId", "restId", "restImmutableEntryId")
MAX_IDS = 1000


@route("POST", "/users/{user}/translateExchangeIds", name="translateExchangeIds", roles=READ)
def translate_exchange_ids(ctx: GraphContext) -> Answer:
    body = ctx.body_object()
    ids = body.get("inputIds")
    source, target = body.get("sourceIdType"), body.get("targetIdType")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids) or len(ids) > MAX_IDS:
        raise GraphError(400, "ErrorInvalidParameter", f"inputIds must be a list of at most {MAX_IDS} ids.")
    if source not in _SUPPORTED or target not in _SUPPORTED:
        raise GraphError(
            400, "ErrorInvalidParameter", f"The simulator translates between {', '.join(_SUPPORTED)}."
        )
    value: list[dict[str, Any]] = []
    mailbox = ctx.service.backend.mailbox(ctx.mailbox)
    for given in ids:
        exchange = ews_id(given) if source != "ewsId" else given
        if not is_well_formed_id(exchange) or mailbox.find_item(exchange) is None:
            value.append(
                {
                    "sourceId": given,
                    "targetId": None,
                    "errorDetails": {"code": "ErrorInvalidIdMalformed", "message": "Id is malformed."},
                }
            )
            continue
        value.append({"sourceId": given, "targetId": exchange if target == "ewsId" else rest_id(exchange)})
    return Answer(200, {"value": value}, returns="Collection(convertIdResult)")
