"""The item properties the simulator knows, by EWS FieldURI: how each renders, reads and is set.

One `Field` per FieldURI serves GetItem/FindItem rendering (in schema order, see `LAYOUTS`),
restrictions and sorting (`value`), CreateItem and SetItemField (`apply`) and DeleteItemField
(`clear`). Meeting messages share the calendar fields, so the model attributes are read with
getattr and a default. Which fields each item element carries, in order, is in item_layouts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from infra.ewssim.models.items import CalendarItem, Item, MessageItem
from infra.ewssim.namespaces import Element, add, t
from infra.ewssim.responses.item_values import (
    add_attendees,
    add_mailbox,
    ews_bool,
    ews_datetime,
    parse_attendees,
    parse_bool,
    parse_datetime,
)
from infra.ewssim.responses.time_zone_xml import add_meeting_time_zone, add_time_zone_definition

__all__ = ["EXTENDED", "FIELDS", "Field", "RenderContext", "element_name", "item_class"]

EXTENDED = "ExtendedProperty"  # where extended properties go in every layout


@dataclass(frozen=True)
class RenderContext:
    """Per-request facts a field's rendering depends on."""

    rights: tuple[bool, ...]  # CreateAssociated, CreateContents, CreateHierarchy, Delete, Modify, Read
    view_private: bool
    display_names: Callable[[str], str]
    omitted: frozenset[str] = frozenset()  # FieldURIs newer than the request's schema version


Value = Any


@dataclass(frozen=True)
class Field:
    tag: str
    value: Callable[[Item], Value]
    render: Callable[[Element, Item, RenderContext], None] | None = None
    apply: Callable[[Item, Element, str], None] | None = None  # (item, element, time zone id)
    clear: Callable[[Item], None] | None = None
    kind: type = str  # how restriction constants are parsed: str, datetime, bool, int


def item_class(item: Item) -> str:
    return item.item_class if isinstance(item, MessageItem) else "IPM.Appointment"


def element_name(item: Item) -> str:
    """The t:* element an item renders as, which tells exchangelib which class to build."""
    if isinstance(item, CalendarItem):
        return "CalendarItem"
    cls = item_class(item)
    if cls.startswith("IPM.Schedule.Meeting.Request"):
        return "MeetingRequest"
    if cls.startswith("IPM.Schedule.Meeting.Canceled"):
        return "MeetingCancellation"
    if cls.startswith("IPM.Schedule.Meeting.Resp"):
        return "MeetingResponse"
    return "Message"


def _text(tag: str, attr: str, default: str = "") -> Field:
    def render(parent: Element, item: Item, _: RenderContext) -> None:
        value = getattr(item, attr, default)
        if value:
            add(parent, t(tag), value)

    def apply(item: Item, element: Element, _: str) -> None:
        setattr(item, attr, element.text or "")

    def clear(item: Item) -> None:
        setattr(item, attr, default)

    return Field(tag, lambda item: getattr(item, attr, default), render, apply, clear)


def _flag(tag: str, attr: str | Callable[[Item], bool], settable: bool = False) -> Field:
    def value(item: Item) -> bool:
        return bool(attr(item) if callable(attr) else getattr(item, attr, False))

    def render(parent: Element, item: Item, _: RenderContext) -> None:
        add(parent, t(tag), ews_bool(value(item)))

    def apply(item: Item, element: Element, _: str) -> None:
        assert isinstance(attr, str)
        setattr(item, attr, parse_bool(element.text))

    return Field(tag, value, render, apply if settable else None, kind=bool)


def _when(tag: str, attr: str, settable: bool = False) -> Field:
    def render(parent: Element, item: Item, _: RenderContext) -> None:
        value = getattr(item, attr, None)
        if value is not None:
            add(parent, t(tag), ews_datetime(value))

    def apply(item: Item, element: Element, zone: str) -> None:
        setattr(item, attr, parse_datetime(element.text or "", zone))

    return Field(
        tag, lambda item: getattr(item, attr, None), render, apply if settable else None, kind=datetime
    )


