"""Calendar behaviour of the simulated Exchange: create, update, delete and answer meetings.

Nothing here knows XML. Responses parse a request, call one of these functions and render what
they return. Locks: each function holds at most one mailbox lock at a time (the organiser's or an
attendee's), so that two meetings crossing between the same mailboxes cannot deadlock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from infra.ewssim.errors import EwsError
from infra.ewssim.models.backend import EwsBackend
from infra.ewssim.models.delivery import (
    RESPONSE_CLASSES,
    deliver,
    file_item,
    meeting_message,
    sync_attendee_copy,
)
from infra.ewssim.models.directory import AutomateProcessing
from infra.ewssim.models.items import CalendarItem, Item, MessageItem
from infra.ewssim.models.mailbox import Mailbox
from infra.ewssim.models.resource_booking import answer_of, processing_of

__all__ = [
    "CANCELLATION_MODES",
    "INVITATION_MODES",
    "UPDATE_MODES",
    "MeetingSnapshot",
    "cancel_meeting",
    "create_calendar_item",
    "delete_item",
    "item_updated",
    "respond",
]

INVITATION_MODES = ("SendToNone", "SendOnlyToAll", "SendToAllAndSaveCopy")
CANCELLATION_MODES = INVITATION_MODES
UPDATE_MODES = (*INVITATION_MODES, "SendOnlyToChanged", "SendToChangedAndSaveCopy")
DELETE_TYPES = ("HardDelete", "SoftDelete", "MoveToDeletedItems")


def create_calendar_item(
    backend: EwsBackend,
    owner: str,
    item: CalendarItem,
    send_mode: str = "SendToNone",
    *,
    folder: str = "calendar",
    by: str = "",
) -> CalendarItem:
    """Save a calendar item in the owner's calendar and, unless SendToNone, invite its attendees.

    The owner is the organiser even when a delegate (`by`) creates the item. Attendees get a
    meeting request in their inbox and a tentative copy in their calendar.
    """
    _check_mode(send_mode, INVITATION_MODES, "SendMeetingInvitations")
    _check_times(item)
    mailbox = backend.mailbox(owner)
    principal = backend.directory.get(owner)
    item.organizer = mailbox.smtp
    item.organizer_name = principal.display_name
    item.my_response_type = "Organizer"
    item.is_meeting = bool(item.attendees())
    for attendee in item.attendees():
        attendee.response = "Unknown"
        known = backend.directory.find(attendee.email)
        attendee.name = attendee.name or (known.display_name if known else attendee.email)
    sending = item.is_meeting and send_mode != "SendToNone"
    item.meeting_request_was_sent = sending
    file_item(backend, mailbox.smtp, folder, item, by=by)
    if sending:
        _send_requests(
            backend, item, [a.email for a in item.attendees()], send_mode.endswith("SaveCopy"), by=by
        )
    return item


@dataclass(frozen=True)
class MeetingSnapshot:
    """What a meeting looked like before an update, to decide whom the update concerns."""

    start: datetime | None
    end: datetime | None
    attendees: frozenset[str]

    @classmethod
    def of(cls, item: Item) -> MeetingSnapshot:
        if not isinstance(item, CalendarItem):
            return cls(None, None, frozenset())
        return cls(item.start, item.end, frozenset(a.email.lower() for a in item.attendees()))


def item_updated(
    backend: EwsBackend, item: Item, before: MeetingSnapshot, send_mode: str = "SendToNone", *, by: str = ""
) -> None:
    """Announce an update already applied (under the mailbox lock) and send what it calls for.

    SendOnlyToAll/SendToAllAndSaveCopy send the update to every attendee; SendOnlyToChanged and
    SendToChangedAndSaveCopy only to attendees added by this update. Attendees removed by the
    update get a cancellation in every mode but SendToNone.
    """
    _check_mode(send_mode, UPDATE_MODES, "SendMeetingInvitationsOrCancellations")
    item.modified_by = by or item.mailbox
    if isinstance(item, CalendarItem):
        _check_times(item)
    backend.record_change(item.mailbox, item, "ModifiedEvent")
    if not isinstance(item, CalendarItem) or not item.is_organizer:
        return
    now_attendees = {a.email.lower() for a in item.attendees()}
    removed = sorted(before.attendees - now_attendees)
    added = [a.email for a in item.attendees() if a.email.lower() not in before.attendees]
    item.is_meeting = bool(now_attendees)
    if send_mode == "SendToNone" or not (item.is_meeting or removed):
        return
    moved = (before.start, before.end) != (item.start, item.end)
    mailbox = backend.mailbox(item.mailbox)
    with mailbox.lock:
        item.sequence += 1
        item.meeting_request_was_sent = True
        if moved:
            # Exchange asks everyone to answer again when a meeting moves.
            for attendee in item.attendees():
                attendee.response, attendee.last_response_time = "Unknown", None
    save_copy = send_mode.endswith("SaveCopy")
    everyone = send_mode in ("SendOnlyToAll", "SendToAllAndSaveCopy")
    recipients = [a.email for a in item.attendees()] if everyone else added
    if recipients:
        _send_requests(backend, item, recipients, save_copy, by=by)
    if removed:
        _send_cancellations(backend, item, removed, save_copy, by=by)


def delete_item(
    backend: EwsBackend,
    mailbox: Mailbox,
    item: Item,
    delete_type: str,
    cancel_mode: str = "SendToNone",
    *,
    by: str = "",
) -> None:
    """Delete an item the EWS way; an organiser's meeting sends cancellations unless SendToNone.

    HardDelete removes the item; SoftDelete moves it to Recoverable Items/Deletions (Exchange's
    dumpster, which folder listings do not show); MoveToDeletedItems moves it to Deleted Items,
    or deletes it for good when it is already there.
    """
    _check_mode(delete_type, DELETE_TYPES, "DeleteType")
    _check_mode(cancel_mode, CANCELLATION_MODES, "SendMeetingCancellations")
    if (
        isinstance(item, CalendarItem)
        and item.is_organizer
        and item.is_meeting
        and not item.is_cancelled
        and cancel_mode != "SendToNone"
    ):
        _send_cancellations(
            backend, item, [a.email for a in item.attendees()], cancel_mode.endswith("SaveCopy"), by=by
        )
    trash = mailbox.folder("deleteditems")
    if delete_type == "MoveToDeletedItems" and item.folder_id != trash.folder_id:
        source = mailbox.move(item, "deleteditems")
        backend.record_change(mailbox.smtp, item, "MovedEvent", old_folder_id=source.folder_id)
        return
    # Subscribers of the item's folder see it deleted, so announce it before it leaves.
    backend.record_change(mailbox.smtp, item, "DeletedEvent")
    if (
        delete_type == "SoftDelete"
        and item.folder_id != mailbox.folder("recoverableitemsdeletions").folder_id
    ):
        mailbox.move(item, "recoverableitemsdeletions")
    else:
        mailbox.remove(item)


def cancel_meeting(
    backend: EwsBackend, mailbox: Mailbox, item: Item, *, save_copy: bool, body: str = "", by: str = ""
) -> MessageItem | None:
    """The organiser cancels a meeting (a CancelCalendarItem): every attendee gets the cancellation,
    with `body` when one is given, and the meeting leaves the organiser's calendar for Deleted Items,
    as deleting it with SendMeetingCancellations does. Returns the copy saved in Sent Items, if any."""
    if not isinstance(item, CalendarItem) or not item.is_meeting or item.is_cancelled:
        raise EwsError(
            "ErrorInvalidItemForOperationCancelItem", "Only a meeting that is not cancelled can be cancelled."
        )
    if not item.is_organizer:
        raise EwsError("ErrorCalendarIsNotOrganizer", "Only the organiser can cancel a meeting.")
    attendees = [a.email for a in item.attendees()]
    sent = _send_cancellations(backend, item, attendees, save_copy, body=body, by=by)
    delete_item(backend, mailbox, item, "MoveToDeletedItems")
    return sent if save_copy else None


def respond(
    backend: EwsBackend,
    mailbox: Mailbox,
    reference: Item,
    response: str,
    *,
    send: bool = True,
    body: str = "",
    save_copy: bool = False,
    saved_in: str = "sentitems",
) -> CalendarItem:
    """An attendee answers a meeting (Accept, Tentative or Decline) from the request or the copy.

    The attendee's copy takes the answer (a decline moves it to Deleted Items) and the request
    leaves the inbox for Deleted Items, as Outlook and OWA do. When the answer is sent, the
    organiser's item records it and the organiser receives the response message; with save_copy
    (SendAndSaveCopy) the attendee keeps a copy of it in `saved_in`, Sent Items by default.
    """
    if response not in RESPONSE_CLASSES:
        raise EwsError("ErrorInvalidRequest", f"Unknown meeting response {response}.")
    copy = _attendee_copy(mailbox, reference)
    now = backend.clock.now()
    with mailbox.lock:
        copy.my_response_type = response
        copy.appointment_reply_time = now
        copy.legacy_free_busy_status = "Tentative" if response == "Tentative" else "Busy"
        copy.touch(now)
    backend.record_change(mailbox.smtp, copy, "ModifiedEvent")
    with mailbox.lock:
        for request in mailbox.meeting_messages(copy.uid):
            if request.is_meeting_request:
                request.my_response_type = response
    if response == "Decline":
        source = mailbox.move(copy, "deleteditems")
        backend.record_change(mailbox.smtp, copy, "MovedEvent", old_folder_id=source.folder_id)
    if isinstance(reference, MessageItem) and reference.folder_id == mailbox.folder("inbox").folder_id:
        source = mailbox.move(reference, "deleteditems")
        backend.record_change(mailbox.smtp, reference, "MovedEvent", old_folder_id=source.folder_id)
    if send:
        message = _answer_organizer(backend, mailbox.smtp, copy, response, body)
        if save_copy:
            message.is_read = True
            file_item(backend, mailbox.smtp, saved_in, message)
    return copy


def _attendee_copy(mailbox: Mailbox, reference: Item) -> CalendarItem:
    if isinstance(reference, CalendarItem):
        copy: Item | None = reference
    elif isinstance(reference, MessageItem) and reference.item_class == "IPM.Schedule.Meeting.Request":
        copy = mailbox.find_by_uid(reference.meeting_uid)
    else:
        raise EwsError("ErrorInvalidRequest", "Only meeting requests and calendar items can be answered.")
    if not isinstance(copy, CalendarItem):
        raise EwsError("ErrorItemNotFound", "The meeting for this request is no longer in the calendar.")
    if copy.is_organizer:
        raise EwsError("ErrorCalendarIsOrganizerForAccept", "The organiser cannot answer their own meeting.")
    if copy.is_cancelled:
        raise EwsError("ErrorCalendarIsCancelledForAccept", "The meeting has been cancelled.")
    return copy


def _answer_organizer(
    backend: EwsBackend, attendee: str, copy: CalendarItem, response: str, body: str
) -> MessageItem:
    """Record the answer on the organiser's meeting and deliver the response; returns the message."""
    organizer_mailbox = backend.mailboxes.get(copy.organizer.lower())
    now = backend.clock.now()
    if organizer_mailbox is not None:
        with organizer_mailbox.lock:
            meeting = organizer_mailbox.find_by_uid(copy.uid)
            entry = meeting.attendee(attendee) if isinstance(meeting, CalendarItem) else None
            if meeting is not None and entry is not None:
                entry.response, entry.last_response_time = response, now
                meeting.touch(now)
        if meeting is not None and entry is not None:
            backend.record_change(organizer_mailbox.smtp, meeting, "ModifiedEvent")
    item_class, verb = RESPONSE_CLASSES[response]
    message = meeting_message(copy, item_class, f"{verb}: ")
    message.sender = attendee
    message.to_recipients = [copy.organizer]
    message.body = body
    message.response_type = response
    message.sent = now
    deliver(backend, copy.organizer, message)
    return message


