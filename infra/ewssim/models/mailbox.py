"""A mailbox: its folder tree (distinguished folders and the folders users add), their items and
who may see them. Creating and finding folders by path lives in folder_tree.py."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from infra.ewssim.errors import EwsError
from infra.ewssim.models.items import Item, MessageItem, new_change_key, new_item_id
from infra.ewssim.models.permissions import PermissionLevel

# Distinguished folder ids (as EWS names them) that every simulated mailbox has, with display names.
DISTINGUISHED_FOLDERS: dict[str, str] = {
    "msgfolderroot": "Top of Information Store",
    "root": "Root",
    "calendar": "Calendar",
    "inbox": "Inbox",
    "deleteditems": "Deleted Items",
    "sentitems": "Sent Items",
    "drafts": "Drafts",
    # Where SoftDelete puts items: out of sight of clients, as Exchange's dumpster is.
    "recoverableitemsdeletions": "Deletions",
}
# The parent of each distinguished folder: root > msgfolderroot > the mail and calendar folders.
_DISTINGUISHED_PARENTS = {"root": "", "msgfolderroot": "root", "recoverableitemsdeletions": "root"}
CALENDAR_CLASS = "IPF.Appointment"
# The grantee name of a folder's Default entry, and the level the Calendar's has out of the box.
DEFAULT_GRANTEE = "default"
DEFAULT_CALENDAR_LEVEL = PermissionLevel.FREE_BUSY_TIME_ONLY


@dataclass
class Folder:
    distinguished_id: str  # "" for a folder a user created (a secondary calendar, say)
    display_name: str
    mailbox: str
    folder_id: str = field(default_factory=new_item_id)
    change_key: str = field(default_factory=new_change_key)
    items: dict[str, Item] = field(default_factory=dict)
    # Grantee SMTP address (or "default" / "anonymous") -> level. Each folder has its own, as in
    # Exchange: a grant on Calendar says nothing about a calendar beneath it.
    permissions: dict[str, PermissionLevel] = field(default_factory=dict)
    parent_id: str = ""  # "" for the root of the tree
    kind: str = ""  # the FolderClass of a created folder; distinguished folders derive theirs

    @property
    def folder_class(self) -> str:
        if self.kind:
            return self.kind
        return CALENDAR_CLASS if self.distinguished_id == "calendar" else "IPF.Note"

    @property
    def is_calendar(self) -> bool:
        return self.folder_class == CALENDAR_CLASS

    @property
    def is_tree_root(self) -> bool:
        """root and msgfolderroot (and the dumpster): folders without a FolderClass of their own."""
        return self.distinguished_id in _DISTINGUISHED_PARENTS


def _meeting_uid(item: Item) -> str:
    """The UID of the meeting an item is (a calendar item) or is about (a meeting message)."""
    return getattr(item, "uid", "") or getattr(item, "meeting_uid", "")


class Mailbox:
    """All folders of one principal. The lock guards item maps against concurrent requests."""

    def __init__(self, smtp: str) -> None:
        self.smtp = smtp.lower()
        self.lock = threading.RLock()
        self.folders: dict[str, Folder] = {
            name: Folder(distinguished_id=name, display_name=display, mailbox=self.smtp)
            for name, display in DISTINGUISHED_FOLDERS.items()
        }
        # Out of the box, Exchange gives Default the AvailabilityOnly role on the calendar (EWS calls
        # it FreeBusyTimeOnly): everyone in the organisation sees its free/busy times. Other folders
        # start with Default None; a folder created beneath one starts with its parent's entries.
        self.folders["calendar"].permissions[DEFAULT_GRANTEE] = DEFAULT_CALENDAR_LEVEL
        self._by_id: dict[str, Folder] = {f.folder_id: f for f in self.folders.values()}
        for folder in self.folders.values():
            parent = _DISTINGUISHED_PARENTS.get(folder.distinguished_id, "msgfolderroot")
            folder.parent_id = self.folders[parent].folder_id if parent else ""
        # Delegates allowed to see the content of Private items (Exchange's "view private items").
        self.private_item_viewers: set[str] = set()
        # Meeting UID -> ids of the items carrying it, calendar items and meeting messages (items
        # stored through put()), so that delivering an invitation does not scan a calendar or an
        # inbox that grows with every booking.
        self._by_uid: dict[str, list[str]] = {}

    def folder(self, distinguished_or_id: str) -> Folder:
        """A folder by distinguished id (calendar, inbox, ...) or by FolderId."""
        found = self.folders.get(distinguished_or_id.lower()) or self._by_id.get(distinguished_or_id)
        if found is None:
            raise EwsError("ErrorFolderNotFound", f"Folder {distinguished_or_id} not found.")
        return found

    def owns_folder(self, folder_id: str) -> bool:
        return folder_id in self._by_id

    def all_folders(self) -> list[Folder]:
        """Every folder of the mailbox, distinguished and created."""
        with self.lock:
            return list(self._by_id.values())

    def children(self, folder: Folder) -> list[Folder]:
        """The folders directly beneath `folder`, in creation order."""
        with self.lock:
            return [f for f in self._by_id.values() if f.parent_id == folder.folder_id]

    def add_folder(self, folder: Folder) -> Folder:
        """Register a created folder (folder_tree.create_folder checks the name and parent)."""
        with self.lock:
            self._by_id[folder.folder_id] = folder
        return folder

    def find_item(self, item_id: str) -> Item | None:
        with self.lock:
            for folder in self._by_id.values():
                item = folder.items.get(item_id)
                if item is not None:
                    return item
        return None

    def put(self, folder_name: str, item: Item) -> Item:
        folder = self.folder(folder_name)
        with self.lock:
            item.folder_id = folder.folder_id
            item.mailbox = self.smtp
            folder.items[item.item_id] = item
            uid = _meeting_uid(item)
            if uid:
                self._by_uid.setdefault(uid, []).append(item.item_id)
        return item

    def remove(self, item: Item) -> None:
        with self.lock:
            for folder in self._by_id.values():
                folder.items.pop(item.item_id, None)
            holders = self._by_uid.get(_meeting_uid(item))
            if holders and item.item_id in holders:
                holders.remove(item.item_id)

    def move(self, item: Item, folder_name: str) -> Folder:
        """Move an item to another folder of this mailbox; returns the folder it came from."""
        target = self.folder(folder_name)
        with self.lock:
            source = self._by_id[item.folder_id]
            source.items.pop(item.item_id, None)
            item.folder_id = target.folder_id
            target.items[item.item_id] = item
        return source

    def find_by_uid(self, uid: str, folder_name: str = "calendar") -> Item | None:
        """The calendar item of a meeting (by its UID) in one folder, among items put()."""
        folder = self.folder(folder_name)
        with self.lock:
            for item_id in self._by_uid.get(uid, ()):
                item = folder.items.get(item_id)
                if item is not None and getattr(item, "uid", None) == uid:
                    return item
        return None

    def meeting_messages(self, uid: str) -> list[MessageItem]:
        """The meeting messages (requests, updates, answers, cancellations) about a meeting that this
        mailbox holds, in any folder, oldest first."""
        with self.lock:
            found = [self.find_item(item_id) for item_id in self._by_uid.get(uid, ())]
        return [item for item in found if isinstance(item, MessageItem) and item.meeting_uid == uid]

    def folder_of(self, item: Item) -> Folder:
        return self._by_id[item.folder_id]

    def permission_for(self, folder_name: str, grantee: str) -> PermissionLevel:
        """The level a grantee holds on a folder: owners hold Owner, others their grant or Default."""
        grantee = grantee.lower()
        if grantee == self.smtp:
            return PermissionLevel.OWNER
        folder = self.folder(folder_name)
        found = folder.permissions.get(grantee) or folder.permissions.get(DEFAULT_GRANTEE)
        return found or PermissionLevel.NONE
