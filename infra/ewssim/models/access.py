"""Exchange's access rules for one principal acting on a mailbox folder.

The acting principal is the impersonated user when there is one, else the caller. Owners have
full access; anyone else gets what the folder's permissions grant them (their own entry, else
the folder's "default" entry, else None; the Calendar's Default is FreeBusyTimeOnly out of the
box). Reading items needs Reviewer or better; creating, changing or deleting another's items needs
Editor or Delegate (Exchange lets an Author create but this simulator follows the stricter rule
the pipeline depends on).
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.ewssim.errors import EwsError
from infra.ewssim.models.backend import EwsBackend
from infra.ewssim.models.directory import Principal
from infra.ewssim.models.items import Item
from infra.ewssim.models.mailbox import DEFAULT_CALENDAR_LEVEL, DEFAULT_GRANTEE, Folder, Mailbox
from infra.ewssim.models.permissions import PermissionLevel

__all__ = [
    "EffectiveRights",
    "can_view_private",
    "effective_rights",
    "folder_access",
    "hides_private_content",
    "require_read",
    "require_visible",
    "require_write",
]


def folder_access(
    backend: EwsBackend, acting_as: Principal, mailbox_smtp: str, folder: str
) -> PermissionLevel:
    """The level `acting_as` holds on a folder (distinguished name or FolderId) of a mailbox.

    Raises ErrorNonExistentMailbox for an unknown mailbox and ErrorFolderNotFound for an
    unknown folder.
    """
    mailbox = backend.mailbox(mailbox_smtp)
    if acting_as.smtp == mailbox.smtp:
        return PermissionLevel.OWNER
    return mailbox.permission_for(folder, acting_as.smtp)


def _denied(acting_as: Principal, mailbox_smtp: str, what: str) -> EwsError:
    return EwsError(
        "ErrorAccessDenied",
        f"{acting_as.smtp} does not have permission to {what} in the mailbox {mailbox_smtp.lower()}.",
    )


def require_read(
    backend: EwsBackend, acting_as: Principal, mailbox_smtp: str, folder: str
) -> PermissionLevel:
    """The level, if it lets `acting_as` read items in the folder; else ErrorAccessDenied."""
    level = folder_access(backend, acting_as, mailbox_smtp, folder)
    if not level.can_read_items():
        raise _denied(acting_as, mailbox_smtp, "read items")
    return level


def require_write(
    backend: EwsBackend, acting_as: Principal, mailbox_smtp: str, folder: str
) -> PermissionLevel:
    """The level, if it lets `acting_as` create, change or delete items; else ErrorAccessDenied."""
    level = folder_access(backend, acting_as, mailbox_smtp, folder)
    if not level.can_write_items():
        raise _denied(acting_as, mailbox_smtp, "change items")
    return level


def require_visible(
    backend: EwsBackend, acting_as: Principal, mailbox_smtp: str, folder: str
) -> PermissionLevel:
    """GetFolder: a folder is visible with any grant on it.

    The root folders count as visible to anyone holding a grant on some folder of the mailbox,
    which is what Exchange's delegate setup ("folder visible" on the root) gives them, and what
    exchangelib needs before it can open another mailbox's calendar.
    """
    mailbox = backend.mailbox(mailbox_smtp)
    level = folder_access(backend, acting_as, mailbox_smtp, folder)
    if level is not PermissionLevel.NONE:
        return level
    if mailbox.folder(folder).distinguished_id in ("root", "msgfolderroot") and any(
        _opens_the_tree(other, acting_as.smtp) for other in mailbox.all_folders()
    ):
        return PermissionLevel.NONE
    raise _denied(acting_as, mailbox_smtp, "open the folder")


def _opens_the_tree(folder: Folder, grantee: str) -> bool:
    """A grant that makes the root visible: the grantee's own entry above None, or a Default entry
    above the free/busy times that everyone sees of a calendar out of the box (AvailabilityOnly
    shows times, not folders)."""
    own = folder.permissions.get(grantee)
    if own is not None:
        return own is not PermissionLevel.NONE
    default = folder.permissions.get(DEFAULT_GRANTEE)
    return default is not None and default.rank > DEFAULT_CALENDAR_LEVEL.rank


def can_view_private(mailbox: Mailbox, acting_as: Principal) -> bool:
    """Owners see their private items; others only when granted "view private items"."""
    return acting_as.smtp == mailbox.smtp or acting_as.smtp in mailbox.private_item_viewers


def hides_private_content(mailbox: Mailbox, acting_as: Principal, item: Item) -> bool:
    """Whether the item's subject, body, location and attendees must be withheld from this reader."""
    return item.sensitivity == "Private" and not can_view_private(mailbox, acting_as)


@dataclass(frozen=True)
class EffectiveRights:
    """What EWS reports in EffectiveRights for a folder or item."""

    create_associated: bool
    create_contents: bool
    create_hierarchy: bool
    delete: bool
    modify: bool
    read: bool
    view_private_items: bool


def effective_rights(level: PermissionLevel, view_private: bool) -> EffectiveRights:
    """The rights a permission level gives, as EWS spells them."""
    owner = level is PermissionLevel.OWNER
    write = level.can_write_items()
    return EffectiveRights(
        create_associated=write,
        create_contents=level.rank >= PermissionLevel.AUTHOR.rank,
        create_hierarchy=owner,
        delete=write,
        modify=write,
        read=level.can_read_items(),
        view_private_items=view_private,
    )
