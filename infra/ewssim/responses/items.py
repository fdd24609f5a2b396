"""EWS operations that read items: FindItem (with CalendarView and restrictions) and GetItem.

The operations that change items live in item_changes.py and meeting_responses.py; they are
imported at the bottom so that importing this module registers them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from infra.ewssim.errors import EwsError
from infra.ewssim.models.access import (
    can_view_private,
    effective_rights,
    folder_access,
    hides_private_content,
)
from infra.ewssim.models.items import CalendarItem, Item
from infra.ewssim.models.mailbox import Mailbox
from infra.ewssim.models.permissions import PermissionLevel
from infra.ewssim.namespaces import Element, add, m, new, t
from infra.ewssim.responses import RequestContext, operation
from infra.ewssim.responses.common import error, operation_response, success
from infra.ewssim.responses.folders import FolderRef, resolve_folder_element
from infra.ewssim.responses.item_fields import RenderContext
from infra.ewssim.responses.item_values import parse_datetime
from infra.ewssim.responses.item_xml import Shape, parse_shape, render_item
from infra.ewssim.responses.restrictions import Predicate, compile_restriction, compile_sort
from infra.ewssim.versions import omitted_fields

__all__ = ["LocatedItem", "find_item", "get_item", "locate_item", "render_context"]

# What someone with only free/busy rights sees of a calendar item in a CalendarView.
_FREE_BUSY_FIELDS = frozenset(
    {
        "item:ItemId",
        "calendar:Start",
        "calendar:End",
        "calendar:LegacyFreeBusyStatus",
        "calendar:IsAllDayEvent",
        "calendar:CalendarItemType",
    }
)
_SUBJECT_AND_LOCATION = frozenset({"item:Subject", "calendar:Location"})


@dataclass(frozen=True)
class LocatedItem:
    mailbox: Mailbox
    item: Item
    level: PermissionLevel


def locate_item(context: RequestContext, item_id: Element) -> LocatedItem:
    """The item an ItemId names with the acting user's level on its folder (not yet checked)."""
    found = context.backend.locate_item(item_id.get("Id", ""))
    if found is None:
        raise EwsError("ErrorItemNotFound", "The specified object was not found in the store.")
    mailbox, item = found
    level = folder_access(context.backend, context.acting_as, mailbox.smtp, item.folder_id)
    return LocatedItem(mailbox, item, level)


def render_context(context: RequestContext, mailbox: Mailbox, level: PermissionLevel) -> RenderContext:
    """Rights and name lookup for rendering items of one mailbox to the acting user."""
    view_private = can_view_private(mailbox, context.acting_as)
    rights = effective_rights(level, view_private)
    directory = context.backend.directory

    def display_name(email: str) -> str:
        principal = directory.find(email)
        return principal.display_name if principal else email

    return RenderContext(
        (rights.create_associated, rights.create_contents, rights.create_hierarchy, rights.delete,
         rights.modify, rights.read),
        view_private,
        display_name,
        omitted_fields(context.request_version),
    )  # fmt: skip


@operation("GetItem")
def get_item(context: RequestContext, request: Element) -> Element:
    """Each requested item with the properties the shape asks for; Reviewer or better to read."""
    root, messages = operation_response("GetItem")
    shape = parse_shape(request.find(m("ItemShape")))
    ids = request.find(m("ItemIds"))
    for item_id in ids if ids is not None else ():
        try:
            located = locate_item(context, item_id)
            if not located.level.can_read_items():
                raise EwsError("ErrorAccessDenied", "Access is denied. Check credentials and try again.")
        except EwsError as failure:
            add(error(messages, "GetItemResponseMessage", failure), m("Items"))
            continue
        items = add(success(messages, "GetItemResponseMessage"), m("Items"))
        masked = hides_private_content(located.mailbox, context.acting_as, located.item)
        render_item(items, located.item, shape, render_context(context, located.mailbox, located.level),
                    masked=masked)  # fmt: skip
    return root


@operation("FindItem")
def find_item(context: RequestContext, request: Element) -> Element:
    """Items of each folder: a CalendarView window, or a page of the folder with a restriction."""
    root, messages = operation_response("FindItem")
    shape = parse_shape(request.find(m("ItemShape")), with_body=False)
    folders = request.find(m("ParentFolderIds"))
    for folder_id in folders if folders is not None else ():
        try:
            ref = resolve_folder_element(context, folder_id)
            message = _find_in_folder(context, request, ref, shape)
        except EwsError as failure:
            error(messages, "FindItemResponseMessage", failure)
            continue
        messages.append(message)
    return root


