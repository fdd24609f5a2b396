"""The simulated organisation: directory, mailboxes, clock and change feed, with reset()."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from infra.ewssim.errors import EwsError
from infra.ewssim.models.clock import SimClock
from infra.ewssim.models.directory import (
    DEFAULT_GRAPH_ROLES,
    AppRegistration,
    Directory,
    Principal,
    PrincipalKind,
    RoomList,
)
from infra.ewssim.models.folder_tree import ensure_path, lookup_folder
from infra.ewssim.models.items import Item, is_well_formed_id
from infra.ewssim.models.mailbox import Folder, Mailbox
from infra.ewssim.models.permissions import PermissionLevel


@dataclass(frozen=True)
class Change:
    """One change in a folder, as notification subscriptions see it.

    event_type is the EWS event name: CreatedEvent, ModifiedEvent, DeletedEvent, MovedEvent,
    CopiedEvent or NewMailEvent.
    """

    mailbox: str
    folder_id: str
    event_type: str
    item_id: str
    old_folder_id: str = ""


ChangeListener = Callable[[Change], None]

_PRINCIPAL_KEYS = (
    ("users", PrincipalKind.USER),
    ("rooms", PrincipalKind.ROOM),
    ("service_accounts", PrincipalKind.SERVICE),
)


class SeedError(ValueError):
    """A seed names a principal it does not define (nor an earlier seed did): an owner of folders or
    grants, or a room of a room list."""


class EwsBackend:
    """Everything the simulated Exchange knows. Responses call into it; it never sees XML."""

    def __init__(self) -> None:
        self.directory = Directory()
        self.clock = SimClock()
        self.mailboxes: dict[str, Mailbox] = {}
        self._lock = threading.RLock()
        self._change_listeners: list[ChangeListener] = []
        # Hooks that other model parts (subscriptions, fault plans) register to be cleared on reset.
        self._reset_hooks: list[Callable[[], None]] = []
        # Where items and folders live, so that an ItemId or FolderId finds its mailbox without a
        # scan of every mailbox (misses fall back to a scan and are cached).
        self._item_homes: dict[str, str] = {}
        self._folder_homes: dict[str, str] = {}

    # Directory and mailboxes -------------------------------------------------------------

    def add_principal(self, principal: Principal) -> Principal:
        with self._lock:
            self.directory.add(principal)
            self.mailboxes.setdefault(principal.smtp, Mailbox(principal.smtp))
        return principal

    def mailbox(self, smtp: str) -> Mailbox:
        """The mailbox of an existing principal, or ErrorNonExistentMailbox."""
        principal = self.directory.get(smtp)
        return self.mailboxes[principal.smtp]

    def grant_folder_permission(
        self, owner: str, grantee: str, level: PermissionLevel, folder: str = "calendar"
    ) -> None:
        """Set a grantee's level on one folder: a distinguished id, a FolderId or a path."""
        lookup_folder(self.mailbox(owner), folder).permissions[grantee.lower()] = level

    def create_folder(self, owner: str, path: str, folder_class: str | None = None) -> Folder:
        """The folder at `path` ("Calendar/Interviews"), created with any missing parents.

        Beneath Calendar a folder is a calendar; elsewhere pass folder_class="IPF.Appointment".
        """
        mailbox = self.mailbox(owner)
        folder = ensure_path(mailbox, path, folder_class)
        self._folder_homes[folder.folder_id] = mailbox.smtp
        return folder

    def grant_private_items(self, owner: str, grantee: str, allowed: bool = True) -> None:
        """Let a delegate see the content of the owner's Private items (or stop it)."""
        viewers = self.mailbox(owner).private_item_viewers
        if allowed:
            viewers.add(grantee.lower())
        else:
            viewers.discard(grantee.lower())

    def store(self, smtp: str, folder_name: str, item: Item) -> Item:
        """Put an item in a mailbox folder and remember where it lives (no change event)."""
        self.mailbox(smtp).put(folder_name, item)
        self._item_homes[item.item_id] = item.mailbox
        return item

    def locate_item(self, item_id: str) -> tuple[Mailbox, Item] | None:
        """The mailbox and item for an ItemId in any mailbox, or None; ErrorInvalidIdMalformed for
        text that is no id at all."""
        if not is_well_formed_id(item_id):
            raise EwsError("ErrorInvalidIdMalformed", "Id is malformed.")
        home = self._item_homes.get(item_id)
        if home is not None and home in self.mailboxes:
            item = self.mailboxes[home].find_item(item_id)
            if item is not None:
                return self.mailboxes[home], item
        for mailbox in list(self.mailboxes.values()):
            item = mailbox.find_item(item_id)
            if item is not None:
                self._item_homes[item_id] = mailbox.smtp
                return mailbox, item
        return None

    def locate_folder(self, folder_id: str) -> tuple[Mailbox, Folder] | None:
        """The mailbox and folder for a FolderId in any mailbox, or None."""
        home = self._folder_homes.get(folder_id)
        if home is not None and home in self.mailboxes:
            return self.mailboxes[home], self.mailboxes[home].folder(folder_id)
        for mailbox in list(self.mailboxes.values()):
            if mailbox.owns_folder(folder_id):
                self._folder_homes[folder_id] = mailbox.smtp
                return mailbox, mailbox.folder(folder_id)
        return None

    def grant_impersonation(self, smtp: str, allowed: bool = True) -> None:
        self.directory.get(smtp).can_impersonate = allowed

    # Change feed ---------------------------------------------------------------------------

    def on_change(self, listener: ChangeListener) -> None:
        """Subscribe to every change in every folder (used by notification subscriptions)."""
        self._change_listeners.append(listener)

    def record_change(self, mailbox: str, item: Item, event_type: str, old_folder_id: str = "") -> None:
        """Tell subscribers that an item was created, modified, moved or deleted."""
        change = Change(mailbox.lower(), item.folder_id, event_type, item.item_id, old_folder_id)
        for listener in list(self._change_listeners):
            listener(change)

    # Lifecycle -----------------------------------------------------------------------------

    def on_reset(self, hook: Callable[[], None]) -> None:
        self._reset_hooks.append(hook)

    def reset(self) -> None:
        """Forget every mailbox, grant and subscription, so that each test starts clean."""
        with self._lock:
            self.directory.clear()
            self.mailboxes.clear()
            self._item_homes.clear()
            self._folder_homes.clear()
            self.clock.reset()
        for hook in list(self._reset_hooks):
            hook()

    def _check_references(self, config: dict[str, Any]) -> None:
        """Refuse a seed that names unknown principals, before any of it is applied."""
        kinds = {p.smtp: p.kind for p in list(self.directory.principals.values())}
        for key, kind in _PRINCIPAL_KEYS:
            kinds.update({str(raw["smtp"]).lower(): kind for raw in config.get(key, [])})
        for key in ("folders", "permissions"):
            for raw in config.get(key, []):
                if str(raw["owner"]).lower() not in kinds:
                    raise SeedError(f"{key}: the owner {raw['owner']} is not a principal of the seed")
        for raw in config.get("room_lists", []):
            unknown = [r for r in raw["rooms"] if kinds.get(str(r).lower()) is not PrincipalKind.ROOM]
            if unknown:
                names = ", ".join(map(str, unknown))
                raise SeedError(f"room list {raw['smtp']}: {names} is not a room of the seed")

    def seed(self, config: dict[str, Any]) -> None:
        """Add principals, room lists, grants and apps from a config mapping (YAML/JSON shape).

        Shape::

            users: [{smtp, name, password, username?, domain?, domain_logon_only?, time_zone?,
                     working_hours?, can_impersonate?}]
            rooms: [{smtp, name, ...}]
            service_accounts: [{smtp, name, password, can_impersonate?}]
            room_lists: [{smtp, name, rooms: [smtp, ...]}]
            folders: [{owner, path, folder_class?}]    (secondary calendars: "Calendar/Interviews")
            permissions: [{owner, grantee, level, folder?, view_private_items?}]
                                  (folder: a distinguished id, default "calendar", or a path)
            apps: [{client_id, client_secret, tenant_id, graph_roles?, mailbox_scope?}]
        """
        self._check_references(config)
        for key, kind in _PRINCIPAL_KEYS:
            for raw in config.get(key, []):
                self.add_principal(Directory.principal_from_dict(raw, kind))
        for raw in config.get("room_lists", []):
            self.directory.add_room_list(
                RoomList(smtp=raw["smtp"], display_name=raw.get("name", raw["smtp"]), rooms=raw["rooms"])
            )
        for raw in config.get("folders", []):
            self.create_folder(raw["owner"], raw["path"], raw.get("folder_class"))
        for raw in config.get("permissions", []):
            self.grant_folder_permission(
                raw["owner"], raw["grantee"], PermissionLevel(raw["level"]), raw.get("folder", "calendar")
            )
            if raw.get("view_private_items"):
                self.grant_private_items(raw["owner"], raw["grantee"])
        for raw in config.get("apps", []):
            scope = raw.get("mailbox_scope")
            self.directory.add_app(
                AppRegistration(
                    client_id=raw["client_id"],
                    client_secret=raw["client_secret"],
                    tenant_id=raw["tenant_id"],
                    graph_roles=frozenset(raw.get("graph_roles", DEFAULT_GRAPH_ROLES)),
                    mailbox_scope=None if scope is None else frozenset(str(s).lower() for s in scope),
                )
            )
