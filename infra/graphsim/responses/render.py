"""Events and calendars as Graph JSON (shapes of the v1.0 event and calendar resources,
https://learn.microsoft.com/en-us/graph/api/resources/event,
https://learn.microsoft.com/en-us/graph/api/resources/calendar), and event bodies parsed back."""

from __future__ import annotations

from typing import Any

from infra.ewssim.models.items import Attendee, AttendeeKind, CalendarItem
from infra.ewssim.models.mailbox import Folder
from infra.graphsim.context import GraphContext
from infra.graphsim.errors import GraphError
from infra.graphsim.models.extended_properties import graph_id, is_single_value, store_key
from infra.graphsim.models.ids import rest_id
from infra.graphsim.models.times import format_local, format_utc, parse_date_time_time_zone, windows_name
from infra.graphsim.odata import apply_select, expand_filter

__all__ = ["apply_event_body", "calendar_json", "etag", "event_json", "event_view"]

SHOW_AS = {
    "Free": "free",
    "Tentative": "tentative",
    "Busy": "busy",
    "OOF": "oof",
    "WorkingElsewhere": "workingElsewhere",
    "NoData": "unknown",
}
_LEGACY = {value: key for key, value in SHOW_AS.items()}
RESPONSES = {
    "Unknown": "none",
    "Organizer": "organizer",
    "Tentative": "tentativelyAccepted",
    "Accept": "accepted",
    "Decline": "declined",
    "NoResponseReceived": "notResponded",
}
_SENSITIVITY = {
    "Normal": "normal",
    "Personal": "personal",
    "Private": "private",
    "Confidential": "confidential",
}
_SENSITIVITY_BACK = {value: key for key, value in _SENSITIVITY.items()}
_KINDS: dict[str, AttendeeKind] = {"required": "required", "optional": "optional", "resource": "resource"}


def etag(change_key: str) -> str:
    return f'W/"{change_key}"'


def _address(email: str, name: str) -> dict[str, Any]:
    return {"emailAddress": {"name": name or email, "address": email}}


def _attendee(attendee: Attendee) -> dict[str, Any]:
    return {
        "type": attendee.kind,
        "status": {
            "response": RESPONSES.get(attendee.response, "none"),
            "time": format_utc(attendee.last_response_time) or "0001-01-01T00:00:00Z",
        },
        **_address(attendee.email, attendee.name),
    }


def event_json(item: CalendarItem, zone_name: str) -> dict[str, Any]:
    """The full event resource for a calendar item, dateTimes in `zone_name`."""
    preview = item.body if item.body_type == "Text" else ""
    return {
        "@odata.etag": etag(item.change_key),
        "id": rest_id(item.item_id),
        "createdDateTime": format_utc(item.created),
        "lastModifiedDateTime": format_utc(item.modified),
        "changeKey": item.change_key,
        "categories": list(item.categories),
        "transactionId": None,
        "originalStartTimeZone": item.time_zone or "UTC",
        "originalEndTimeZone": item.end_time_zone or item.time_zone or "UTC",
        "iCalUId": item.uid,
        "reminderMinutesBeforeStart": 15,
        "isReminderOn": True,
        "hasAttachments": False,
        "subject": item.subject,
        "bodyPreview": preview[:255],
        "importance": "normal",
        "sensitivity": _SENSITIVITY.get(item.sensitivity, "normal"),
        "isAllDay": item.is_all_day,
        "isCancelled": item.is_cancelled,
        "isOrganizer": item.is_organizer,
        "responseRequested": item.is_response_requested,
        "seriesMasterId": None,
        "showAs": SHOW_AS.get(item.legacy_free_busy_status, "busy"),
        "type": "singleInstance",
        "webLink": f"https://outlook.office365.com/owa/?itemid={rest_id(item.item_id)}&exvsurl=1&path=/calendar/item",
        "onlineMeetingUrl": None,
        "isOnlineMeeting": False,
        "onlineMeetingProvider": "unknown",
        "allowNewTimeProposals": True,
        "isDraft": False,
        "hideAttendees": False,
        "responseStatus": {
            "response": RESPONSES.get(item.my_response_type, "none"),
            "time": format_utc(item.appointment_reply_time) or "0001-01-01T00:00:00Z",
        },
        "body": {"contentType": "html" if item.body_type == "HTML" else "text", "content": item.body},
        # An item saved through EWS without times has none to show (Graph's dateTimeTimeZone is nullable).
        "start": format_local(item.start, zone_name) if item.start is not None else None,
        "end": format_local(item.end, zone_name) if item.end is not None else None,
        "location": {"displayName": item.location, "locationType": "default", "uniqueIdType": "unknown"},
        "locations": (
            [{"displayName": item.location, "locationType": "default", "uniqueIdType": "unknown"}]
            if item.location
            else []
        ),
        "recurrence": None,
        "attendees": [_attendee(a) for a in item.attendees()],
        "organizer": _address(item.organizer or item.mailbox, item.organizer_name),
    }


