"""Items in and out of XML: response shapes, parsing CreateItem/UpdateItem items, rendering items."""

from __future__ import annotations

from dataclasses import dataclass

from infra.ewssim.errors import EwsError
from infra.ewssim.models.items import CalendarItem, Item, MessageItem
from infra.ewssim.namespaces import Element, add, local_name, t
from infra.ewssim.responses.item_fields import EXTENDED, FIELDS, RenderContext, element_name
from infra.ewssim.responses.item_layouts import BY_TAG, LAYOUTS
from infra.ewssim.responses.item_values import extended_key, extended_key_attributes

__all__ = ["Shape", "apply_child", "parse_item", "parse_shape", "render_item", "set_extended"]

# Multi-valued extended properties are stored as one string; NUL cannot occur in XML text.
_VALUE_SEPARATOR = "\x00"
# What a delegate without "view private items" never sees of a Private item.
PRIVATE_FIELDS = frozenset(
    {
        "item:Subject", "item:Body", "item:Categories", "calendar:Location", "calendar:RequiredAttendees",
        "calendar:OptionalAttendees", "calendar:Resources", "item:DisplayTo", "item:DisplayCc",
    }
)  # fmt: skip
_DEFAULT_FIELDS = frozenset(
    {
        "item:ItemId", "item:ParentFolderId", "item:ItemClass", "item:Subject", "item:Sensitivity",
        "item:DateTimeReceived", "item:Size", "item:Importance", "item:HasAttachments", "item:DateTimeSent",
        "item:DateTimeCreated", "item:DisplayTo", "item:DisplayCc", "calendar:UID", "calendar:Start",
        "calendar:End", "calendar:IsAllDayEvent", "calendar:LegacyFreeBusyStatus", "calendar:Location",
        "calendar:Organizer", "calendar:MyResponseType", "calendar:IsMeeting", "calendar:IsCancelled",
        "calendar:CalendarItemType", "message:Sender", "message:From", "message:IsRead",
        "meeting:ResponseType", "meeting:AssociatedCalendarItemId",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Shape:
    """Which properties to return: a base shape plus additional FieldURIs and extended properties."""

    base: str = "IdOnly"
    uris: frozenset[str] = frozenset()
    extended: tuple[str, ...] = ()
    with_body: bool = True  # FindItem never returns bodies

    def wants(self, uri: str) -> bool:
        if uri == "item:ItemId" or uri in self.uris:
            return True
        if self.base == "AllProperties":
            return self.with_body or uri != "item:Body"
        return self.base == "Default" and uri in _DEFAULT_FIELDS


def parse_shape(shape: Element | None, *, with_body: bool = True) -> Shape:
    """An m:ItemShape element as a Shape."""
    if shape is None:
        return Shape(with_body=with_body)
    base = shape.findtext(t("BaseShape"), "IdOnly")
    uris: set[str] = set()
    extended: list[str] = []
    additional = shape.find(t("AdditionalProperties"))
    for path in additional if additional is not None else ():
        name = local_name(path)
        if name == "FieldURI":
            uris.add(path.get("FieldURI", ""))
        elif name == "ExtendedFieldURI":
            extended.append(extended_key(path))
    return Shape(base, frozenset(uris), tuple(extended), with_body)


def render_item(
    parent: Element, item: Item, shape: Shape, context: RenderContext, *, masked: bool = False
) -> None:
    """Append the item as its t:* element with the shape's properties, in schema order."""
    element = add(parent, t(element_name(item)))
    for uri in LAYOUTS[element_name(item)]:
        if uri == EXTENDED:
            _render_extended(element, item, shape.extended)
            continue
        if not shape.wants(uri) or (masked and uri in PRIVATE_FIELDS) or uri in context.omitted:
            continue
        render = FIELDS[uri].render
        if render is not None:
            render(element, item, context)


def _render_extended(element: Element, item: Item, keys: tuple[str, ...]) -> None:
    for key in keys:
        value = item.extended_properties.get(key)
        if value is None:
            continue
        prop = add(element, t("ExtendedProperty"))
        add(prop, t("ExtendedFieldURI"), **extended_key_attributes(key))
        if key.endswith("Array"):
            values = add(prop, t("Values"))
            for part in value.split(_VALUE_SEPARATOR):
                add(values, t("Value"), part)
        else:
            add(prop, t("Value"), value)


def set_extended(item: Item, prop: Element) -> None:
    """Store a t:ExtendedProperty (single Value or Values) on the item."""
    uri = prop.find(t("ExtendedFieldURI"))
    if uri is None:
        raise EwsError("ErrorInvalidExtendedProperty", "An ExtendedProperty has no ExtendedFieldURI.")
    single = prop.find(t("Value"))
    if single is not None:
        value = single.text or ""
    else:
        value = _VALUE_SEPARATOR.join(v.text or "" for v in prop.iterfind(f"{t('Values')}/{t('Value')}"))
    item.extended_properties[extended_key(uri)] = value


def parse_item(element: Element, default_zone: str = "UTC") -> Item:
    """A new model item from a CreateItem t:CalendarItem or t:Message element.

    Times without an offset are in the item's StartTimeZone (MeetingTimeZone), else in
    `default_zone` (the request's TimeZoneContext), which a calendar item without a zone of its own
    takes, as Exchange assigns it."""
    name = local_name(element)
    item: Item
    if name == "CalendarItem":
        item = CalendarItem()
    elif name == "Message":
        item = MessageItem(item_class=element.findtext(t("ItemClass")) or "IPM.Note")
    else:
        raise EwsError("ErrorInvalidRequest", f"ewssim cannot create a {name}.")
    zone = _zone_of(element) or default_zone
    if isinstance(item, CalendarItem):
        item.time_zone = zone
    for child in element:
        apply_child(item, name, child, zone)
    return item


def apply_child(item: Item, element_type: str, child: Element, zone: str) -> None:
    """Set one property from a child of an item element; read-only and unknown ones are ignored,
    as Exchange ignores what a client may send but not change (exchangelib sends Importance,
    reminders and the like)."""
    if not isinstance(child.tag, str):  # a comment or processing instruction
        return
    # rpartition rather than QName(): this runs for every property of every created item.
    tag = child.tag.rpartition("}")[2]
    if tag == "ExtendedProperty":
        set_extended(item, child)
        return
    uri = BY_TAG.get(element_type, {}).get(tag)
    apply = FIELDS[uri].apply if uri else None
    if apply is not None:
        apply(item, child, zone)


def _zone_of(element: Element) -> str:
    """The time zone local datetimes in the element are in (StartTimeZone, else MeetingTimeZone), or
    "" when it names none."""
    start = element.find(t("StartTimeZone"))
    if start is not None and start.get("Id"):
        return start.get("Id", "UTC")
    meeting = element.find(t("MeetingTimeZone"))
    if meeting is not None and meeting.get("TimeZoneName"):
        return meeting.get("TimeZoneName", "UTC")
    return ""
