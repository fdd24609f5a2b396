"""SyncFolderItems: a change ledger per folder and the opaque sync states that point into it.

What Exchange documents, and the simulator does (Microsoft Learn, EWS reference):

- "SyncFolderItems operation": a request without SyncState is the first synchronisation and
  returns every item of the folder (as Create changes) except those named in Ignore; a later
  request returns what changed since its SyncState. One answer carries at most 512 changes; the
  client repeats the request with the new state for the rest. An invalid state is answered with
  ErrorInvalidSyncStateData in the ResponseMessage ("Synchronization state data is corrupt or
  otherwise invalid."), an empty SyncState and IncludesLastItemInRange true.
- "SyncState": "a base64-encoded form of the synchronization data that is updated after each
  successful request".
- "MaxChangesReturned": the most changes one answer returns, "between 1 and 512, inclusive"
  (types.xsd MaxSyncChangesReturnedType; responses/sync_folder_items.py enforces it).
- "IncludesLastItemInRange": whether the last change to synchronise is in this answer.
- "Changes (Items)": Create, Update, Delete and ReadFlagChange ("when an item has been read").
- "Handling synchronization-related errors in EWS": ErrorInvalidSyncStateData when the state
  sent is not one a previous synchronisation of that folder returned.

How: every call first reconciles the folder's items with its ledger, so a change counts however
it was made (EWS, the control API, or a test editing the models): a new item, new content or
ChangeKey, a flipped read flag, or an item gone from the folder each take the ledger's next
sequence number. A sync state is base64 of (ledger epoch, folder id, sequence number): the
client has seen everything up to that number. Nothing here knows XML.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import secrets
import threading
import weakref
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from infra.ewssim.errors import EwsError
from infra.ewssim.models.backend import EwsBackend
from infra.ewssim.models.items import Item
from infra.ewssim.models.mailbox import Folder, Mailbox

__all__ = [
    "MAX_CHANGES_RETURNED",
    "ChangeKind",
    "FolderLedger",
    "ItemChange",
    "SyncPage",
    "ledger_for",
    "sync_folder_items",
]

MAX_CHANGES_RETURNED = 512
_STATE_TAG = "ewssim-sync-v1"
_INVALID_STATE = "Synchronization state data is corrupt or otherwise invalid."
# Fields that change with every touch() or only with the read flag: not "content".
_VOLATILE = frozenset({"change_key", "modified", "modified_by", "is_read"})


class ChangeKind(StrEnum):
    """The change elements of SyncFolderItemsChangesType."""

    CREATE = "Create"
    UPDATE = "Update"
    DELETE = "Delete"
    READ_FLAG_CHANGE = "ReadFlagChange"


# Within one answer: the order in which ICS, the store's sync that SyncFolderItems rides on, lists
# differences ([MS-OXCFXICS] 3.2.5.3 "Determining What Differences To Download": messageChange
# elements, then deletions, then read-state changes). EWS documents no order; do not depend on one.
_STREAM_ORDER = {
    ChangeKind.CREATE: 0,
    ChangeKind.UPDATE: 0,
    ChangeKind.DELETE: 1,
    ChangeKind.READ_FLAG_CHANGE: 2,
}


@dataclass(frozen=True)
class ItemChange:
    """One change to report: the item for Create/Update, the read flag for ReadFlagChange."""

    kind: ChangeKind
    item_id: str
    item: Item | None = None
    is_read: bool = False


@dataclass(frozen=True)
class SyncPage:
    """One SyncFolderItems answer."""

    changes: tuple[ItemChange, ...]
    sync_state: str
    includes_last_item_in_range: bool


@dataclass
class _Entry:
    """What the ledger remembers of one item that has been in the folder."""

    item: Item
    fingerprint: int
    change_key: str
    is_read: bool | None
    # (appeared, gone) sequence numbers of each stay in the folder; gone is None while it is there.
    stays: list[tuple[int, int | None]] = field(default_factory=list)
    content_seq: int = 0
    read_seq: int = 0

    @property
    def present(self) -> bool:
        return self.stays[-1][1] is None

    @property
    def last_seq(self) -> int:
        return max(self.content_seq, self.read_seq, self.stays[-1][1] or 0)

    def known_at(self, seq: int) -> bool:
        """Whether a client at `seq` has the item (it was in the folder at that point)."""
        return any(start <= seq and (end is None or end > seq) for start, end in self.stays)


def _fingerprint(item: Item) -> int:
    """A digest of the item's content: what a change must alter to count as an Update."""
    content = [(f.name, getattr(item, f.name)) for f in dataclasses.fields(item) if f.name not in _VOLATILE]
    return hash(repr(content))