def _send_requests(
    backend: EwsBackend, item: CalendarItem, recipients: list[str], save_copy: bool, *, by: str = ""
) -> None:
    request = meeting_message(item, "IPM.Schedule.Meeting.Request", by=by)
    request.sent = backend.clock.now()
    request.my_response_type = "NoResponseReceived"
    for recipient in dict.fromkeys(r.lower() for r in recipients):
        if recipient == item.mailbox:
            continue
        processing = processing_of(backend, recipient)
        copy = None if processing is AutomateProcessing.NONE else sync_attendee_copy(backend, recipient, item)
        request.associated_calendar_item_id = copy.item_id if copy else ""
        delivered = deliver(backend, recipient, request)
        if delivered is not None and copy is not None and processing is AutomateProcessing.AUTO_ACCEPT:
            # The Resource Booking Attendant answers at once: accepted when free, declined on a conflict.
            mailbox = backend.mailbox(recipient)
            respond(backend, mailbox, delivered, answer_of(mailbox, copy))
    if save_copy:
        request.associated_calendar_item_id = item.item_id
        request.is_read = True
        file_item(backend, item.mailbox, "sentitems", request)


def _send_cancellations(
    backend: EwsBackend,
    item: CalendarItem,
    recipients: list[str],
    save_copy: bool,
    *,
    body: str = "",
    by: str = "",
) -> MessageItem:
    """Cancel the meeting for these attendees; returns the cancellation (filed in the organiser's Sent
    Items with save_copy)."""
    cancellation = meeting_message(item, "IPM.Schedule.Meeting.Canceled", "Canceled: ", by=by)
    cancellation.body = body or cancellation.body
    cancellation.sent = now = backend.clock.now()
    cancellation.legacy_free_busy_status = "Free"
    for recipient in dict.fromkeys(r.lower() for r in recipients):
        mailbox = backend.mailboxes.get(recipient)
        if mailbox is None or recipient == item.mailbox:
            continue
        with mailbox.lock:
            copy = mailbox.find_by_uid(item.uid)
            if isinstance(copy, CalendarItem):
                copy.is_cancelled = True
                copy.subject = f"Canceled: {item.subject}"
                copy.legacy_free_busy_status = "Free"
                copy.touch(now)
        if isinstance(copy, CalendarItem):
            backend.record_change(recipient, copy, "ModifiedEvent")
        cancellation.associated_calendar_item_id = copy.item_id if copy else ""
        deliver(backend, recipient, cancellation)
    if save_copy:
        cancellation.is_read = True
        file_item(backend, item.mailbox, "sentitems", cancellation)
    return cancellation


def _check_mode(value: str, allowed: tuple[str, ...], name: str) -> None:
    if value not in allowed:
        raise EwsError("ErrorInvalidRequest", f"{name} must be one of {', '.join(allowed)}, not {value!r}.")


def _check_times(item: CalendarItem) -> None:
    if item.start is not None and item.end is not None and item.end < item.start:
        raise EwsError("ErrorCalendarEndDateIsEarlierThanStartDate", "EndDate is earlier than StartDate.")
