"""Calendar events over Graph: create, find by stamp, read, invite, update and cancel.

One Graph request each on the common path, as on EWS (events.py there):

- create: `POST /users/{u}/calendar/events` (or `/calendars/{id}/events`), the stamps in
  singleValueExtendedProperties. Graph sends meeting requests whenever an organiser's event with
  attendees is created (learn.microsoft.com/graph/api/user-post-events), so "save without
  sending" is a create with no attendees, which keeps them in the PendingAttendees stamp;
  "create and send" (invite_marker) is one POST with the attendees and the InvitesSent stamp.
- find by booking key: `GET .../events?$filter=singleValueExtendedProperties/Any(...)` with the
  stamps expanded: how a redelivered create_event finds the event its first attempt made.
- read: `GET /users/{u}/events/{id}` with the stamps expanded; 404 is None.
- send_invitations: the pending attendees are read (GET) and added with `PATCH` and
  `If-Match: W/"<changeKey>"`, stamping InvitesSent in the same request: the change key makes it a
  compare-and-swap (412 -> CONFLICT), so one version of the event is never invited twice. Two
  requests: Graph cannot send requests for attendees it is not told in the PATCH.
- update: `PATCH` of the changed fields and the LastUpdate stamp (last writer wins, no If-Match,
  as EWS's AlwaysOverwrite). Graph notifies the attendees of a changed meeting itself; attendee
  changes on an event not yet invited go to its PendingAttendees stamp instead (one GET first).
- cancel: with cancellations, `POST .../cancel` with the job's reason as its comment (organiser
  only; the event moves to Deleted Items, learn.microsoft.com/graph/api/event-cancel); without,
  by delete type:
  hard -> `POST .../permanentDelete` (to the Purges folder, out of the user's reach,
  learn.microsoft.com/graph/api/event-permanentdelete), soft and move_to_deleted_items ->
  `DELETE` (to Deleted Items, learn.microsoft.com/graph/api/event-delete). 404 is False.
"""

from __future__ import annotations

import json
from typing import Any

from pipeline.errors import ErrorCode, PermanentError
from pipeline.exchange.calendars import CalendarFolder
from pipeline.exchange.graph import stamps
from pipeline.exchange.graph.connection import GraphLive
from pipeline.exchange.graph.ids import rest_id
from pipeline.exchange.graph.paths import segment
from pipeline.exchange.graph.values import attendee_list, body_of, emails_of, graph_time, parse_time
from pipeline.exchange.types import (
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
    "event_path",
    "events_path",
    "find_booking_event",
    "find_event_by_booking_key",
    "read_event",
    "send_invitations",
    "update_event",
]

_STATE = "id,changeKey,start,end,attendees,isCancelled"
_CANCEL_COMMENT = "This meeting has been cancelled."


def events_path(live: GraphLive, calendar: CalendarFolder | None) -> tuple[str, str]:
    """The events collection of the target's default calendar (no lookup) or of `calendar`,
    and the mailbox it is in."""
    if calendar is None:
        return f"{live.user_path}/calendar/events", live.target.mailbox
    folder = rest_id(live, calendar.folder_id, calendar.owner)
    return f"{live.user(calendar.owner)}/calendars/{segment(folder)}/events", calendar.owner.lower()


def event_path(live: GraphLive, ref: EventRef) -> str:
    """/users/{mailbox}/events/{REST id}; an EWS-form id is translated first (ids.py)."""
    return f"{live.user(ref.mailbox)}/events/{segment(rest_id(live, ref.item_id, ref.mailbox))}"


def find_event_by_booking_key(
    live: GraphLive, booking_key: str, calendar: CalendarFolder | None = None, copy: bool = False
) -> EventRef | None:
    found = _find_stamped(live, stamps.COPY_OF if copy else stamps.BOOKING_KEY, booking_key, calendar)
    return None if found is None else found.ref


def find_booking_event(
    live: GraphLive, booking_key: str, calendar: CalendarFolder | None = None
) -> StampedEvent | None:
    return _find_stamped(live, stamps.BOOKING_KEY, booking_key, calendar)


