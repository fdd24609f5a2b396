"""Attendee answers to meetings: AcceptItem, TentativelyAcceptItem and DeclineItem in CreateItem."""

from __future__ import annotations

from infra.ewssim.errors import EwsError
from infra.ewssim.models import calendar
from infra.ewssim.models.items import Item
from infra.ewssim.namespaces import Element, local_name, t
from infra.ewssim.responses import RequestContext
from infra.ewssim.responses.items import locate_item

__all__ = ["RESPONSE_ELEMENTS", "answer_meeting"]

# Response object element -> the answer it gives, as calendar.respond names it.
RESPONSE_ELEMENTS = {"AcceptItem": "Accept", "TentativelyAcceptItem": "Tentative", "DeclineItem": "Decline"}


def answer_meeting(context: RequestContext, element: Element, disposition: str) -> list[Item]:
    """Answer the meeting a ReferenceItemId names (a meeting request or the attendee's calendar
    item); SaveOnly records the answer without telling the organiser. Returns the attendee's
    calendar item, whose id Exchange reports back."""
    reference = element.find(t("ReferenceItemId"))
    if reference is None:
        raise EwsError("ErrorMissingInformationReferenceItemId", "The response has no ReferenceItemId.")
    located = locate_item(context, reference)
    if not located.level.can_write_items():
        raise EwsError("ErrorAccessDenied", "Access is denied. Check credentials and try again.")
    body = element.findtext(t("Body")) or ""
    copy = calendar.respond(
        context.backend,
        located.mailbox,
        located.item,
        RESPONSE_ELEMENTS[local_name(element)],
        send=disposition != "SaveOnly",
        body=body,
    )
    return [copy]