def _constant(tag: str, value: Callable[[Item], str]) -> Field:
    def render(parent: Element, item: Item, _: RenderContext) -> None:
        add(parent, t(tag), value(item))

    return Field(tag, value, render)


def _item_id(parent: Element, item: Item, _: RenderContext) -> None:
    add(parent, t("ItemId"), Id=item.item_id, ChangeKey=item.change_key)


def _parent_folder(parent: Element, item: Item, _: RenderContext) -> None:
    add(parent, t("ParentFolderId"), Id=item.folder_id)


def _body(parent: Element, item: Item, _: RenderContext) -> None:
    add(parent, t("Body"), item.body, BodyType=item.body_type)


def _set_body(item: Item, element: Element, _: str) -> None:
    item.body = element.text or ""
    item.body_type = "HTML" if element.get("BodyType", "Text").upper() == "HTML" else "Text"


def _categories(parent: Element, item: Item, _: RenderContext) -> None:
    if item.categories:
        container = add(parent, t("Categories"))
        for category in item.categories:
            add(container, t("String"), category)


def _set_categories(item: Item, element: Element, _: str) -> None:
    item.categories = [s.text or "" for s in element.iterfind(t("String"))]


def _effective_rights(parent: Element, item: Item, context: RenderContext) -> None:
    container = add(parent, t("EffectiveRights"))
    names = ("CreateAssociated", "CreateContents", "CreateHierarchy", "Delete", "Modify", "Read")
    for name, allowed in zip(names, context.rights, strict=True):
        add(container, t(name), ews_bool(allowed))
    add(container, t("ViewPrivateItems"), ews_bool(context.view_private))


def _person(tag: str, attr: str | Callable[[Item], str]) -> Field:
    def value(item: Item) -> str:
        return attr(item) if callable(attr) else getattr(item, attr, "")

    def render(parent: Element, item: Item, context: RenderContext) -> None:
        email = value(item)
        if email:
            add_mailbox(add(parent, t(tag)), email, context.display_names(email))

    return Field(tag, value, render)


def _recipients(tag: str, attr: str) -> Field:
    def render(parent: Element, item: Item, context: RenderContext) -> None:
        emails = getattr(item, attr, [])
        if emails:
            container = add(parent, t(tag))
            for email in emails:
                add_mailbox(container, email, context.display_names(email))

    def apply(item: Item, element: Element, _: str) -> None:
        emails = [e.text.lower() for e in element.iterfind(f"{t('Mailbox')}/{t('EmailAddress')}") if e.text]
        setattr(item, attr, emails)

    return Field(
        tag, lambda item: ";".join(getattr(item, attr, [])), render, apply, lambda i: setattr(i, attr, [])
    )


def _attendees(tag: str, attr: str, kind: Any) -> Field:
    def render(parent: Element, item: Item, _: RenderContext) -> None:
        add_attendees(parent, tag, getattr(item, attr, []))

    def apply(item: Item, element: Element, _: str) -> None:
        setattr(item, attr, parse_attendees(element, kind))

    def value(item: Item) -> str:
        return ";".join(a.email for a in getattr(item, attr, []))

    return Field(tag, value, render, apply, lambda item: setattr(item, attr, []))


def _display(tag: str, recipients: Callable[[Item], list[str]]) -> Field:
    def value(item: Item) -> str:
        return "; ".join(recipients(item))

    return Field(
        tag,
        value,
        lambda p, i, c: add(p, t(tag), "; ".join(c.display_names(e) for e in recipients(i))),
    )


def _to(item: Item) -> list[str]:
    """A message's To; a meeting's required attendees, who are its To (DisplayTo)."""
    if isinstance(item, CalendarItem):
        return [a.email for a in item.required_attendees]
    return list(getattr(item, "to_recipients", []))


def _cc(item: Item) -> list[str]:
    """A message's Cc; a meeting's optional attendees (DisplayCc)."""
    if isinstance(item, CalendarItem):
        return [a.email for a in item.optional_attendees]
    return list(getattr(item, "cc_recipients", []))


def _last_modifier(item: Item) -> str:
    return item.modified_by or item.mailbox


