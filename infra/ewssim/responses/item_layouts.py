"""Which properties each item element carries, in its schema type's xs:sequence order."""

from __future__ import annotations

from infra.ewssim.errors import EwsError
from infra.ewssim.responses.item_fields import EXTENDED, FIELDS, Field

__all__ = ["BY_TAG", "LAYOUTS", "require_settable"]

_ITEM = [
    "item:ItemId", "item:ParentFolderId", "item:ItemClass", "item:Subject", "item:Sensitivity", "item:Body",
    "item:DateTimeReceived", "item:Size", "item:Categories", "item:Importance", "item:IsDraft",
    "item:DateTimeSent", "item:DateTimeCreated", "item:ReminderIsSet", "item:DisplayCc", "item:DisplayTo",
    "item:HasAttachments", EXTENDED, "item:EffectiveRights", "item:LastModifiedName", "item:LastModifiedTime",
]  # fmt: skip
_MESSAGE = [
    *_ITEM,
    "message:Sender",
    "message:ToRecipients",
    "message:CcRecipients",
    "message:From",
    "message:IsRead",
]
_MEETING = [
    *_MESSAGE, "meeting:AssociatedCalendarItemId", "meeting:IsDelegated", "meeting:IsOutOfDate",
    "meeting:HasBeenProcessed", "meeting:ResponseType",
]  # fmt: skip
_WHERE_AND_WHEN = ["calendar:Start", "calendar:End", "calendar:Location"]

# Render order of each element type, following the xs:sequence of its schema type.
LAYOUTS: dict[str, list[str]] = {
    "CalendarItem": [
        *_ITEM, "calendar:UID", "calendar:DateTimeStamp", "calendar:Start", "calendar:End",
        "calendar:IsAllDayEvent", "calendar:LegacyFreeBusyStatus", "calendar:Location", "calendar:IsMeeting",
        "calendar:IsCancelled", "calendar:IsRecurring", "calendar:MeetingRequestWasSent",
        "calendar:IsResponseRequested", "calendar:CalendarItemType", "calendar:MyResponseType",
        "calendar:Organizer", "calendar:RequiredAttendees", "calendar:OptionalAttendees",
        "calendar:Resources", "calendar:Duration", "calendar:TimeZone", "calendar:AppointmentReplyTime",
        "calendar:AppointmentSequenceNumber", "calendar:AppointmentState", "calendar:MeetingTimeZone",
        "calendar:StartTimeZone", "calendar:EndTimeZone", "calendar:IsOrganizer",
    ],
    "Message": _MESSAGE,
    "MeetingRequest": [
        *_MEETING, "meetingRequest:MeetingRequestType", "meetingRequest:IntendedFreeBusyStatus",
        "calendar:Start", "calendar:End", "calendar:IsAllDayEvent", "calendar:LegacyFreeBusyStatus",
        "calendar:Location", "calendar:IsMeeting", "calendar:IsCancelled", "calendar:CalendarItemType",
        "calendar:MyResponseType", "calendar:Organizer", "calendar:RequiredAttendees",
        "calendar:OptionalAttendees", "calendar:Resources", "calendar:AppointmentSequenceNumber",
        "calendar:AppointmentState", "calendar:MeetingTimeZone", "calendar:StartTimeZone",
        "calendar:EndTimeZone",
    ],
    "MeetingCancellation": [*_MEETING, *_WHERE_AND_WHEN],
    "MeetingResponse": [*_MEETING, *_WHERE_AND_WHEN],
}  # fmt: skip

# Element tag -> FieldURI, per element type, for reading CreateItem and SetItemField items.
BY_TAG: dict[str, dict[str, str]] = {
    name: {FIELDS[uri].tag: uri for uri in layout if uri != EXTENDED} for name, layout in LAYOUTS.items()
}


def require_settable(uri: str) -> Field:
    """The field for a FieldURI that UpdateItem may set, else ErrorInvalidPropertySet."""
    found = FIELDS.get(uri)
    if found is None or found.apply is None:
        raise EwsError("ErrorInvalidPropertySet", f"The property {uri} cannot be set.")
    return found
