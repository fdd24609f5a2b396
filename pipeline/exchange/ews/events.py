"""Calendar events over EWS: FindItem, GetItem, CreateItem, UpdateItem and DeleteItem, one request each.

Every function acts on the target calendar of a LiveConnection (the connection method decided
whose it is) and addresses it as a DistinguishedFolderId built locally, so no GetFolder round
trip precedes the operation; or on another calendar found before (folders.py), by its folder
id. The stamps (booking key, invitations sent, last update, copy of) are the extended properties
of booking_stamp.py; the actions build exactly-once effects from them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from exchangelib import Attendee, Body, CalendarItem, EWSDateTime, HTMLBody, Mailbox
from exchangelib.errors import ErrorItemNotFound
from exchangelib.fields import FieldPath
from exchangelib.items import (
    ALWAYS_OVERWRITE,
    HARD_DELETE,
    ID_ONLY,
    MOVE_TO_DELETED_ITEMS,
    NEVER_OVERWRITE,
    SAVE_ONLY,
    SEND_TO_ALL_AND_SAVE_COPY,
    SEND_TO_CHANGED_AND_SAVE_COPY,
    SEND_TO_NONE,
    SOFT_DELETE,
)
from exchangelib.restriction import Q, Restriction
from exchangelib.services import DeleteItem, FindItem, GetItem, UpdateItem

from pipeline.exchange.calendars import CalendarFolder
from pipeline.exchange.ews.booking_stamp import (
    BOOKING_KEY_FIELD,
    COPY_OF_FIELD,
    INVITES_SENT_FIELD,
    LAST_UPDATE_FIELD,
    register_booking_stamp,
)
from pipeline.exchange.ews.connection import LiveConnection
from pipeline.exchange.ews.folders import calendar_folder, folder_errors
from pipeline.exchange.ews.legacy_time_zone import calendar_item_class
from pipeline.exchange.types import (
    BodyType,
    EventChanges,
    EventDraft,
    EventRef,
    EventState,
    NotifyAttendees,
    StampedEvent,
)
from pipeline.integrations import DeleteType

__all__ = [
    "cancel_event",
    "create_event",
    "find_booking_event",
    "find_event_by_booking_key",
    "read_event",
    "send_invitations",
    "update_event",
]

register_booking_stamp()

_DELETE_TYPES = {
    DeleteType.HARD: HARD_DELETE,
    DeleteType.SOFT: SOFT_DELETE,
    DeleteType.MOVE_TO_DELETED_ITEMS: MOVE_TO_DELETED_ITEMS,
}
_UPDATE_MODES = {
    NotifyAttendees.NONE: SEND_TO_NONE,
    NotifyAttendees.ALL: SEND_TO_ALL_AND_SAVE_COPY,
    NotifyAttendees.CHANGED: SEND_TO_CHANGED_AND_SAVE_COPY,
}
_STATE_FIELDS = (
    "start", "end", "required_attendees", "optional_attendees", "resources", "is_cancelled",
    BOOKING_KEY_FIELD, INVITES_SENT_FIELD, LAST_UPDATE_FIELD,
)  # fmt: skip


def find_event_by_booking_key(
    live: LiveConnection, booking_key: str, in_calendar: CalendarFolder | None = None, copy: bool = False
) -> EventRef | None:
    """FindItem in the target calendar (or `in_calendar`) restricted to items stamped with
    `booking_key`; with `copy`, to copies of that booking (stamped CopyOf)."""
    found = _find_stamped(live, COPY_OF_FIELD if copy else BOOKING_KEY_FIELD, booking_key, in_calendar)
    return None if found is None else found.ref


def find_booking_event(
    live: LiveConnection, booking_key: str, in_calendar: CalendarFolder | None = None
) -> StampedEvent | None:
    """The FindItem of find_event_by_booking_key, also reading the InvitesSent stamp (same request)."""
    return _find_stamped(live, BOOKING_KEY_FIELD, booking_key, in_calendar, with_invites=True)


def _find_stamped(
    live: LiveConnection, stamp: str, booking_key: str, in_calendar: CalendarFolder | None, *,
    with_invites: bool = False,
) -> StampedEvent | None:
    calendar = calendar_folder(live, in_calendar)
    restriction = Restriction(Q(**{stamp: booking_key}), folders=[calendar], applies_to=Restriction.ITEMS)
    found = FindItem(account=live.account).call(
        folders=[calendar],
        additional_fields=_field_paths([stamp, INVITES_SENT_FIELD] if with_invites else [stamp]),
        restriction=restriction,
        order_fields=None,
        shape=ID_ONLY,
        query_string=None,
        depth="Shallow",
        calendar_view=None,
        max_items=1,
        offset=0,
    )
    with folder_errors():
        for item in found:
            if isinstance(item, Exception):
                raise item
            invites_sent = getattr(item, INVITES_SENT_FIELD) if with_invites else None
            return StampedEvent(_ref(live, item.id, item.changekey, in_calendar), invites_sent)
    return None


def read_event(live: LiveConnection, ref: EventRef) -> EventState | None:
    """GetItem of the event with its stamps; None when Exchange no longer has it."""
    try:
        item: CalendarItem = GetItem(account=live.account).get(
            items=[(ref.item_id, None)], additional_fields=_field_paths(_STATE_FIELDS), shape=ID_ONLY
        )
    except ErrorItemNotFound:
        return None
    return EventState(
        ref=_ref(live, item.id, item.changekey),
        start=item.start,
        end=item.end,
        attendees=_emails(item.required_attendees, item.optional_attendees, item.resources),
        booking_key=getattr(item, BOOKING_KEY_FIELD),
        invites_sent=getattr(item, INVITES_SENT_FIELD),
        last_update=getattr(item, LAST_UPDATE_FIELD),
        is_cancelled=bool(item.is_cancelled),
    )


def create_event(
    live: LiveConnection, draft: EventDraft, in_calendar: CalendarFolder | None = None,
    invite_marker: str | None = None,
) -> EventRef:
    """CreateItem in the target calendar (or `in_calendar`: SavedItemFolderId), stamped with the
    booking key (and CopyOf, for a copy). Nobody is invited (SendToNone), unless `invite_marker`:
    then SendToAllAndSaveCopy sends the meeting requests and the item is stamped InvitesSent in
    the same request, so Exchange holds the item exactly when the invitations went out."""
    copy_stamp = {COPY_OF_FIELD: draft.booking_key} if draft.is_copy else {}
    invites_stamp = {INVITES_SENT_FIELD: invite_marker} if invite_marker else {}
    item = calendar_item_class(live.account.version)(
        account=live.account,
        folder=calendar_folder(live, in_calendar),
        subject=draft.subject,
        body=_body(draft.body, draft.body_type),
        start=_local(draft.start, draft.time_zone),
        end=_local(draft.end, draft.time_zone),
        location=draft.location,
        required_attendees=_attendees(draft.required_attendees),
        optional_attendees=_attendees(draft.optional_attendees),
        resources=_attendees(draft.rooms),
        categories=list(draft.categories) or None,
        reminder_is_set=draft.reminder_minutes is not None,
        reminder_minutes_before_start=draft.reminder_minutes or 0,
        sensitivity="Private" if draft.is_private else "Normal",
        **{BOOKING_KEY_FIELD: draft.booking_key},
        **copy_stamp,
        **invites_stamp,
    )
    with folder_errors():
        item.save(send_meeting_invitations=SEND_TO_ALL_AND_SAVE_COPY if invite_marker else SEND_TO_NONE)
    return _ref(live, item.id, item.changekey, in_calendar)


def send_invitations(live: LiveConnection, ref: EventRef, marker: str) -> EventRef:
    """UpdateItem that stamps InvitesSent and sends the meeting requests, if ref.change_key is current.

    NeverOverwrite makes the change key a compare-and-swap: once one request has sent the
    invitations the key has moved on, and any later request with the same key fails (CONFLICT).
    """
    item = CalendarItem(account=live.account, id=ref.item_id, changekey=ref.change_key)
    setattr(item, INVITES_SENT_FIELD, marker)
    return _update(live, item, [INVITES_SENT_FIELD], NEVER_OVERWRITE, SEND_TO_ALL_AND_SAVE_COPY)


def update_event(
    live: LiveConnection, ref: EventRef, changes: EventChanges, notify: NotifyAttendees, marker: str
) -> EventRef:
    """UpdateItem of the changed fields plus the LastUpdate stamp; last writer wins.

    AlwaysOverwrite: every attendee response touches the organiser's item, so a change key from
    before the invitations were answered is usually stale; the job's own fields still win.
    A moved start or end is shown in changes.time_zone, or in UTC when the job names none.
    """
    item = calendar_item_class(live.account.version)(
        account=live.account, id=ref.item_id, changekey=ref.change_key
    )
    names = [LAST_UPDATE_FIELD]
    setattr(item, LAST_UPDATE_FIELD, marker)
    values: dict[str, Any] = {
        "subject": changes.subject,
        "body": None if changes.body is None else _body(changes.body, changes.body_type),
        "location": changes.location,
        "required_attendees": _maybe_attendees(changes.required_attendees),
        "optional_attendees": _maybe_attendees(changes.optional_attendees),
        "resources": _maybe_attendees(changes.rooms),
    }
    zone = changes.time_zone or "UTC"
    if changes.start is not None:
        values["start"] = _local(changes.start, zone)
    if changes.end is not None:
        values["end"] = _local(changes.end, zone)
    for name, value in values.items():
        if value is not None:
            setattr(item, name, value)
            names.append(name)
    return _update(live, item, names, ALWAYS_OVERWRITE, _UPDATE_MODES[notify])


def cancel_event(
    live: LiveConnection, ref: EventRef, delete_type: DeleteType, send_cancellations: bool
) -> bool:
    """DeleteItem per the integration's delete type; False when the item was already gone."""
    try:
        DeleteItem(account=live.account).get(
            items=[(ref.item_id, ref.change_key)],
            delete_type=_DELETE_TYPES[delete_type],
            send_meeting_cancellations=SEND_TO_ALL_AND_SAVE_COPY if send_cancellations else SEND_TO_NONE,
            affected_task_occurrences="AllOccurrences",
            suppress_read_receipts=True,
            expect_result=None,
        )
    except ErrorItemNotFound:
        return False
    return True