def _last_modified_name(parent: Element, item: Item, context: RenderContext) -> None:
    """The display name of whoever changed the item last, as Exchange writes it."""
    add(parent, t("LastModifiedName"), context.display_names(_last_modifier(item)))


def _start_zone(item: Item, element: Element, _: str) -> None:
    setattr(item, "time_zone", element.get("Id") or element.get("TimeZoneName") or "UTC")  # noqa: B010


def _end_zone(item: Item, element: Element, _: str) -> None:
    setattr(item, "end_time_zone", element.get("Id") or "UTC")  # noqa: B010


def _start_zone_id(item: Item) -> str:
    return getattr(item, "time_zone", "") or "UTC"


def _end_zone_id(item: Item) -> str:
    return getattr(item, "end_time_zone", "") or _start_zone_id(item)


def _zone_year(item: Item) -> int | None:
    """The year whose rules describe the item's zone: its start's (Exchange writes the rules in force)."""
    start = getattr(item, "start", None)
    return start.year if start is not None else None


def _render_start_zone(parent: Element, item: Item, _: RenderContext) -> None:
    add_time_zone_definition(parent, "StartTimeZone", _start_zone_id(item), _zone_year(item))


def _render_end_zone(parent: Element, item: Item, _: RenderContext) -> None:
    add_time_zone_definition(parent, "EndTimeZone", _end_zone_id(item), _zone_year(item))


def _render_meeting_zone(parent: Element, item: Item, _: RenderContext) -> None:
    add_meeting_time_zone(parent, _start_zone_id(item), _zone_year(item))


def _duration(item: Item) -> str:
    start, end = getattr(item, "start", None), getattr(item, "end", None)
    if start is None or end is None:
        return ""
    seconds = int((end - start).total_seconds())
    return f"PT{seconds // 3600}H{seconds % 3600 // 60}M"


def _is_organizer(item: Item) -> bool:
    return isinstance(item, CalendarItem) and item.is_organizer


def _appointment_state(item: Item) -> str:
    return str(getattr(item, "appointment_state", 0))


def _meeting_request_type(item: Item) -> str:
    return "NewMeetingRequest" if getattr(item, "sequence", 0) == 0 else "FullUpdate"


def _associated(parent: Element, item: Item, _: RenderContext) -> None:
    associated = getattr(item, "associated_calendar_item_id", "")
    if associated:
        add(parent, t("AssociatedCalendarItemId"), Id=associated)


