"""Outlook for the demo: people changing their own calendars over EWS, as their mail client would.

Each `Outlook` logs on to one mailbox as its owner (exchangelib, Basic, the owner's password) and
makes the changes a person makes by hand. Nothing here touches the simulator's models: the
pipeline has to learn of these changes the way it would in production, from push notifications.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from exchangelib import (
    DELEGATE,
    Account,
    Build,
    CalendarItem,
    Configuration,
    Credentials,
    EWSDateTime,
    Version,
)
from exchangelib.items import SEND_TO_ALL_AND_SAVE_COPY, SEND_TO_NONE, MeetingRequest

__all__ = ["Meeting", "Outlook"]

# Pinned, so that logging on costs no version-guessing requests.
_EXCHANGE_2019 = Version(build=Build(15, 2, 1118, 7))
_MEETING_REQUEST = "IPM.Schedule.Meeting.Request"


@dataclass(frozen=True)
class Meeting:
    """What the owner sees of an event in their calendar."""

    subject: str
    start: datetime
    end: datetime
    required_attendees: tuple[str, ...]


class Outlook:
    """One person's mail client, logged on to their own mailbox."""

    def __init__(self, ews_url: str, smtp: str, password: str) -> None:
        config = Configuration(service_endpoint=ews_url, credentials=Credentials(smtp, password),
                               auth_type="basic", version=_EXCHANGE_2019)
        self.smtp = smtp
        self.account = Account(smtp, config=config, autodiscover=False, access_type=DELEGATE)

    def meeting(self, item_id: str) -> Meeting:
        """An event of the owner's calendar, read as they see it."""
        item = self.account.calendar.get(id=item_id)
        required = tuple(str(a.mailbox.email_address).lower() for a in item.required_attendees or ())
        return Meeting(str(item.subject), _utc(item.start), _utc(item.end), required)

    def move(self, item_id: str, by: timedelta) -> tuple[datetime, datetime]:
        """Drag an event `by` later in the calendar, sending no update; its new start and end."""
        item = self.account.calendar.get(id=item_id)
        item.start, item.end = item.start + by, item.end + by
        item.save(update_fields=["start", "end"], send_meeting_invitations=SEND_TO_NONE)
        return _utc(item.start), _utc(item.end)

    def decline(self, subject: str) -> None:
        """Decline, from the inbox, the meeting request with this subject (the organiser is told)."""
        requests = [message for message in self.account.inbox.all()
                    if isinstance(message, MeetingRequest) and message.item_class == _MEETING_REQUEST
                    and message.subject == subject]
        if not requests:
            raise LookupError(f"no meeting request {subject!r} in {self.smtp}'s inbox")
        requests[0].decline()

    def invite(self, subject: str, start: datetime, end: datetime, attendees: list[str]) -> None:
        """Send a meeting request of one's own (not a booking of the pipeline's)."""
        CalendarItem(
            account=self.account, folder=self.account.calendar, subject=subject,
            start=EWSDateTime.from_datetime(start), end=EWSDateTime.from_datetime(end),
            required_attendees=attendees,
        ).save(send_meeting_invitations=SEND_TO_ALL_AND_SAVE_COPY)

    def close(self) -> None:
        """Close the client's HTTP sessions."""
        self.account.protocol.close()

    def __enter__(self) -> Outlook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _utc(moment: datetime) -> datetime:
    # exchangelib's EWSDateTime refuses the standard library's time zones in astimezone().
    return datetime.fromtimestamp(moment.timestamp(), UTC)
