"""Calendar sync over EWS: one SyncFolderItems request per page of changes to the target calendar.

The first call (no sync state) pages through every item of the calendar; each later call
returns what changed since the state it is given, at most `max_changes` (1-512, Exchange's
limit) per call, with `includes_last_item` false while more remain. The caller stores the page's
sync_state and calls again; this module never loops, so one call is exactly one request.

Created and updated items come back as CalendarItemSnapshot with the booking stamp (the
extended property of booking_stamp.py, requested as an additional field as changes.py does);
deletions as their item id only. Read-flag changes carry nothing a calendar sync acts on and are
dropped. A sync state Exchange refuses (ErrorInvalidSyncStateData: corrupt, another folder's, or
too old) raises PermanentError(SYNC_STATE_INVALID): the caller starts again without a state.
Every other failure is left to EwsConnector.run, which maps it like any EWS call.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from exchangelib import CalendarItem
from exchangelib import errors as ews
from exchangelib.fields import FieldPath
from exchangelib.folders import Calendar, Root
from exchangelib.items import ID_ONLY
from exchangelib.services import SyncFolderItems

from pipeline.errors import ErrorCode, PermanentError
from pipeline.exchange.calendar_items import (
    CalendarItemSnapshot,
    CalendarSyncChange,
    CalendarSyncPage,
    SyncChangeKind,
)
from pipeline.exchange.ews.booking_stamp import BOOKING_KEY_FIELD, register_booking_stamp
from pipeline.exchange.ews.connection import LiveConnection
from pipeline.exchange.ews.item_values import attendee_responses, email_of, plain_utc

__all__ = ["MAX_CHANGES", "sync_calendar"]

register_booking_stamp()

MAX_CHANGES = 512  # MaxChangesReturned is 1 to 512 in EWS (types.xsd MaxSyncChangesReturnedType)

_FIELDS = (
    "subject", "start", "end", "legacy_free_busy_status", "sensitivity", "organizer",
    "required_attendees", "optional_attendees", "resources", "is_cancelled", BOOKING_KEY_FIELD,
)  # fmt: skip



def sync_calendar(live: LiveConnection, sync_state: str | None, max_changes: int) -> CalendarSyncPage:
    """One SyncFolderItems on the target calendar: the changes since `sync_state` (None: from the start)."""
    if not 1 <= max_changes <= MAX_CHANGES:
        raise PermanentError(
            ErrorCode.INVALID_KWARGS, f"max_changes must be 1 to {MAX_CHANGES}, not {max_changes}"
        )
    service = SyncFolderItems(account=live.account)
    try:
        answers = list(
            service.call(
                # A locally built Root addresses <DistinguishedFolderId Id="calendar"> in the target's
                # mailbox: no GetFolder first.
                folder=Calendar(root=Root(account=live.account)),
                shape=ID_ONLY,
                additional_fields=_field_paths(_FIELDS),
                sync_state=sync_state or None,
                ignore=None,
                max_changes_returned=max_changes,
                sync_scope=None,
            )
        )
    except ews.ErrorInvalidSyncStateData as exc:
        raise PermanentError(
            ErrorCode.SYNC_STATE_INVALID,
            f"SyncFolderItems: Exchange refused the sync state of {live.target.mailbox}'s calendar; "
            "sync again from the start (no sync state)",
        ) from exc
    changes: list[CalendarSyncChange] = []
    for answer in answers:
        if isinstance(answer, Exception):
            raise answer  # the connector maps it to a PipelineError
        kind, value = answer
        if kind == SyncFolderItems.DELETE:
            changes.append(CalendarSyncChange(SyncChangeKind.DELETED, item_id=value.id))
        elif kind in (SyncFolderItems.CREATE, SyncFolderItems.UPDATE):
            item = _snapshot(value)
            changes.append(CalendarSyncChange(SyncChangeKind.CHANGED, item_id=item.item_id, item=item))
    return CalendarSyncPage(
        changes=tuple(changes),
        sync_state=str(service.sync_state),
        includes_last_item=bool(service.includes_last_item_in_range),
    )


def _snapshot(item: Any) -> CalendarItemSnapshot:
    """The calendar facts of one synced item (any item class: attributes it lacks read as unset)."""
    organizer = getattr(item, "organizer", None)
    return CalendarItemSnapshot(
        item_id=item.id,
        change_key=item.changekey,
        booking_key=getattr(item, BOOKING_KEY_FIELD, None),
        start=plain_utc(getattr(item, "start", None)),
        end=plain_utc(getattr(item, "end", None)),
        free_busy_status=getattr(item, "legacy_free_busy_status", None),
        is_private=getattr(item, "sensitivity", None) == "Private",
        subject=getattr(item, "subject", None),
        organizer=email_of(organizer),
        attendees=attendee_responses(item),
        is_cancelled=bool(getattr(item, "is_cancelled", False)),
    )


def _field_paths(names: Iterable[str]) -> set[FieldPath]:
    return {FieldPath(field=CalendarItem.get_field_by_fieldname(name)) for name in names}