class FolderLedger:
    """The numbered history of one folder's items, as far as synchronisation needs it."""

    def __init__(self, folder_id: str) -> None:
        self.folder_id = folder_id
        self.epoch = secrets.token_hex(6)  # a ledger rebuilt (after a reset) rejects older states
        self.seq = 0
        self.lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def reconcile(self, items: Iterable[Item]) -> None:
        """Number every difference between the folder as it is and as the ledger last saw it."""
        present: set[str] = set()
        for item in items:
            present.add(item.item_id)
            fingerprint, is_read = _fingerprint(item), getattr(item, "is_read", None)
            entry = self._entries.get(item.item_id)
            if entry is None or not entry.present:
                seq = self._next()
                if entry is None:
                    entry = self._entries[item.item_id] = _Entry(item, fingerprint, item.change_key, is_read)
                entry.stays.append((seq, None))
                entry.content_seq = entry.read_seq = seq
            elif fingerprint != entry.fingerprint or (
                item.change_key != entry.change_key and is_read == entry.is_read
            ):
                entry.content_seq = self._next()
            elif is_read != entry.is_read:
                entry.read_seq = self._next()
            entry.item, entry.fingerprint, entry.change_key, entry.is_read = (
                item, fingerprint, item.change_key, is_read
            )  # fmt: skip
        for item_id, entry in self._entries.items():
            if entry.present and item_id not in present:
                entry.stays[-1] = (entry.stays[-1][0], self._next())

    def state(self, seq: int) -> str:
        """The opaque SyncState for a position in this ledger."""
        raw = f"{_STATE_TAG}|{self.epoch}|{self.folder_id}|{seq}"
        return base64.b64encode(raw.encode()).decode()

    def position(self, sync_state: str | None) -> int:
        """Where a client's SyncState stands (0 for none), or ErrorInvalidSyncStateData."""
        if not sync_state:
            return 0
        try:
            tag, epoch, folder_id, seq = (
                base64.b64decode(sync_state.encode(), validate=True).decode().split("|")
            )
            position = int(seq)
        except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
            raise EwsError("ErrorInvalidSyncStateData", _INVALID_STATE) from exc
        ours = (tag, epoch, folder_id) == (_STATE_TAG, self.epoch, self.folder_id)
        if not ours or not 0 <= position <= self.seq:
            # Another folder's state, one from before a reset, or one this ledger never issued.
            raise EwsError("ErrorInvalidSyncStateData", _INVALID_STATE)
        return position

    def page(self, since: int, limit: int, ignore: Collection[str] = ()) -> SyncPage:
        """Up to `limit` changes after `since`, oldest first, and the state after the last one."""
        pending = sorted((e for e in self._entries.values() if e.last_seq > since), key=lambda e: e.last_seq)
        changes: list[ItemChange] = []
        reached = since
        for entry in pending:
            change = _change(entry, since)
            if change is not None and change.item_id not in ignore:
                if len(changes) == limit:
                    return SyncPage(_in_stream_order(changes), self.state(reached), False)
                changes.append(change)
            reached = entry.last_seq
        return SyncPage(_in_stream_order(changes), self.state(self.seq), True)


def _in_stream_order(changes: list[ItemChange]) -> tuple[ItemChange, ...]:
    """Changed items first, then deletions, then read-state changes, each in change order."""
    return tuple(sorted(changes, key=lambda change: _STREAM_ORDER[change.kind]))


def _change(entry: _Entry, since: int) -> ItemChange | None:
    """What a client at `since` must hear about the entry, if anything."""
    item_id = entry.item.item_id
    known = entry.known_at(since)
    if not entry.present:
        # Gone: a Delete for clients that have it; nothing for those that never saw it.
        return ItemChange(ChangeKind.DELETE, item_id) if known else None
    if not known:
        return ItemChange(ChangeKind.CREATE, item_id, entry.item)
    if entry.content_seq > since:
        return ItemChange(ChangeKind.UPDATE, item_id, entry.item)
    if entry.read_seq > since:
        return ItemChange(ChangeKind.READ_FLAG_CHANGE, item_id, is_read=bool(entry.is_read))
    return None


class _Ledgers:
    """Every folder ledger of one backend, dropped on reset."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_folder: dict[str, FolderLedger] = {}

    def get(self, folder_id: str) -> FolderLedger:
        with self._lock:
            ledger = self._by_folder.get(folder_id)
            if ledger is None:
                ledger = self._by_folder[folder_id] = FolderLedger(folder_id)
            return ledger

    def reset(self) -> None:
        with self._lock:
            self._by_folder.clear()


_LEDGERS: weakref.WeakKeyDictionary[EwsBackend, _Ledgers] = weakref.WeakKeyDictionary()
_LEDGERS_LOCK = threading.Lock()


def ledger_for(backend: EwsBackend, folder: Folder) -> FolderLedger:
    """The folder's ledger (created on first use; a backend reset forgets them all)."""
    with _LEDGERS_LOCK:
        ledgers = _LEDGERS.get(backend)
        if ledgers is None:
            ledgers = _LEDGERS[backend] = _Ledgers()
            backend.on_reset(ledgers.reset)
    return ledgers.get(folder.folder_id)


def sync_folder_items(
    backend: EwsBackend,
    mailbox: Mailbox,
    folder: Folder,
    sync_state: str | None,
    max_changes: int,
    ignore: Collection[str] = (),
) -> SyncPage:
    """The changes to `folder` since `sync_state` (all items as Create when None), at most
    `max_changes` (1-512) of them; changes to items in `ignore` are passed over."""
    ledger = ledger_for(backend, folder)
    # The mailbox lock first, then the ledger's: writers hold only the mailbox lock.
    with mailbox.lock, ledger.lock:
        since = ledger.position(sync_state)
        ledger.reconcile(list(folder.items.values()))
        return ledger.page(since, max_changes, ignore)
