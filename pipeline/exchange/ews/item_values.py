"""Values read off exchangelib items, as the rest of the pipeline takes them (no exchangelib types)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pipeline.exchange.calendar_items import AttendeeResponse, ResponseType

__all__ = ["RESPONSE_TYPES", "attendee_responses", "email_of", "plain_utc"]

# EWS ResponseType (t:ResponseTypeType) -> the contract's names.
RESPONSE_TYPES: dict[str, ResponseType] = {
    "Unknown": ResponseType.UNKNOWN,
    "Organizer": ResponseType.ORGANIZER,
    "Tentative": ResponseType.TENTATIVE,
    "Accept": ResponseType.ACCEPTED,
    "Decline": ResponseType.DECLINED,
    "NoResponseReceived": ResponseType.NONE,
}


def plain_utc(moment: datetime | None) -> datetime | None:
    """The same instant as a stdlib UTC datetime. EWSDateTime is a datetime subclass that pydantic,
    json and plain `astimezone(UTC)` refuse (it insists on EWSTimeZone); keep only the instant."""
    return None if moment is None else datetime.fromtimestamp(moment.timestamp(), UTC)


def email_of(mailbox: Any) -> str | None:
    """A Mailbox's address, lower-cased (None when Exchange gave none)."""
    address = getattr(mailbox, "email_address", None)
    return address.lower() if address else None


def attendee_responses(item: Any) -> tuple[AttendeeResponse, ...]:
    """Everyone the item invites (required, optional, resources) once each, with their responses."""
    responses: dict[str, AttendeeResponse] = {}
    for group in ("required_attendees", "optional_attendees", "resources"):
        for attendee in getattr(item, group, None) or ():
            address = email_of(attendee.mailbox)
            if address and address not in responses:
                responses[address] = AttendeeResponse(
                    email=address,
                    response=RESPONSE_TYPES.get(attendee.response_type or "", ResponseType.UNKNOWN),
                    responded_at=plain_utc(attendee.last_response_time),
                )
    return tuple(responses.values())
