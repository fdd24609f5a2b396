"""Scalar conversions between EWS XML text and model values: datetimes, booleans, mailboxes,
attendees and extended-property identities."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from infra.ewssim.errors import EwsError
from infra.ewssim.models.items import Attendee, AttendeeKind
from infra.ewssim.models.timezones import server_time_zone
from infra.ewssim.namespaces import Element, add, t

__all__ = [
    "EXTENDED_ATTRIBUTES",
    "add_attendees",
    "add_mailbox",
    "ews_bool",
    "ews_datetime",
    "extended_key",
    "extended_key_attributes",
    "parse_attendees",
    "parse_bool",
    "parse_datetime",
]

# Identity attributes of a t:ExtendedFieldURI, in the order the canonical key lists them.
EXTENDED_ATTRIBUTES = (
    "DistinguishedPropertySetId",
    "PropertySetId",
    "PropertyTag",
    "PropertyName",
    "PropertyId",
    "PropertyType",
)
# PS_PUBLIC_STRINGS by GUID and by name are the same property set.
_PUBLIC_STRINGS_GUID = "00020329-0000-0000-c000-000000000046"


def parse_datetime(text: str, zone_id: str = "UTC") -> datetime:
    """An xs:dateTime as aware UTC; times without an offset are local to `zone_id` (a Windows id, as
    EWS names zones, or an IANA key; UTC for a zone the server does not know)."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise EwsError("ErrorInvalidValueForProperty", f"{text!r} is not a valid date and time.") from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=_zone_info(zone_id))
    return value.astimezone(UTC)


def _zone_info(zone_id: str) -> tzinfo:
    known = server_time_zone(zone_id)
    try:
        return ZoneInfo(known.iana if known is not None else zone_id)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def ews_datetime(value: datetime) -> str:
    """UTC with a 'Z', as Exchange renders every DateTime."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_bool(text: str | None) -> bool:
    return (text or "").strip().lower() in ("true", "1")


def ews_bool(value: bool) -> str:
    return "true" if value else "false"


def add_mailbox(parent: Element, email: str, name: str = "") -> Element:
    """Append a t:Mailbox (EmailAddressType) for an SMTP address."""
    mailbox = add(parent, t("Mailbox"))
    if name:
        add(mailbox, t("Name"), name)
    add(mailbox, t("EmailAddress"), email)
    add(mailbox, t("RoutingType"), "SMTP")
    add(mailbox, t("MailboxType"), "Mailbox")
    return mailbox


def add_attendees(parent: Element, tag: str, attendees: list[Attendee]) -> None:
    """Append a NonEmptyArrayOfAttendees (nothing when the list is empty, as the schema asks)."""
    if not attendees:
        return
    container = add(parent, t(tag))
    for attendee in attendees:
        element = add(container, t("Attendee"))
        add_mailbox(element, attendee.email, attendee.name)
        add(element, t("ResponseType"), attendee.response)
        if attendee.last_response_time is not None:
            add(element, t("LastResponseTime"), ews_datetime(attendee.last_response_time))


def parse_attendees(container: Element, kind: AttendeeKind) -> list[Attendee]:
    """Attendees of a t:RequiredAttendees/OptionalAttendees/Resources element."""
    result = []
    for element in container.iterfind(t("Attendee")):
        email = element.findtext(f"{t('Mailbox')}/{t('EmailAddress')}")
        if not email:
            raise EwsError("ErrorInvalidRecipients", "An attendee has no e-mail address.")
        name = element.findtext(f"{t('Mailbox')}/{t('Name')}") or ""
        result.append(Attendee(email=email.lower(), name=name, kind=kind))
    return result


def extended_key(uri: Element) -> str:
    """A canonical text key for the property a t:ExtendedFieldURI names (used to store values)."""
    parts = []
    for name in EXTENDED_ATTRIBUTES:
        value = uri.get(name)
        if value is None:
            continue
        if name == "PropertySetId":
            value = value.lower()
            if value == _PUBLIC_STRINGS_GUID:
                name, value = "DistinguishedPropertySetId", "PublicStrings"
        elif name == "PropertyTag":
            value = f"0x{int(value, 0):04x}"
        parts.append(f"{name}={value}")
    if not any(p.startswith("PropertyType=") for p in parts):
        raise EwsError("ErrorInvalidExtendedProperty", "An ExtendedFieldURI must have a PropertyType.")
    return "|".join(parts)


def extended_key_attributes(key: str) -> dict[str, str]:
    """The ExtendedFieldURI attributes back from a canonical key."""
    return dict(part.split("=", 1) for part in key.split("|"))