def _find_in_folder(context: RequestContext, request: Element, ref: FolderRef, shape: Shape) -> Element:
    level = folder_access(context.backend, context.acting_as, ref.mailbox.smtp, ref.folder.folder_id)
    view = request.find(m("CalendarView"))
    restriction = compile_restriction(request.find(m("Restriction")))
    if view is not None:
        if restriction is not None or request.find(m("SortOrder")) is not None:
            raise EwsError(
                "ErrorInvalidRestriction",
                "Restrictions and sort order may not be specified for a CalendarView.",
            )
        # Exchange serves CalendarView to free/busy grantees too, with only free/busy properties.
        if level.rank < PermissionLevel.FREE_BUSY_TIME_ONLY.rank:
            raise EwsError("ErrorAccessDenied", "Access is denied. Check credentials and try again.")
        if not level.can_read_items():
            allowed = _FREE_BUSY_FIELDS | (
                _SUBJECT_AND_LOCATION if level.free_busy_shows_details() else frozenset()
            )
            shape = Shape("IdOnly", shape.uris & allowed if shape.base == "IdOnly" else allowed, (), False)
        page = _calendar_view(ref, view, context.time_zone or "UTC")
    else:
        if not level.can_read_items():
            raise EwsError("ErrorAccessDenied", "Access is denied. Check credentials and try again.")
        page = _page(ref, request, restriction)
    message, container = _find_message(page)
    render = render_context(context, ref.mailbox, level)
    for item in page.items:
        masked = hides_private_content(ref.mailbox, context.acting_as, item)
        render_item(container, item, shape, render, masked=masked)
    return message


@dataclass(frozen=True)
class _Page:
    items: Sequence[Item]
    total: int
    complete: bool
    next_offset: int | None = None  # IndexedPagingOffset, for indexed views only


def _find_message(page: _Page) -> tuple[Element, Element]:
    """A detached FindItemResponseMessage and its t:Items container to fill."""
    message = new(m("FindItemResponseMessage"), ResponseClass="Success")
    add(message, m("ResponseCode"), "NoError")
    attrs = {"TotalItemsInView": str(page.total), "IncludesLastItemInRange": str(page.complete).lower()}
    if page.next_offset is not None:
        attrs["IndexedPagingOffset"] = str(page.next_offset)
    root_folder = add(message, m("RootFolder"), **attrs)
    return message, add(root_folder, t("Items"))


def _snapshot(ref: FolderRef) -> list[Item]:
    with ref.mailbox.lock:
        return list(ref.folder.items.values())


def _calendar_view(ref: FolderRef, view: Element, zone: str) -> _Page:
    """Calendar items overlapping [StartDate, EndDate), by start; zero-length ones at their start.
    Dates without an offset are in `zone`, the request's TimeZoneContext."""
    start = parse_datetime(view.get("StartDate", ""), zone)
    end = parse_datetime(view.get("EndDate", ""), zone)
    if end < start:
        raise EwsError("ErrorCalendarEndDateIsEarlierThanStartDate", "EndDate is earlier than StartDate.")
    found = [
        item
        for item in _snapshot(ref)
        if isinstance(item, CalendarItem) and item.start is not None and item.end is not None
        and item.start < end and (item.end > start or (item.start == item.end and item.start >= start))
    ]  # fmt: skip
    found.sort(key=lambda item: (item.start, item.end))
    limit = int(view.get("MaxEntriesReturned", "0") or 0)
    if limit and len(found) > limit:
        return _Page(found[:limit], len(found), False)
    return _Page(found, len(found), True)


def _page(ref: FolderRef, request: Element, restriction: Predicate | None) -> _Page:
    """Items matching the restriction, sorted as asked, and the page an IndexedPageItemView names."""
    items = [item for item in _snapshot(ref) if restriction is None or restriction(item)]
    for getter, descending in reversed(compile_sort(request.find(m("SortOrder")))):
        # Unset values sort first ascending, as Exchange treats them as the lowest value.
        items.sort(key=lambda item, g=getter: _sort_key(g(item)), reverse=descending)  # type: ignore[misc]
    total = len(items)
    paging = request.find(m("IndexedPageItemView"))
    if paging is None:
        return _Page(items, total, True)
    offset = int(paging.get("Offset", "0") or 0)
    limit = int(paging.get("MaxEntriesReturned", "0") or 0) or total
    if paging.get("BasePoint") == "End":
        first = max(total - offset - limit, 0)
        page = items[first : total - offset]
    else:
        page = items[offset : offset + limit]
    return _Page(page, total, offset + len(page) >= total, offset + len(page))


def _sort_key(value: object) -> tuple[int, object]:
    if value is None:
        return (0, "")
    if isinstance(value, str):
        return (1, value.casefold())
    if isinstance(value, datetime):
        return (1, value.timestamp())
    return (1, value)


# Registered for their side effect: the write operations.
from infra.ewssim.responses import item_changes, meeting_responses  # noqa: E402

del item_changes, meeting_responses
