"""Response objects about meetings in CreateItem: the attendees' AcceptItem, TentativelyAcceptItem and
DeclineItem, and the organiser's CancelCalendarItem."""

from __future__ import annotations

from infra.ewssim.errors import EwsError
from infra.ewssim.models import calendar
from infra.ewssim.models.items import Item
from infra.ewssim.namespaces import Element, local_name, t
from infra.ewssim.responses import RequestContext
from infra.ewssim.responses.folders import FolderRef
from infra.ewssim.responses.items import LocatedItem, locate_item

__all__ = ["MEETING_RESPONSE_OBJECTS", "RESPONSE_ELEMENTS", "answer_meeting"]

# Response object element -> the answer it gives, as calendar.respond names it.
RESPONSE_ELEMENTS = {"AcceptItem": "Accept", "TentativelyAcceptItem": "Tentative", "DeclineItem": "Decline"}
# The response objects CreateItem takes about a meeting: the answers, and the organiser's cancellation.
CANCEL_ELEMENT = "CancelCalendarItem"
MEETING_RESPONSE_OBJECTS = frozenset({*RESPONSE_ELEMENTS, CANCEL_ELEMENT})


def answer_meeting(
    context: RequestContext, element: Element, disposition: str, saved_in: FolderRef | None = None
) -> list[Item]:
    """Answer the meeting a ReferenceItemId names (a meeting request or the attendee's calendar
    item); SaveOnly records the answer without telling the organiser, SendAndSaveCopy keeps a copy
    of the response in SavedItemFolderId (Sent Items without one). Returns the attendee's calendar
    item, whose id Exchange reports back. A CancelCalendarItem cancels the organiser's meeting."""
    reference = element.find(t("ReferenceItemId"))
    if reference is None:
        raise EwsError("ErrorMissingInformationReferenceItemId", "The response has no ReferenceItemId.")
    located = locate_item(context, reference)
    if not located.level.can_write_items():
        raise EwsError("ErrorAccessDenied", "Access is denied. Check credentials and try again.")
    if local_name(element) == CANCEL_ELEMENT:
        return _cancel(context, element, located, disposition)
    body = element.findtext(t("Body")) or ""
    folder = "sentitems"
    if saved_in is not None:
        if saved_in.mailbox is not located.mailbox:
            raise EwsError("ErrorAccessDenied", "A response is saved in the answering mailbox only.")
        folder = saved_in.folder.folder_id
    copy = calendar.respond(
        context.backend,
        located.mailbox,
        located.item,
        RESPONSE_ELEMENTS[local_name(element)],
        send=disposition != "SaveOnly",
        body=body,
        save_copy=disposition == "SendAndSaveCopy",
        saved_in=folder,
    )
    return [copy]


def _cancel(context: RequestContext, element: Element, located: LocatedItem, disposition: str) -> list[Item]:
    """CancelCalendarItem ("used to cancel a meeting"): the organiser's meeting is cancelled for every
    attendee and leaves the calendar; the answer names the cancellation kept in Sent Items, if any."""
    if disposition == "SaveOnly":
        raise EwsError("ErrorInvalidOperation", "ewssim sends meeting cancellations; it keeps no drafts.")
    body = element.findtext(t("NewBodyContent")) or element.findtext(t("Body")) or ""
    kept = calendar.cancel_meeting(
        context.backend, located.mailbox, located.item, save_copy=disposition == "SendAndSaveCopy", body=body,
        by=context.acting_as.smtp,
    )  # fmt: skip
    return [kept] if kept is not None else []
