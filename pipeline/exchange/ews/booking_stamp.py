"""The extended properties ews-pipeline stamps on the calendar items it writes.

The only place that knows their property set and names. Exchange keeps them on the item whatever
client edits it later, so a retried job can ask Exchange what an earlier attempt already did:

- BookingKey: the upstream app's booking key, set by CreateItem (find the item again by it).
- InvitesSent: set by the very request that sends the meeting requests, send_invite's UpdateItem
  or create_event's CreateItem with send_invitations (so "sent" and "marked sent" cannot come
  apart): the message id of that job.
- LastUpdate: the message id of the update_event job whose UpdateItem last changed the item.
- CopyOf: the booking key again, on a copy of the booking in an additional booking calendar
  (which carries BookingKey too, so that calendar syncs skip it as one of ours): a copy is found
  by it, and is never taken for the booking itself.

Registered on exchangelib's CalendarItem once, at import; registering twice would raise.
"""

from __future__ import annotations

import threading

from exchangelib import CalendarItem, ExtendedProperty
from exchangelib.fields import InvalidField

__all__ = [
    "BOOKING_KEY_FIELD",
    "COPY_OF_FIELD",
    "INVITES_SENT_FIELD",
    "LAST_UPDATE_FIELD",
    "PROPERTY_SET_ID",
    "BookingKeyProperty",
    "CopyOfProperty",
    "InvitesSentProperty",
    "LastUpdateProperty",
    "register_booking_stamp",
]

# Our own named-property namespace (a fixed, random GUID); never change it, or stamped items
# already in customers' calendars can no longer be found.
PROPERTY_SET_ID = "97b9a7ef-91fa-4876-8475-0a4160143f48"

BOOKING_KEY_FIELD = "ews_pipeline_booking_key"
INVITES_SENT_FIELD = "ews_pipeline_invites_sent"
LAST_UPDATE_FIELD = "ews_pipeline_last_update"
COPY_OF_FIELD = "ews_pipeline_copy_of"


class BookingKeyProperty(ExtendedProperty):
    property_set_id = PROPERTY_SET_ID
    property_name = "BookingKey"
    property_type = "String"


class InvitesSentProperty(ExtendedProperty):
    property_set_id = PROPERTY_SET_ID
    property_name = "InvitesSent"
    property_type = "String"


class LastUpdateProperty(ExtendedProperty):
    property_set_id = PROPERTY_SET_ID
    property_name = "LastUpdate"
    property_type = "String"


class CopyOfProperty(ExtendedProperty):
    property_set_id = PROPERTY_SET_ID
    property_name = "CopyOf"
    property_type = "String"


_FIELDS: tuple[tuple[str, type[ExtendedProperty]], ...] = (
    (BOOKING_KEY_FIELD, BookingKeyProperty),
    (INVITES_SENT_FIELD, InvitesSentProperty),
    (LAST_UPDATE_FIELD, LastUpdateProperty),
    (COPY_OF_FIELD, CopyOfProperty),
)
_LOCK = threading.Lock()


def register_booking_stamp() -> None:
    """Register the stamp's properties on CalendarItem; idempotent and thread-safe."""
    with _LOCK:
        for name, prop in _FIELDS:
            try:
                CalendarItem.get_field_by_fieldname(name)
            except InvalidField:
                CalendarItem.register(name, prop)


register_booking_stamp()
