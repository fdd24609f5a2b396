"""Finding a calendar folder by path or id: FindFolder per folder name, or one GetFolder.

A path starts at the mailbox's default calendar when its first name is "Calendar" (whatever the
mailbox's language calls that folder), else at the top of the information store
(msgfolderroot). Each further name costs one FindFolder (Shallow, restricted to that display
name, with the folder's EffectiveRights); the default calendar alone, or a folder id, costs one
GetFolder. What was found is cached per process (folder_cache.py) when it allows what was asked.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from exchangelib import errors as ews
from exchangelib.fields import FieldPath
from exchangelib.folders import Calendar, Folder, MsgFolderRoot, Root
from exchangelib.items import ID_ONLY
from exchangelib.properties import DistinguishedFolderId, Mailbox
from exchangelib.restriction import Q, Restriction
from exchangelib.services import FindFolder, GetFolder

from pipeline.errors import ErrorCode, PermanentError
from pipeline.exchange.calendars import CalendarFolder
from pipeline.exchange.ews.connection import LiveConnection
from pipeline.exchange.ews.folder_cache import FolderCache, FolderKey

__all__ = ["calendar_folder", "find_calendar", "folder_errors", "lookup_operation"]

_DEFAULT_CALENDAR = "calendar"
_CALENDAR_CLASS = "IPF.Appointment"
_FIELDS = ("name", "folder_class", "effective_rights")


def find_calendar(
    live: LiveConnection,
    cache: FolderCache,
    owner: str,
    names: Sequence[str],
    folder_id: str | None,
    *,
    for_writing: bool,
) -> CalendarFolder:
    """The calendar at `names` (or with `folder_id`) in owner's mailbox, with the logon's rights.

    Raises PermanentError(CALENDAR_NOT_FOUND) when there is no such folder, or it is not a
    calendar; Exchange's own errors (access denied, unknown mailbox) pass on to the connector.
    """
    owner = owner.lower()
    where = folder_id or "/".join(name.casefold() for name in names)
    key: FolderKey = (live.settings.integration_id, live.target.acting_as, owner, where)
    cached = cache.get(key)
    if cached is not None and _allows(cached, for_writing):
        return cached
    with folder_errors():
        if folder_id is not None:
            found, lookups = _get(live, Folder(root=Root(account=live.account), id=folder_id)), 1
        else:
            found, lookups = _walk(live, owner, names)
    if not _is_calendar(found):
        raise PermanentError(ErrorCode.CALENDAR_NOT_FOUND, "the folder is not a calendar")
    rights = found.effective_rights
    calendar = CalendarFolder(
        owner=owner,
        folder_id=str(found.id),
        name=str(found.name or ""),
        can_read=bool(rights is None or rights.read),
        can_write=bool(rights is None or (rights.create_contents and rights.modify and rights.delete)),
    )
    if _allows(calendar, for_writing):
        cache.put(key, calendar)  # a shortfall is looked up again: someone may be fixing it
    return replace(calendar, lookups=lookups)


def lookup_operation(names: Sequence[str], folder_id: str | None) -> str:
    """The EWS operation finding this calendar takes: FindFolder when it walks names, else GetFolder."""
    if folder_id is not None:
        return "GetFolder"
    return "FindFolder" if _below_start(names)[1] else "GetFolder"


def calendar_folder(live: LiveConnection, calendar: CalendarFolder | None) -> Folder:
    """The exchangelib folder to address: the target's default calendar (no request) or a folder id."""
    root = Root(account=live.account)
    folder: Folder = Calendar(root=root) if calendar is None else Calendar(root=root, id=calendar.folder_id)
    # to_id() fills in the folder's id, which changes its hash; exchangelib's paging keys a dict by
    # the folder, so settle the id before FindItem starts (else an empty result raises KeyError).
    folder.to_id()
    return folder


@contextmanager
def folder_errors() -> Iterator[None]:
    """ErrorFolderNotFound (a folder id that is gone) as CALENDAR_NOT_FOUND."""
    try:
        yield
    except ews.ErrorFolderNotFound as missing:
        raise PermanentError(ErrorCode.CALENDAR_NOT_FOUND, "the calendar folder was not found") from missing


def _allows(calendar: CalendarFolder, for_writing: bool) -> bool:
    return bool(calendar.can_write if for_writing else calendar.can_read)


def _below_start(names: Sequence[str]) -> tuple[bool, list[str]]:
    """Whether a path starts at the default calendar, and the names beneath its starting folder."""
    at_calendar = bool(names) and names[0].casefold() == _DEFAULT_CALENDAR
    return at_calendar, list(names[1:] if at_calendar else names)


def _walk(live: LiveConnection, owner: str, names: Sequence[str]) -> tuple[Any, int]:
    root = Root(account=live.account)
    at_calendar, below = _below_start(names)
    start_class = Calendar if at_calendar else MsgFolderRoot
    parent: Any = start_class(
        root=root,
        _distinguished_id=DistinguishedFolderId(
            id=_DEFAULT_CALENDAR if at_calendar else "msgfolderroot", mailbox=Mailbox(email_address=owner)
        ),
    )
    if not below:
        return _get(live, parent), 1
    for name in below:
        parent = _child(live, parent, name)
    return parent, len(below)


def _child(live: LiveConnection, parent: Any, name: str) -> Any:
    restriction = Restriction(Q(name=name), folders=[parent], applies_to=Restriction.FOLDERS)
    for found in FindFolder(account=live.account).call(
        folders=[parent], additional_fields=_field_paths(), restriction=restriction, shape=ID_ONLY,
        depth="Shallow", max_items=1, offset=0,
    ):
        if isinstance(found, Exception):
            raise found
        return found
    raise PermanentError(ErrorCode.CALENDAR_NOT_FOUND, f"no folder named {name!r} where the path says")


def _get(live: LiveConnection, folder: Any) -> Any:
    for found in GetFolder(account=live.account).call(folders=[folder], additional_fields=_field_paths(),
                                                      shape=ID_ONLY):
        if isinstance(found, Exception):
            raise found
        return found
    raise PermanentError(ErrorCode.CALENDAR_NOT_FOUND, "the calendar folder was not found")


def _field_paths() -> set[FieldPath]:
    return {FieldPath(field=Folder.get_field_by_fieldname(name)) for name in _FIELDS}


def _is_calendar(folder: Any) -> bool:
    folder_class = getattr(folder, "folder_class", None)
    return folder_class is None or str(folder_class).startswith(_CALENDAR_CLASS)