def event_view(ctx: GraphContext, item: CalendarItem) -> dict[str, Any]:
    """The event as this request asks for it: $select, $expand of extended properties, time zone."""
    body = apply_select(event_json(item, ctx.prefs.time_zone), ctx.query.get("$select"))
    wanted, ids = expand_filter(ctx.query.get("$expand"))
    if wanted:
        keys = [store_key(i) for i in ids] if ids is not None else None
        body["singleValueExtendedProperties"] = [
            {"id": graph_id(key), "value": value}
            for key, value in item.extended_properties.items()
            if is_single_value(key) and (keys is None or key in keys)
        ]
    return body


def calendar_json(folder: Folder, owner_name: str, *, default: bool, can_edit: bool) -> dict[str, Any]:
    return {
        "@odata.etag": etag(folder.change_key),
        "id": rest_id(folder.folder_id),
        "name": folder.display_name,
        "color": "auto",
        "hexColor": "",
        "isDefaultCalendar": default,
        "changeKey": folder.change_key,
        "canShare": can_edit,
        "canViewPrivateItems": can_edit,
        "canEdit": can_edit,
        "allowedOnlineMeetingProviders": ["teamsForBusiness"],
        "defaultOnlineMeetingProvider": "teamsForBusiness",
        "isTallyingResponses": True,
        "isRemovable": not default,
        "owner": {"name": owner_name, "address": folder.mailbox},
    }


def _bad(message: str) -> GraphError:
    return GraphError(400, "ErrorInvalidRequest", message)


def _parse_attendees(raw: Any) -> list[Attendee]:
    if not isinstance(raw, list):
        raise _bad("attendees must be a collection.")
    found = []
    for entry in raw:
        email = ((entry or {}).get("emailAddress") or {}).get("address") if isinstance(entry, dict) else None
        if not isinstance(email, str) or "@" not in email:
            raise _bad("An attendee has no valid e-mail address.")
        kind = _KINDS.get(str(entry.get("type") or "required").lower(), "required")
        name = (entry.get("emailAddress") or {}).get("name") or ""
        found.append(Attendee(email=email.lower(), name=name, kind=kind))
    return found


def apply_event_body(item: CalendarItem, body: dict[str, Any]) -> set[str]:
    """Set the item's fields from an event create/update body; returns the Graph names changed."""
    changed: set[str] = set()
    try:
        if "subject" in body:
            item.subject = str(body["subject"] or "")
        if "body" in body and isinstance(body["body"], dict):
            item.body = str(body["body"].get("content") or "")
            item.body_type = (
                "HTML" if str(body["body"].get("contentType", "text")).lower() == "html" else "Text"
            )
        for name in ("start", "end"):
            if name in body:
                moment = parse_date_time_time_zone(body[name])
                zone = str(body[name].get("timeZone") or "UTC")
                if name == "start":
                    item.start, item.time_zone = moment, windows_name(zone)
                else:
                    item.end, item.end_time_zone = moment, windows_name(zone)
    except (ValueError, TypeError, AttributeError) as exc:
        raise _bad("start and end must be dateTimeTimeZone values with a known time zone.") from exc
    if "location" in body:
        item.location = str((body["location"] or {}).get("displayName") or "")
    if "isAllDay" in body:
        item.is_all_day = bool(body["isAllDay"])
    if "showAs" in body:
        item.legacy_free_busy_status = _LEGACY.get(str(body["showAs"]), "Busy")
    if "sensitivity" in body:
        item.sensitivity = _SENSITIVITY_BACK.get(str(body["sensitivity"]), "Normal")
    if "categories" in body:
        item.categories = [str(c) for c in body["categories"] or []]
    if "responseRequested" in body:
        item.is_response_requested = bool(body["responseRequested"])
    if "attendees" in body:
        attendees = _parse_attendees(body["attendees"] or [])
        previous = {a.email: a for a in item.attendees()}
        for attendee in attendees:
            kept = previous.get(attendee.email)
            if kept is not None:
                attendee.response, attendee.last_response_time = kept.response, kept.last_response_time
        item.required_attendees = [a for a in attendees if a.kind == "required"]
        item.optional_attendees = [a for a in attendees if a.kind == "optional"]
        item.resources = [a for a in attendees if a.kind == "resource"]
    for entry in body.get("singleValueExtendedProperties") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise _bad("An extended property needs an id.")
        item.extended_properties[store_key(entry["id"])] = str(entry.get("value") or "")
    changed.update(k for k in body if not k.startswith("@"))
    return changed
