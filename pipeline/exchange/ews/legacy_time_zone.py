"""Exchange 2007's MeetingTimeZone, which exchangelib writes in Exchange 2010's shape.

Before Exchange 2010 a calendar item names its zone in MeetingTimeZone, of TimeZoneType: a
TimeZoneName attribute and optionally BaseOffset, Standard and Daylight. exchangelib 5.6 writes it
as it writes StartTimeZone, of TimeZoneDefinitionType (Id and Name attributes), which Exchange 2007
refuses: "The attribute 'Id' is not allowed" (ErrorSchemaValidation). Start and end travel with
their UTC offset, so the meeting's moment is right without the zone; TimeZoneName keeps the zone's
Windows name for display.

LegacyZoneCalendarItem writes TimeZoneName instead. Being a subclass, it also keeps exchangelib's
UpdateItem from adding a MeetingTimeZone to a start or end change (UpdateItem adds the zone fields
only to items whose class is exactly CalendarItem). calendar_item_class picks it for servers before
Exchange 2010 only; later ones get CalendarItem and StartTimeZone/EndTimeZone as before.
"""

from __future__ import annotations

from typing import Any

from exchangelib import CalendarItem
from exchangelib.util import TNS
from exchangelib.version import EXCHANGE_2010, Version

from pipeline.exchange.ews.booking_stamp import register_booking_stamp

__all__ = ["LegacyZoneCalendarItem", "calendar_item_class"]

# The subclass copies CalendarItem's fields when it is defined: the booking stamp must be there first.
register_booking_stamp()


class LegacyZoneCalendarItem(CalendarItem):
    """A CalendarItem whose MeetingTimeZone is valid in Exchange 2007's schema."""

    def to_xml(self, version: Version) -> Any:
        element = super().to_xml(version=version)
        for zone in element.iter(f"{{{TNS}}}MeetingTimeZone"):
            windows_name = zone.attrib.pop("Id", None)
            zone.attrib.pop("Name", None)
            if windows_name:
                zone.set("TimeZoneName", windows_name)
        return element


def calendar_item_class(version: Version) -> type[CalendarItem]:
    """The class to write calendar items with for a server of this version."""
    return LegacyZoneCalendarItem if version.build < EXCHANGE_2010 else CalendarItem