# Building blocks -------------------------------------------------------------------------------


def _update(
    live: LiveConnection, item: CalendarItem, names: list[str], resolution: str, send_mode: str
) -> EventRef:
    item_id, change_key = UpdateItem(account=live.account).get(
        items=[(item, names)],
        message_disposition=SAVE_ONLY,
        conflict_resolution=resolution,
        send_meeting_invitations_or_cancellations=send_mode,
        suppress_read_receipts=True,
        expect_result=True,
    )
    return _ref(live, item_id, change_key)


def _ref(
    live: LiveConnection, item_id: str, change_key: str, in_calendar: CalendarFolder | None = None
) -> EventRef:
    owner = in_calendar.owner if in_calendar is not None else live.target.mailbox
    return EventRef(item_id=item_id, change_key=change_key, mailbox=owner)


def _field_paths(names: Iterable[str]) -> set[FieldPath]:
    return {FieldPath(field=CalendarItem.get_field_by_fieldname(name)) for name in names}


def _local(moment: datetime, zone: str) -> EWSDateTime:
    # Shown in `zone`: exchangelib sends StartTimeZone/EndTimeZone from the value's own zone.
    return EWSDateTime.from_datetime(moment.astimezone(ZoneInfo(zone)))


def _body(text: str, body_type: BodyType) -> Body:
    return HTMLBody(text) if body_type is BodyType.HTML else Body(text)


def _attendees(emails: Iterable[str]) -> list[Attendee] | None:
    people = [Attendee(mailbox=Mailbox(email_address=email), response_type="Unknown") for email in emails]
    return people or None


def _maybe_attendees(emails: tuple[str, ...] | None) -> list[Attendee] | None:
    # An empty list clears the field: exchangelib sends DeleteItemField for an empty value.
    return None if emails is None else (_attendees(emails) or [])


def _emails(*groups: list[Attendee] | None) -> tuple[str, ...]:
    found = (a.mailbox.email_address.lower() for group in groups for a in group or () if a.mailbox)
    return tuple(dict.fromkeys(email for email in found if email))
