"""EWS operations that change items: CreateItem, UpdateItem and DeleteItem.

Response objects about meetings (AcceptItem and friends, CancelCalendarItem, inside CreateItem) are
handled in meeting_responses.
"""

from __future__ import annotations

from infra.ewssim.errors import EwsError
from infra.ewssim.models import calendar
from infra.ewssim.models.access import require_write
from infra.ewssim.models.delivery import file_item, send_message
from infra.ewssim.models.items import CalendarItem, Item, MessageItem
from infra.ewssim.namespaces import Element, add, local_name, m, t
from infra.ewssim.responses import RequestContext, operation
from infra.ewssim.responses.common import error, operation_response, success
from infra.ewssim.responses.folders import FolderRef, resolve_folder, resolve_folder_element
from infra.ewssim.responses.item_fields import FIELDS, element_name
from infra.ewssim.responses.item_layouts import require_settable
from infra.ewssim.responses.item_values import extended_key, parse_attendees
from infra.ewssim.responses.item_xml import parse_item, set_extended
from infra.ewssim.responses.items import locate_item
from infra.ewssim.responses.meeting_responses import MEETING_RESPONSE_OBJECTS, answer_meeting

__all__ = ["create_item", "delete_item", "update_item"]

_ACCESS_DENIED = "Access is denied. Check credentials and try again."


def _item_id_element(parent: Element, item: Item) -> None:
    """The reply for a created or updated item: its element type with just the ItemId."""
    add(add(parent, t(element_name(item))), t("ItemId"), Id=item.item_id, ChangeKey=item.change_key)


@operation("CreateItem")
def create_item(context: RequestContext, request: Element) -> Element:
    """Create calendar items (inviting per SendMeetingInvitations), messages, or meeting answers."""
    root, messages = operation_response("CreateItem")
    disposition = request.get("MessageDisposition")
    invitations = request.get("SendMeetingInvitations")
    saved_in = request.find(m("SavedItemFolderId"))
    items = request.find(m("Items"))
    for element in items if items is not None else ():
        try:
            target = resolve_folder_element(context, saved_in[0]) if saved_in is not None else None
            if local_name(element) in MEETING_RESPONSE_OBJECTS:
                created = answer_meeting(context, element, disposition or "SendAndSaveCopy", target)
            elif local_name(element) == "CalendarItem":
                created = [_create_calendar_item(context, element, target, invitations)]
            else:
                created = _create_message(context, element, target, disposition)
        except EwsError as failure:
            add(error(messages, "CreateItemResponseMessage", failure), m("Items"))
            continue
        container = add(success(messages, "CreateItemResponseMessage"), m("Items"))
        for item in created:
            _item_id_element(container, item)
    return root


def _create_calendar_item(
    context: RequestContext, element: Element, target: FolderRef | None, invitations: str | None
) -> Item:
    item = parse_item(element, context.time_zone or "UTC")
    assert isinstance(item, CalendarItem)
    if invitations is None and item.attendees():
        raise EwsError(
            "ErrorSendMeetingInvitationsRequired", "SendMeetingInvitations is required for meetings."
        )
    target = target or resolve_folder(context, "calendar")
    require_write(context.backend, context.acting_as, target.mailbox.smtp, target.folder.folder_id)
    return calendar.create_calendar_item(
        context.backend,
        target.mailbox.smtp,
        item,
        invitations or "SendToNone",
        folder=target.folder.folder_id,
        by=context.acting_as.smtp,
    )


def _create_message(
    context: RequestContext, element: Element, target: FolderRef | None, disposition: str | None
) -> list[Item]:
    """SaveOnly keeps a draft (and returns its id); SendOnly and SendAndSaveCopy send, and return
    nothing, as Exchange does."""
    if disposition is None:
        raise EwsError("ErrorMessageDispositionRequired", "MessageDisposition is required for messages.")
    message = parse_item(element)
    assert isinstance(message, MessageItem)
    default_folder = "drafts" if disposition == "SaveOnly" else "sentitems"
    target = target or resolve_folder(context, default_folder)
    require_write(context.backend, context.acting_as, target.mailbox.smtp, target.folder.folder_id)
    message.sender = message.sender or target.mailbox.smtp
    if disposition == "SaveOnly":
        return [file_item(context.backend, target.mailbox.smtp, target.folder.folder_id, message)]
    send_message(
        context.backend,
        target.mailbox.smtp,
        message,
        save_copy=disposition == "SendAndSaveCopy",
        folder=target.folder.folder_id,
    )
    return []


