"""ConvertId: the request exchangelib sends to guess a server's version.

The simulator's ids have one format, so "converting" an id it knows returns the same id in the
requested format; an id it does not know is ErrorInvalidIdMalformed, which is what exchangelib's
version guess (ConvertId of "DUMMY") receives from a real server.
"""

from __future__ import annotations

from infra.ewssim.errors import EwsError
from infra.ewssim.namespaces import Element, add, m
from infra.ewssim.responses import operation
from infra.ewssim.responses.common import error, operation_response, success
from infra.ewssim.responses.context import RequestContext

_XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"


@operation("ConvertId")
def convert_id(ctx: RequestContext, body: Element) -> Element:
    destination = body.get("DestinationFormat", "EwsId")
    root, messages = operation_response("ConvertId")
    source_ids = body.find(m("SourceIds"))
    for source in [] if source_ids is None else list(source_ids):
        item_id, mailbox = source.get("Id", ""), (source.get("Mailbox") or "").lower()
        box = ctx.backend.mailboxes.get(mailbox)
        if box is None or box.find_item(item_id) is None:
            error(
                messages, "ConvertIdResponseMessage", EwsError("ErrorInvalidIdMalformed", "Id is malformed.")
            )
            continue
        message = success(messages, "ConvertIdResponseMessage")
        converted = add(message, m("AlternateId"), Format=destination, Id=item_id, Mailbox=mailbox)
        converted.set(_XSI_TYPE, "t:AlternateIdType")
    return root


__all__ = ["convert_id"]
