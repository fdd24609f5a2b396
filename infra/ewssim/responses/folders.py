"""EWS operations on folders: GetFolder, and the folder-id resolution every item operation shares.

FindFolder and CreateFolder (the folder tree: secondary calendars) are in folder_tree.py; they
render folders with render_folder() below.
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.ewssim.errors import EwsError
from infra.ewssim.models.access import can_view_private, effective_rights, require_visible
from infra.ewssim.models.mailbox import Folder, Mailbox
from infra.ewssim.models.permissions import PermissionLevel
from infra.ewssim.namespaces import Element, add, local_name, m, t
from infra.ewssim.responses import RequestContext, operation
from infra.ewssim.responses.common import error, operation_response, success

__all__ = [
    "FolderRef", "folder_shape", "get_folder", "render_folder", "resolve_folder", "resolve_folder_element",
]

_DEFAULT_SHAPE = {"DisplayName", "TotalCount", "ChildFolderCount", "UnreadCount"}


@dataclass(frozen=True)
class FolderRef:
    mailbox: Mailbox
    folder: Folder


def resolve_folder(context: RequestContext, name_or_id: str, mailbox_smtp: str | None = None) -> FolderRef:
    """A distinguished folder (of the given mailbox, else the acting user's) or a FolderId."""
    backend = context.backend
    if name_or_id.lower() in _distinguished_names():
        mailbox = backend.mailbox(mailbox_smtp or context.acting_as.smtp)
        return FolderRef(mailbox, mailbox.folder(name_or_id))
    found = backend.locate_folder(name_or_id)
    if found is None:
        raise EwsError("ErrorFolderNotFound", "The specified folder could not be found in the store.")
    return FolderRef(*found)


def resolve_folder_element(context: RequestContext, element: Element) -> FolderRef:
    """Resolve a t:DistinguishedFolderId (with optional t:Mailbox) or t:FolderId element."""
    if local_name(element) == "DistinguishedFolderId":
        smtp = element.findtext(f"{t('Mailbox')}/{t('EmailAddress')}")
        return resolve_folder(context, element.get("Id", ""), smtp)
    return resolve_folder(context, element.get("Id", ""))


def _distinguished_names() -> frozenset[str]:
    from infra.ewssim.models.mailbox import DISTINGUISHED_FOLDERS

    return frozenset(DISTINGUISHED_FOLDERS)


@operation("GetFolder")
def get_folder(context: RequestContext, request: Element) -> Element:
    """Folder metadata for each requested folder id; rights follow the folder's permissions."""
    root, messages = operation_response("GetFolder")
    wanted, every = folder_shape(request.find(m("FolderShape")))
    ids = request.find(m("FolderIds"))
    for element in ids if ids is not None else ():
        try:
            ref = resolve_folder_element(context, element)
            level = require_visible(
                context.backend, context.acting_as, ref.mailbox.smtp, ref.folder.folder_id
            )
        except EwsError as failure:
            message = error(messages, "GetFolderResponseMessage", failure)
            add(message, m("Folders"))
            continue
        message = success(messages, "GetFolderResponseMessage")
        folders = add(message, m("Folders"))
        render_folder(folders, context, ref, level, wanted, every)
    return root


def folder_shape(shape: Element | None) -> tuple[set[str], bool]:
    """The folder properties a FolderShape asks for (local names), and whether it asks for all."""
    base = shape.findtext(t("BaseShape"), "IdOnly") if shape is not None else "IdOnly"
    wanted = {"FolderId"} | (_DEFAULT_SHAPE if base == "Default" else set())
    if shape is not None:
        for uri in shape.iterfind(f"{t('AdditionalProperties')}/{t('FieldURI')}"):
            wanted.add(uri.get("FieldURI", "").partition(":")[2])
    return wanted, base == "AllProperties"


def render_folder(
    parent: Element,
    context: RequestContext,
    ref: FolderRef,
    level: PermissionLevel,
    wanted: set[str],
    every: bool,
) -> None:
    """Append one t:Folder or t:CalendarFolder with the wanted properties, in schema order."""
    folder, mailbox = ref.folder, ref.mailbox
    is_calendar = folder.is_calendar
    element = add(parent, t("CalendarFolder" if is_calendar else "Folder"))

    def want(name: str) -> bool:
        return every or name in wanted

    add(element, t("FolderId"), Id=folder.folder_id, ChangeKey=folder.change_key)
    if want("ParentFolderId") and folder.parent_id:
        parent_folder = mailbox.folder(folder.parent_id)
        add(element, t("ParentFolderId"), Id=parent_folder.folder_id, ChangeKey=parent_folder.change_key)
    if want("FolderClass") and not folder.is_tree_root:
        add(element, t("FolderClass"), folder.folder_class)
    if want("DisplayName"):
        add(element, t("DisplayName"), folder.display_name)
    if want("TotalCount"):
        add(element, t("TotalCount"), str(len(folder.items)))
    if want("ChildFolderCount"):
        add(element, t("ChildFolderCount"), str(len(mailbox.children(folder))))
    if want("EffectiveRights"):
        rights = effective_rights(level, can_view_private(mailbox, context.acting_as))
        container = add(element, t("EffectiveRights"))
        for tag, value in (
            ("CreateAssociated", rights.create_associated),
            ("CreateContents", rights.create_contents),
            ("CreateHierarchy", rights.create_hierarchy),
            ("Delete", rights.delete),
            ("Modify", rights.modify),
            ("Read", rights.read),
            ("ViewPrivateItems", rights.view_private_items),
        ):
            add(container, t(tag), "true" if value else "false")
    if want("DistinguishedFolderId") and folder.distinguished_id:
        add(element, t("DistinguishedFolderId"), folder.distinguished_id)
    if want("UnreadCount") and not is_calendar:
        unread = sum(1 for item in folder.items.values() if getattr(item, "is_read", True) is False)
        add(element, t("UnreadCount"), str(unread))