@operation("UpdateItem")
def update_item(context: RequestContext, request: Element) -> Element:
    """Apply SetItemField/AppendToItemField/DeleteItemField changes, checking the ChangeKey."""
    root, messages = operation_response("UpdateItem")
    resolution = request.get("ConflictResolution", "AutoResolve")
    mode = request.get("SendMeetingInvitationsOrCancellations") or "SendToNone"
    changes = request.find(m("ItemChanges"))
    for change in changes if changes is not None else ():
        try:
            item = _update_one(context, change, resolution, mode)
        except EwsError as failure:
            add(error(messages, "UpdateItemResponseMessage", failure), m("Items"))
            continue
        message = success(messages, "UpdateItemResponseMessage")
        _item_id_element(add(message, m("Items")), item)
        add(add(message, m("ConflictResults")), t("Count"), "0")
    return root


def _update_one(context: RequestContext, change: Element, resolution: str, mode: str) -> Item:
    item_id = change.find(t("ItemId"))
    if item_id is None:
        raise EwsError("ErrorInvalidRequest", "ewssim updates items by ItemId only (no occurrences).")
    located = locate_item(context, item_id)
    if not located.level.can_write_items():
        raise EwsError("ErrorAccessDenied", _ACCESS_DENIED)
    item, mailbox = located.item, located.mailbox
    updates = change.find(t("Updates"))
    with mailbox.lock:
        # AlwaysOverwrite ignores the ChangeKey; AutoResolve and NeverOverwrite refuse a stale one.
        stale = item_id.get("ChangeKey") not in (None, item.change_key)
        if stale and resolution != "AlwaysOverwrite":
            raise EwsError(
                "ErrorIrresolvableConflict",
                "The send or update operation could not be performed because the change key passed in the "
                "request does not match the current change key for the item.",
            )
        before = calendar.MeetingSnapshot.of(item)
        for update in updates if updates is not None else ():
            _apply_update(item, update, context.time_zone)
        if isinstance(item, CalendarItem) and item.start and item.end and item.end < item.start:
            item.start, item.end = before.start, before.end
            raise EwsError("ErrorCalendarEndDateIsEarlierThanStartDate", "EndDate is earlier than StartDate.")
        item.touch(context.backend.clock.now())
    calendar.item_updated(context.backend, item, before, mode, by=context.acting_as.smtp)
    return item


def _apply_update(item: Item, update: Element, context_zone: str | None = None) -> None:
    kind = local_name(update)
    path = update[0]
    # Times without an offset: in the request's TimeZoneContext, else in the item's own zone.
    zone = context_zone or str(getattr(item, "time_zone", "UTC"))
    if kind == "DeleteItemField":
        if local_name(path) == "ExtendedFieldURI":
            item.extended_properties.pop(extended_key(path), None)
            return
        field = FIELDS.get(path.get("FieldURI", ""))
        if field is None or field.clear is None:
            raise EwsError(
                "ErrorInvalidPropertyDelete", f"The property {path.get('FieldURI')} cannot be deleted."
            )
        field.clear(item)
        return
    carrier = update[1]
    if local_name(path) == "ExtendedFieldURI":
        prop = carrier.find(t("ExtendedProperty"))
        if prop is None:
            raise EwsError(
                "ErrorInvalidRequest", "SetItemField for an extended property needs an ExtendedProperty."
            )
        set_extended(item, prop)
        return
    uri = path.get("FieldURI", "")
    field = require_settable(uri)
    value = carrier.find(t(field.tag))
    if value is None:
        raise EwsError("ErrorInvalidRequest", f"The update for {uri} carries no {field.tag} element.")
    if kind == "AppendToItemField":
        if not uri.endswith("Attendees") and uri != "calendar:Resources":
            raise EwsError("ErrorInvalidPropertyAppend", f"The property {uri} cannot be appended to.")
        attr = {"calendar:RequiredAttendees": "required_attendees", "calendar:OptionalAttendees":
                "optional_attendees", "calendar:Resources": "resources"}[uri]  # fmt: skip
        kind_name = {
            "required_attendees": "required",
            "optional_attendees": "optional",
            "resources": "resource",
        }
        getattr(item, attr).extend(parse_attendees(value, kind_name[attr]))  # type: ignore[arg-type]
        return
    assert field.apply is not None  # require_settable checked it
    field.apply(item, value, zone)


@operation("DeleteItem")
def delete_item(context: RequestContext, request: Element) -> Element:
    """Hard, soft or move-to-Deleted-Items deletes; an organiser's meeting sends cancellations."""
    root, messages = operation_response("DeleteItem")
    delete_type = request.get("DeleteType", "MoveToDeletedItems")
    cancellations = request.get("SendMeetingCancellations") or "SendToNone"
    ids = request.find(m("ItemIds"))
    for item_id in ids if ids is not None else ():
        try:
            located = locate_item(context, item_id)
            if not located.level.can_write_items():
                raise EwsError("ErrorAccessDenied", _ACCESS_DENIED)
            calendar.delete_item(context.backend, located.mailbox, located.item, delete_type, cancellations,
                                 by=context.acting_as.smtp)  # fmt: skip
        except EwsError as failure:
            error(messages, "DeleteItemResponseMessage", failure)
            continue
        success(messages, "DeleteItemResponseMessage")
    return root
