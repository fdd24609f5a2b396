"""The EWS operation SyncFolderItems: parse the request, ask the folder's ledger, render the changes.

The behaviour (paging, sync states, ErrorInvalidSyncStateData) is in models/folder_sync.py, with
the Microsoft documentation it follows. Reading needs what FindItem needs: Reviewer or better on
the folder; private items are masked for delegates without "view private items", as FindItem
masks them. SyncFolderItems, like FindItem, never returns bodies.
"""

from __future__ import annotations

from infra.ewssim.errors import EwsError, SchemaValidationError
from infra.ewssim.models.access import folder_access, hides_private_content
from infra.ewssim.models.folder_sync import MAX_CHANGES_RETURNED, ChangeKind, SyncPage, sync_folder_items
from infra.ewssim.models.permissions import PermissionLevel
from infra.ewssim.namespaces import Element, add, m, t
from infra.ewssim.responses import RequestContext, operation
from infra.ewssim.responses.common import error, operation_response, success
from infra.ewssim.responses.folders import FolderRef, resolve_folder_element
from infra.ewssim.responses.item_values import ews_bool
from infra.ewssim.responses.item_xml import Shape, parse_shape, render_item
from infra.ewssim.responses.items import render_context

__all__ = ["sync_folder_items_operation"]

_MESSAGE = "SyncFolderItemsResponseMessage"
_ACCESS_DENIED = "Access is denied. Check credentials and try again."
_SCOPES = ("NormalItems", "NormalAndAssociatedItems")  # the simulator has no associated items


def _max_changes(request: Element) -> int:
    """MaxChangesReturned, which the schema bounds to 1-512 (checked here too when the schema is off)."""
    raw = (request.findtext(m("MaxChangesReturned")) or "").strip()
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_CHANGES_RETURNED:
        raise SchemaValidationError(f"MaxChangesReturned must be 1 to {MAX_CHANGES_RETURNED}, not {raw!r}.")
    return value


def _ignored(request: Element) -> frozenset[str]:
    ignore = request.find(m("Ignore"))
    return frozenset(e.get("Id", "") for e in ignore) if ignore is not None else frozenset()


@operation("SyncFolderItems")
def sync_folder_items_operation(context: RequestContext, request: Element) -> Element:
    """One page of the changes to a folder since the request's SyncState."""
    root, messages = operation_response("SyncFolderItems")
    shape = parse_shape(request.find(m("ItemShape")), with_body=False)
    limit = _max_changes(request)
    scope = request.findtext(m("SyncScope"))
    if scope is not None and scope not in _SCOPES:
        raise SchemaValidationError(f"SyncScope must be one of {', '.join(_SCOPES)}, not {scope!r}.")
    folder = request.find(m("SyncFolderId"))
    if folder is None or len(folder) == 0:
        raise SchemaValidationError("SyncFolderItems needs a SyncFolderId.")
    try:
        ref = resolve_folder_element(context, folder[0])
        level = folder_access(context.backend, context.acting_as, ref.mailbox.smtp, ref.folder.folder_id)
        if not level.can_read_items():
            raise EwsError("ErrorAccessDenied", _ACCESS_DENIED)
        page = sync_folder_items(
            context.backend,
            ref.mailbox,
            ref.folder,
            request.findtext(m("SyncState")) or None,
            limit,
            _ignored(request),
        )
    except EwsError as failure:
        # As Exchange answers an invalid state: the error, an empty SyncState, IncludesLastItemInRange.
        message = error(messages, _MESSAGE, failure)
        add(message, m("SyncState"))
        add(message, m("IncludesLastItemInRange"), "true")
        return root
    _render_page(context, success(messages, _MESSAGE), ref, level, shape, page)
    return root


def _render_page(
    context: RequestContext,
    message: Element,
    ref: FolderRef,
    level: PermissionLevel,
    shape: Shape,
    page: SyncPage,
) -> None:
    add(message, m("SyncState"), page.sync_state)
    add(message, m("IncludesLastItemInRange"), ews_bool(page.includes_last_item_in_range))
    container = add(message, m("Changes"))
    render = render_context(context, ref.mailbox, level)
    for change in page.changes:
        element = add(container, t(change.kind.value))
        if change.item is not None:
            masked = hides_private_content(ref.mailbox, context.acting_as, change.item)
            render_item(element, change.item, shape, render, masked=masked)
            continue
        add(element, t("ItemId"), Id=change.item_id)
        if change.kind is ChangeKind.READ_FLAG_CHANGE:
            add(element, t("IsRead"), ews_bool(change.is_read))
