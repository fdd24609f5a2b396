"""Mail delivery inside the simulated organisation: plain messages and meeting messages.

Recipients outside the directory are accepted and silently dropped, as a real server hands
them to a connector the simulator does not have.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from infra.ewssim.models.backend import EwsBackend
from infra.ewssim.models.items import Attendee, CalendarItem, Item, MessageItem, new_change_key, new_item_id

__all__ = [
    "RESPONSE_CLASSES",
    "deliver",
    "file_item",
    "meeting_message",
    "send_message",
    "sync_attendee_copy",
]

# Item classes of the answer an attendee sends, by the response it carries.
RESPONSE_CLASSES = {
    "Accept": ("IPM.Schedule.Meeting.Resp.Pos", "Accepted"),
    "Tentative": ("IPM.Schedule.Meeting.Resp.Tent", "Tentative"),
    "Decline": ("IPM.Schedule.Meeting.Resp.Neg", "Declined"),
}


def file_item(backend: EwsBackend, smtp: str, folder_name: str, item: Item, by: str = "") -> Item:
    """Store a new item in a folder, stamp its times and announce it (CreatedEvent)."""
    now = backend.clock.now()
    item.created = item.created or now
    item.modified = now
    item.modified_by = by or smtp
    backend.store(smtp, folder_name, item)
    backend.record_change(item.mailbox, item, "CreatedEvent")
    return item


def deliver(backend: EwsBackend, recipient: str, message: MessageItem) -> MessageItem | None:
    """Put a copy of the message in a directory recipient's inbox (CreatedEvent + NewMailEvent).

    A meeting message arrives processed (the simulator applies it to the calendar before delivery,
    as the Calendar Attendant does), and a newer request or a cancellation makes the requests the
    recipient already holds for that meeting out of date.
    """
    smtp = recipient.lower()
    if smtp not in backend.mailboxes:
        return None
    if message.is_meeting_request or message.item_class.startswith("IPM.Schedule.Meeting.Canceled"):
        mailbox = backend.mailboxes[smtp]
        with mailbox.lock:
            for older in mailbox.meeting_messages(message.meeting_uid):
                if older.is_meeting_request:
                    older.is_out_of_date = True
    copy = dataclasses.replace(
        message,
        item_id=new_item_id(),
        change_key=new_change_key(),
        is_read=False,
        to_recipients=list(message.to_recipients),
        cc_recipients=list(message.cc_recipients),
        categories=list(message.categories),
        extended_properties=dict(message.extended_properties),
        required_attendees=_copy_attendees(message.required_attendees),
        optional_attendees=_copy_attendees(message.optional_attendees),
        resources=_copy_attendees(message.resources),
        created=None,
        has_been_processed=message.is_meeting_message,
    )
    file_item(backend, smtp, "inbox", copy, by=message.sender)
    backend.record_change(smtp, copy, "NewMailEvent")
    return copy


def send_message(
    backend: EwsBackend, sender: str, message: MessageItem, *, save_copy: bool, folder: str = "sentitems"
) -> list[MessageItem]:
    """Send a message to its To and Cc recipients; keep a copy in the sender's folder if asked."""
    now = backend.clock.now()
    message.sender = message.sender or sender
    message.sent = now
    delivered = [
        copy
        for recipient in dict.fromkeys(r.lower() for r in (*message.to_recipients, *message.cc_recipients))
        if (copy := deliver(backend, recipient, message)) is not None
    ]
    if save_copy:
        message.is_read = True
        file_item(backend, sender, folder, message)
    return delivered


def meeting_message(
    item: CalendarItem, item_class: str, subject_prefix: str = "", *, by: str = ""
) -> MessageItem:
    """A meeting request or cancellation about an organiser's calendar item, from the organiser; a
    delegate who sends it on the organiser's behalf (`by`) is its Sender."""
    delegate = by.lower() if by and by.lower() != item.organizer.lower() else ""
    return MessageItem(
        sent_by=delegate,
        item_class=item_class,
        subject=f"{subject_prefix}{item.subject}",
        body=item.body,
        body_type=item.body_type,
        sensitivity=item.sensitivity,
        sender=item.organizer,
        organizer=item.organizer,
        to_recipients=[a.email for a in item.attendees()],
        meeting_uid=item.uid,
        start=item.start,
        end=item.end,
        location=item.location,
        legacy_free_busy_status=item.legacy_free_busy_status,
        required_attendees=_copy_attendees(item.required_attendees),
        optional_attendees=_copy_attendees(item.optional_attendees),
        resources=_copy_attendees(item.resources),
        sequence=item.sequence,
        response_type="NoResponseReceived",
        time_zone=item.time_zone,
        end_time_zone=item.end_time_zone,
    )


def sync_attendee_copy(backend: EwsBackend, attendee: str, item: CalendarItem) -> CalendarItem | None:
    """Create or refresh the attendee's copy of a meeting in their calendar, as the Calendar
    Attendant does on delivery: new copies are tentative and unanswered; a moved meeting needs a
    new answer."""
    mailbox = backend.mailboxes.get(attendee.lower())
    if mailbox is None:
        return None
    now = backend.clock.now()
    with mailbox.lock:
        existing = mailbox.find_by_uid(item.uid)
        if isinstance(existing, CalendarItem):
            moved = (existing.start, existing.end) != (item.start, item.end)
            _copy_meeting_fields(item, existing)
            existing.is_cancelled = False
            if moved:
                existing.my_response_type = "NoResponseReceived"
                existing.legacy_free_busy_status = "Tentative"
            existing.touch(now)
            event = "ModifiedEvent"
            copy = existing
        else:
            copy = CalendarItem(my_response_type="NoResponseReceived", legacy_free_busy_status="Tentative")
            _copy_meeting_fields(item, copy)
            copy.created = copy.modified = now
            backend.store(mailbox.smtp, "calendar", copy)
            event = "CreatedEvent"
    backend.record_change(mailbox.smtp, copy, event)
    return copy


def _copy_meeting_fields(source: CalendarItem, target: CalendarItem) -> None:
    target.subject = source.subject
    target.body = source.body
    target.body_type = source.body_type
    target.sensitivity = source.sensitivity
    target.start = source.start
    target.end = source.end
    target.is_all_day = source.is_all_day
    target.location = source.location
    target.organizer = source.organizer
    target.organizer_name = source.organizer_name
    target.required_attendees = _copy_attendees(source.required_attendees)
    target.optional_attendees = _copy_attendees(source.optional_attendees)
    target.resources = _copy_attendees(source.resources)
    target.is_meeting = True
    target.uid = source.uid
    target.time_zone = source.time_zone
    target.end_time_zone = source.end_time_zone
    target.sequence = source.sequence
    target.meeting_request_was_sent = False


def _copy_attendees(attendees: Iterable[Attendee]) -> list[Attendee]:
    return [dataclasses.replace(a) for a in attendees]
