"""Shared pieces of the calendar, meeting and access tests: the booking-key extended property,
time helpers, and reading mailboxes straight from the simulator's models."""

from __future__ import annotations

from datetime import datetime

from exchangelib import EWSDateTime, EWSTimeZone
from exchangelib.extended_properties import ExtendedProperty
from exchangelib.items import CalendarItem

from infra.ewssim.models.items import Item
from infra.ewssim.server import EwsSimulator
from tests.seed import smtp

UTC = EWSTimeZone("UTC")


class BookingKey(ExtendedProperty):
    """The pipeline's stamp on what it writes (a named property in PS_PUBLIC_STRINGS)."""

    distinguished_property_set_id = "PublicStrings"
    property_name = "BookingKey"
    property_type = "String"


def register_booking_key() -> None:
    """Register once per process: exchangelib keeps registrations on the class."""
    if "booking_key" not in {f.name for f in CalendarItem.FIELDS}:
        CalendarItem.register("booking_key", BookingKey)


register_booking_key()


def at(day: int, hour: int, minute: int = 0) -> EWSDateTime:
    """A UTC time in January 2030 (far from the real clock, so nothing depends on today)."""
    return EWSDateTime(2030, 1, day, hour, minute, tzinfo=UTC)


def folder_items(sim: EwsSimulator, who: str, folder: str) -> list[Item]:
    """What the simulator holds in a mailbox folder, read from its models."""
    mailbox = sim.backend.mailbox(smtp(who))
    with mailbox.lock:
        return list(mailbox.folder(folder).items.values())


def utc(value: datetime) -> datetime:
    return value.astimezone(UTC)
