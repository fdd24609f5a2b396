"""EWS operations on the folder tree: FindFolder (sub-folders, by name) and CreateFolder.

FindFolder lists the folders beneath each parent (Shallow: its children, Deep: all beneath it)
that the acting user can see: all of them for the owner, else those on which they hold any grant,
as Exchange shows a delegate only the folders shared with them. A restriction may compare
folder:DisplayName or folder:FolderClass (IsEqualTo, IsNotEqualTo, Contains; And, Or, Not),
ignoring case as Exchange does. CreateFolder makes a folder beneath a parent only the owner may
add to (CreateHierarchy); a calendar's sub-folder is a calendar.
"""

from __future__ import annotations

import operator
from collections.abc import Callable

from infra.ewssim.errors import EwsError
from infra.ewssim.models.access import folder_access, require_visible
from infra.ewssim.models.folder_tree import create_folder
from infra.ewssim.models.mailbox import Folder, Mailbox
from infra.ewssim.models.permissions import PermissionLevel
from infra.ewssim.namespaces import Element, add, local_name, m, t
from infra.ewssim.responses import RequestContext, operation
from infra.ewssim.responses.common import error, operation_response, success
from infra.ewssim.responses.folders import FolderRef, folder_shape, render_folder, resolve_folder_element

__all__ = ["create_folder_operation", "find_folder"]

FolderPredicate = Callable[[Folder], bool]

_FOLDER_FIELDS: dict[str, Callable[[Folder], str]] = {
    "folder:DisplayName": lambda folder: folder.display_name,
    "folder:FolderClass": lambda folder: folder.folder_class,
}
_TRAVERSALS = ("Shallow", "Deep")


@operation("FindFolder")
def find_folder(context: RequestContext, request: Element) -> Element:
    """The visible folders beneath each parent, with the shape's properties, one page each."""
    root, messages = operation_response("FindFolder")
    traversal = request.get("Traversal", "Shallow")
    wanted, every = folder_shape(request.find(m("FolderShape")))
    restriction = request.find(m("Restriction"))
    paging = request.find(m("IndexedPageFolderView"))
    parents = request.find(m("ParentFolderIds"))
    for parent_id in parents if parents is not None else ():
        try:
            if traversal not in _TRAVERSALS:
                raise EwsError("ErrorInvalidRequest", f"ewssim supports Shallow and Deep, not {traversal}.")
            ref = resolve_folder_element(context, parent_id)
            require_visible(context.backend, context.acting_as, ref.mailbox.smtp, ref.folder.folder_id)
            matches = _compile(restriction[0]) if restriction is not None and len(restriction) else None
            found: list[tuple[Folder, PermissionLevel]] = []
            for folder in _beneath(ref.mailbox, ref.folder, deep=traversal == "Deep"):
                level = _level(context, ref.mailbox, folder)  # the owner's is Owner
                if level is not PermissionLevel.NONE and (matches is None or matches(folder)):
                    found.append((folder, level))
        except EwsError as failure:
            error(messages, "FindFolderResponseMessage", failure)
            continue
        offset, limit = _page(paging, len(found))
        page = found[offset : offset + limit]
        message = success(messages, "FindFolderResponseMessage")
        last = offset + len(page) >= len(found)
        attrs = {"TotalItemsInView": str(len(found)), "IncludesLastItemInRange": str(last).lower()}
        if not last:
            attrs["IndexedPagingOffset"] = str(offset + len(page))
        container = add(add(message, m("RootFolder"), **attrs), t("Folders"))
        for folder, level in page:
            render_folder(container, context, FolderRef(ref.mailbox, folder), level, wanted, every)
    return root


@operation("CreateFolder")
def create_folder_operation(context: RequestContext, request: Element) -> Element:
    """Create each folder beneath the parent; only the owner may (CreateHierarchy)."""
    root, messages = operation_response("CreateFolder")
    parent_id = request.find(m("ParentFolderId"))
    folders = request.find(m("Folders"))
    for element in folders if folders is not None else ():
        try:
            if parent_id is None or len(parent_id) == 0:
                raise EwsError("ErrorInvalidRequest", "CreateFolder needs a ParentFolderId.")
            ref = resolve_folder_element(context, parent_id[0])
            if _level(context, ref.mailbox, ref.folder) is not PermissionLevel.OWNER:
                raise EwsError("ErrorAccessDenied", "Access is denied. Check credentials and try again.")
            name = element.findtext(t("DisplayName")) or ""
            folder_class = element.findtext(t("FolderClass")) or (
                "IPF.Appointment" if local_name(element) == "CalendarFolder" else None
            )
            created = create_folder(ref.mailbox, ref.folder, name, folder_class)
            context.backend.locate_folder(created.folder_id)  # remember where it lives
        except EwsError as failure:
            add(error(messages, "CreateFolderResponseMessage", failure), m("Folders"))
            continue
        container = add(success(messages, "CreateFolderResponseMessage"), m("Folders"))
        element_name = "CalendarFolder" if created.is_calendar else "Folder"
        folder_element = add(container, t(element_name))
        add(folder_element, t("FolderId"), Id=created.folder_id, ChangeKey=created.change_key)
    return root


def _level(context: RequestContext, mailbox: Mailbox, folder: Folder) -> PermissionLevel:
    return folder_access(context.backend, context.acting_as, mailbox.smtp, folder.folder_id)


def _beneath(mailbox: Mailbox, parent: Folder, *, deep: bool) -> list[Folder]:
    children = mailbox.children(parent)
    if not deep:
        return children
    return [found for child in children for found in (child, *_beneath(mailbox, child, deep=True))]


def _page(paging: Element | None, total: int) -> tuple[int, int]:
    if paging is None:
        return 0, total
    offset = int(paging.get("Offset", "0") or 0)
    limit = int(paging.get("MaxEntriesReturned", "0") or 0) or total
    if paging.get("BasePoint") == "End":
        offset = max(total - offset - limit, 0)
    return offset, limit


def _compile(expression: Element) -> FolderPredicate:
    name = local_name(expression)
    if name in ("And", "Or"):
        parts = [_compile(child) for child in expression]
        combine = all if name == "And" else any
        return lambda folder: combine(part(folder) for part in parts)
    if name == "Not":
        inner = _compile(expression[0])
        return lambda folder: not inner(folder)
    if name in ("IsEqualTo", "IsNotEqualTo", "Contains"):
        getter = _field(expression[0])
        if name == "Contains":
            constant = expression.find(t("Constant"))
            needle = (constant.get("Value", "") if constant is not None else "").casefold()
            return lambda folder: needle in getter(folder).casefold()
        operand = expression.find(f"{t('FieldURIOrConstant')}/{t('Constant')}")
        if operand is None:
            raise EwsError("ErrorInvalidRestriction", "ewssim compares folder fields with constants only.")
        value = operand.get("Value", "").casefold()
        compare = operator.eq if name == "IsEqualTo" else operator.ne
        return lambda folder: bool(compare(getter(folder).casefold(), value))
    raise EwsError("ErrorInvalidRestriction", f"ewssim does not support the folder restriction {name}.")


def _field(path: Element) -> Callable[[Folder], str]:
    uri = path.get("FieldURI", "")
    getter = _FOLDER_FIELDS.get(uri)
    if local_name(path) != "FieldURI" or getter is None:
        what = uri or local_name(path)
        raise EwsError("ErrorUnsupportedPathForQuery", f"ewssim cannot search folders on {what}.")
    return getter