def _find_stamped(
    live: GraphLive, stamp: str, value: str, calendar: CalendarFolder | None
) -> StampedEvent | None:
    path, mailbox = events_path(live, calendar)
    answer = live.request("GET", path, "listEvents", mailbox=mailbox, params={
        "$filter": stamps.stamp_filter(stamp, value),
        "$select": "id,changeKey",
        "$expand": stamps.expand_stamps((stamp, stamps.INVITES_SENT)),
        "$top": "1",
    })
    for event in (answer or {}).get("value", ()):
        return StampedEvent(_ref(event, mailbox), stamps.stamps_of(event).get(stamps.INVITES_SENT))
    return None


def read_event(live: GraphLive, ref: EventRef) -> EventState | None:
    event = _get(live, ref)
    if event is None:
        return None
    found = stamps.stamps_of(event)
    attendees = emails_of(event) or _pending_emails(found)
    return EventState(
        ref=_ref(event, ref.mailbox),
        start=parse_time(event.get("start")),
        end=parse_time(event.get("end")),
        attendees=attendees,
        booking_key=found.get(stamps.BOOKING_KEY),
        invites_sent=found.get(stamps.INVITES_SENT),
        last_update=found.get(stamps.LAST_UPDATE),
        is_cancelled=bool(event.get("isCancelled")),
    )


def create_event(
    live: GraphLive, draft: EventDraft, calendar: CalendarFolder | None = None,
    invite_marker: str | None = None,
) -> EventRef:
    path, mailbox = events_path(live, calendar)
    people = attendee_list(draft.required_attendees, draft.optional_attendees, draft.rooms)
    stamped = {stamps.BOOKING_KEY: draft.booking_key}
    if draft.is_copy:
        stamped[stamps.COPY_OF] = draft.booking_key
    if invite_marker:
        stamped[stamps.INVITES_SENT] = invite_marker
    elif people:
        stamped[stamps.PENDING_ATTENDEES] = json.dumps(people)
    body: dict[str, Any] = {
        "subject": draft.subject,
        "body": body_of(draft.body, draft.body_type),
        "start": graph_time(draft.start, draft.time_zone),
        "end": graph_time(draft.end, draft.time_zone),
        "isReminderOn": draft.reminder_minutes is not None,
        "sensitivity": "private" if draft.is_private else "normal",
        "singleValueExtendedProperties": stamps.stamp_values(stamped),
    }
    if draft.reminder_minutes is not None:
        body["reminderMinutesBeforeStart"] = draft.reminder_minutes
    if draft.location:
        body["location"] = {"displayName": draft.location}
    if draft.categories:
        body["categories"] = list(draft.categories)
    if invite_marker and people:
        body["attendees"] = people
    created = live.request("POST", path, "createEvent", mailbox=mailbox, body=body)
    return _ref(created, mailbox)


def send_invitations(live: GraphLive, ref: EventRef, marker: str) -> EventRef:
    event = _get(live, ref)
    if event is None:
        raise PermanentError(ErrorCode.ITEM_NOT_FOUND, "the event is no longer in Exchange")
    if str(event.get("changeKey")) != ref.change_key:
        # The CAS EWS's NeverOverwrite gives: the event changed since (perhaps our own send).
        raise PermanentError(ErrorCode.CONFLICT, "updateEvent: the event changed since it was recorded")
    found = stamps.stamps_of(event)
    people = _pending(found) or list(event.get("attendees") or ())
    body = {
        "attendees": people,
        "singleValueExtendedProperties": stamps.stamp_values({stamps.INVITES_SENT: marker}),
    }
    updated = live.request("PATCH", event_path(live, ref), "updateEvent", mailbox=ref.mailbox, body=body,
                           headers={"If-Match": f'W/"{ref.change_key}"'})
    return _ref(updated, ref.mailbox)


