"""Folders users add to a mailbox: secondary calendars and other sub-folders, found by path.

A path names folders by display name from the top of the information store (msgfolderroot), as
Outlook shows them: "Calendar/Interviews" is the Interviews calendar beneath the default
calendar, "Team Calendars/Sales" a calendar beneath a folder of its own at the top. Names
compare without regard to case, as Exchange compares them, and two folders with one parent
cannot share a name (ErrorFolderExists). A new folder starts with its parent's permissions, as
Exchange copies them when Outlook creates a sub-folder; after that each folder's grants are its
own. Nothing here knows XML.
"""

from __future__ import annotations

from infra.ewssim.errors import EwsError
from infra.ewssim.models.mailbox import CALENDAR_CLASS, Folder, Mailbox

__all__ = ["create_folder", "ensure_path", "folder_by_path", "lookup_folder", "split_path"]

_MAX_NAME = 255


def split_path(path: str) -> list[str]:
    """The display names along a path ("Calendar/Interviews" -> ["Calendar", "Interviews"])."""
    names = [name.strip() for name in path.strip().strip("/").split("/")]
    if not names or any(not name for name in names):
        raise EwsError("ErrorInvalidRequest", f"{path!r} is not a folder path.")
    return names


def child_named(mailbox: Mailbox, parent: Folder, name: str) -> Folder | None:
    """The folder directly beneath `parent` with this display name (case-insensitive), if any."""
    wanted = name.casefold()
    return next((f for f in mailbox.children(parent) if f.display_name.casefold() == wanted), None)


def folder_by_path(mailbox: Mailbox, path: str) -> Folder:
    """The folder at `path` beneath msgfolderroot, or ErrorFolderNotFound."""
    folder = mailbox.folder("msgfolderroot")
    for name in split_path(path):
        found = child_named(mailbox, folder, name)
        if found is None:
            raise EwsError("ErrorFolderNotFound", f"The folder {path} was not found in the store.")
        folder = found
    return folder


def lookup_folder(mailbox: Mailbox, name: str) -> Folder:
    """A folder by distinguished id ("calendar"), FolderId or path ("Calendar/Interviews")."""
    try:
        return mailbox.folder(name)
    except EwsError:
        return folder_by_path(mailbox, name)


def create_folder(mailbox: Mailbox, parent: Folder, name: str, folder_class: str | None = None) -> Folder:
    """A new folder beneath `parent`; a calendar's sub-folder is a calendar unless told otherwise."""
    name = name.strip()
    if not name or len(name) > _MAX_NAME or "/" in name:
        raise EwsError("ErrorInvalidFolderName" if not name else "ErrorInvalidRequest",
                       f"{name!r} is not a folder name ewssim accepts.")
    if not mailbox.owns_folder(parent.folder_id):
        raise EwsError("ErrorFolderNotFound", "The parent folder was not found in the store.")
    if parent.distinguished_id == "root" or parent.distinguished_id == "recoverableitemsdeletions":
        raise EwsError("ErrorCannotCreateFolder", "Folders are created beneath the top of the store.")
    with mailbox.lock:
        if child_named(mailbox, parent, name) is not None:
            raise EwsError("ErrorFolderExists", "A folder with the specified name already exists.")
        kind = folder_class or (CALENDAR_CLASS if parent.is_calendar else "IPF.Note")
        folder = Folder(
            distinguished_id="", display_name=name, mailbox=mailbox.smtp, parent_id=parent.folder_id,
            kind=kind, permissions=dict(parent.permissions),
        )
        return mailbox.add_folder(folder)


def ensure_path(mailbox: Mailbox, path: str, folder_class: str | None = None) -> Folder:
    """The folder at `path`, creating what is missing (the last one with `folder_class`)."""
    folder = mailbox.folder("msgfolderroot")
    names = split_path(path)
    for index, name in enumerate(names):
        found = child_named(mailbox, folder, name)
        last = index == len(names) - 1
        folder = found or create_folder(mailbox, folder, name, folder_class if last else None)
    return folder