FIELDS: dict[str, Field] = {
    "item:ItemId": Field("ItemId", lambda i: i.item_id, _item_id),
    "item:ParentFolderId": Field("ParentFolderId", lambda i: i.folder_id, _parent_folder),
    "item:ItemClass": Field("ItemClass", item_class, lambda p, i, c: add(p, t("ItemClass"), item_class(i))),
    "item:Subject": _text("Subject", "subject"),
    "item:Sensitivity": _text("Sensitivity", "sensitivity", "Normal"),
    "item:Body": Field("Body", lambda i: i.body, _body, _set_body, lambda i: setattr(i, "body", "")),
    "item:DateTimeReceived": _when("DateTimeReceived", "created"),
    "item:Size": _constant("Size", lambda i: str(len(i.body) + len(i.subject) + 256)),
    "item:Categories": Field(
        "Categories",
        lambda i: ";".join(i.categories),
        _categories,
        _set_categories,
        lambda i: setattr(i, "categories", []),
    ),
    "item:Importance": _constant("Importance", lambda i: "Normal"),
    "item:IsDraft": _flag("IsDraft", lambda i: isinstance(i, MessageItem) and i.sent is None),
    "item:DateTimeSent": _when("DateTimeSent", "sent"),
    "item:DateTimeCreated": _when("DateTimeCreated", "created"),
    "item:ReminderIsSet": _flag("ReminderIsSet", lambda i: False),
    "item:DisplayCc": _display("DisplayCc", _cc),
    "item:DisplayTo": _display("DisplayTo", _to),
    "item:HasAttachments": _flag("HasAttachments", lambda i: False),
    "item:EffectiveRights": Field("EffectiveRights", lambda i: "", _effective_rights),
    "item:LastModifiedName": Field("LastModifiedName", _last_modifier, _last_modified_name),
    "item:LastModifiedTime": _when("LastModifiedTime", "modified"),
    "calendar:UID": _text("UID", "uid"),
    "calendar:DateTimeStamp": _when("DateTimeStamp", "modified"),
    "calendar:Start": _when("Start", "start", settable=True),
    "calendar:End": _when("End", "end", settable=True),
    "calendar:IsAllDayEvent": _flag("IsAllDayEvent", "is_all_day", settable=True),
    "calendar:LegacyFreeBusyStatus": _text("LegacyFreeBusyStatus", "legacy_free_busy_status", "Busy"),
    "calendar:Location": _text("Location", "location"),
    "calendar:IsMeeting": _flag("IsMeeting", lambda i: getattr(i, "is_meeting", True)),
    "calendar:IsCancelled": _flag("IsCancelled", "is_cancelled"),
    "calendar:IsRecurring": _flag("IsRecurring", lambda i: False),
    "calendar:MeetingRequestWasSent": _flag("MeetingRequestWasSent", "meeting_request_was_sent"),
    "calendar:IsResponseRequested": _flag("IsResponseRequested", "is_response_requested", settable=True),
    "calendar:CalendarItemType": _constant("CalendarItemType", lambda i: "Single"),
    "calendar:MyResponseType": _text("MyResponseType", "my_response_type", "Unknown"),
    "calendar:Organizer": _person("Organizer", "organizer"),
    "calendar:RequiredAttendees": _attendees("RequiredAttendees", "required_attendees", "required"),
    "calendar:OptionalAttendees": _attendees("OptionalAttendees", "optional_attendees", "optional"),
    "calendar:Resources": _attendees("Resources", "resources", "resource"),
    "calendar:Duration": Field("Duration", _duration, lambda p, i, c: add(p, t("Duration"), _duration(i))),
    "calendar:TimeZone": _text("TimeZone", "time_zone"),
    "calendar:AppointmentReplyTime": _when("AppointmentReplyTime", "appointment_reply_time"),
    "calendar:AppointmentSequenceNumber": _constant(
        "AppointmentSequenceNumber", lambda i: str(getattr(i, "sequence", 0))
    ),
    "calendar:MeetingTimeZone": Field("MeetingTimeZone", _start_zone_id, _render_meeting_zone, _start_zone),
    "calendar:StartTimeZone": Field("StartTimeZone", _start_zone_id, _render_start_zone, _start_zone),
    "calendar:EndTimeZone": Field("EndTimeZone", _end_zone_id, _render_end_zone, _end_zone),
    "calendar:AppointmentState": _constant("AppointmentState", _appointment_state),
    "calendar:IsOrganizer": _flag("IsOrganizer", _is_organizer),
    "message:Sender": _person("Sender", lambda i: getattr(i, "sent_by", "") or getattr(i, "sender", "")),
    "message:ToRecipients": _recipients("ToRecipients", "to_recipients"),
    "message:CcRecipients": _recipients("CcRecipients", "cc_recipients"),
    "message:From": _person("From", "sender"),
    "message:IsRead": _flag("IsRead", "is_read", settable=True),
    "meeting:AssociatedCalendarItemId": Field("AssociatedCalendarItemId", lambda i: "", _associated),
    # Meeting messages are never forwarded to delegates here, so none is delegated.
    "meeting:IsDelegated": _flag("IsDelegated", lambda i: False),
    "meeting:IsOutOfDate": _flag("IsOutOfDate", "is_out_of_date"),
    "meeting:HasBeenProcessed": _flag("HasBeenProcessed", "has_been_processed"),
    "meeting:ResponseType": _text("ResponseType", "response_type", "Unknown"),
    "meetingRequest:MeetingRequestType": _constant("MeetingRequestType", _meeting_request_type),
    "meetingRequest:IntendedFreeBusyStatus": _constant(
        "IntendedFreeBusyStatus", lambda i: getattr(i, "legacy_free_busy_status", "Busy")
    ),
}