def update_event(
    live: GraphLive, ref: EventRef, changes: EventChanges, notify: NotifyAttendees, marker: str
) -> EventRef:
    del notify  # Graph tells a changed meeting's attendees itself (see the module's docstring)
    body: dict[str, Any] = {}
    if changes.subject is not None:
        body["subject"] = changes.subject
    if changes.body is not None:
        body["body"] = body_of(changes.body, changes.body_type)
    if changes.location is not None:
        body["location"] = {"displayName": changes.location}
    zone = changes.time_zone or "UTC"
    if changes.start is not None:
        body["start"] = graph_time(changes.start, zone)
    if changes.end is not None:
        body["end"] = graph_time(changes.end, zone)
    stamped = {stamps.LAST_UPDATE: marker}
    lists = (changes.required_attendees, changes.optional_attendees, changes.rooms)
    if any(group is not None for group in lists):
        people = _attendees_after(live, ref, changes, stamped)
        if people is not None:
            body["attendees"] = people
    body["singleValueExtendedProperties"] = stamps.stamp_values(stamped)
    updated = live.request("PATCH", event_path(live, ref), "updateEvent", mailbox=ref.mailbox, body=body)
    return _ref(updated, ref.mailbox)


def cancel_event(
    live: GraphLive, ref: EventRef, delete_type: DeleteType, send_cancellations: bool,
    comment: str | None = None,
) -> bool:
    path = event_path(live, ref)
    try:
        if send_cancellations:
            live.request("POST", f"{path}/cancel", "cancelEvent", mailbox=ref.mailbox,
                         body={"comment": comment or _CANCEL_COMMENT})
        elif delete_type is DeleteType.HARD:
            live.request("POST", f"{path}/permanentDelete", "permanentDeleteEvent", mailbox=ref.mailbox)
        else:
            live.request("DELETE", path, "deleteEvent", mailbox=ref.mailbox)
    except PermanentError as refused:
        if refused.code is ErrorCode.ITEM_NOT_FOUND:
            return False
        raise
    return True


# Building blocks -------------------------------------------------------------------------------


def _get(live: GraphLive, ref: EventRef) -> dict[str, Any] | None:
    try:
        event = live.request("GET", event_path(live, ref), "getEvent", mailbox=ref.mailbox,
                             params={"$select": _STATE, "$expand": stamps.expand_stamps()})
    except PermanentError as refused:
        if refused.code is ErrorCode.ITEM_NOT_FOUND:
            return None
        raise
    return event if isinstance(event, dict) else None


def _attendees_after(
    live: GraphLive, ref: EventRef, changes: EventChanges, stamped: dict[str, str]
) -> list[dict[str, Any]] | None:
    """The attendee list to PATCH (None: kept in PendingAttendees instead, the event not yet
    invited). A list the job leaves out keeps its members (read first, one GET)."""
    event = _get(live, ref)
    if event is None:
        raise PermanentError(ErrorCode.ITEM_NOT_FOUND, "the event is no longer in Exchange")
    found = stamps.stamps_of(event)
    invited = stamps.INVITES_SENT in found or bool(event.get("attendees"))
    current = list(event.get("attendees") or ()) if invited else _pending(found)
    by_kind: dict[str, list[str]] = {"required": [], "optional": [], "resource": []}
    for person in current:
        address = (person.get("emailAddress") or {}).get("address")
        if address:
            by_kind.setdefault(str(person.get("type") or "required"), []).append(str(address))
    required = changes.required_attendees if changes.required_attendees is not None else by_kind["required"]
    optional = changes.optional_attendees if changes.optional_attendees is not None else by_kind["optional"]
    rooms = changes.rooms if changes.rooms is not None else by_kind["resource"]
    people = attendee_list(required, optional, rooms)
    if invited:
        return people
    stamped[stamps.PENDING_ATTENDEES] = json.dumps(people)
    return None


def _pending(found: dict[str, str]) -> list[dict[str, Any]]:
    try:
        people = json.loads(found.get(stamps.PENDING_ATTENDEES) or "[]")
    except ValueError:
        return []
    return [p for p in people if isinstance(p, dict)] if isinstance(people, list) else []


def _pending_emails(found: dict[str, str]) -> tuple[str, ...]:
    return emails_of({"attendees": _pending(found)})


def _ref(event: Any, mailbox: str) -> EventRef:
    if not isinstance(event, dict) or not event.get("id"):
        raise PermanentError(ErrorCode.EWS_ERROR, "Graph answered without the event's id")
    return EventRef(item_id=str(event["id"]), change_key=str(event.get("changeKey") or ""),
                    mailbox=mailbox.lower())
