"""The demo's printed report: one line per job, each calendar's events, the changes made in
Outlook, the events the app received and the bookings they changed, and the demo's checks."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from infra.demo.changes import AUTO_CONFIRMED, CLOUD_LOCKED, DECLINED, LOCKED, BookingRef, OutlookChanges
from infra.demo.checks import Check
from infra.demo.job_log import LoggedJob
from infra.ewssim import EwsSimulator
from pipeline.contract import JobStatus
from pipeline.contract.booking import BookingItem
from pipeline.events.models import (
    AttendeeRespondedData,
    BookingCreatedData,
    BookingMovedInExchangeData,
    BookingRestoredData,
    CalendarEventChangedData,
    CalendarEventDeletedData,
    PipelineEvent,
)
from pipeline.store.base import ResultsStore


def print_outcomes(store: ResultsStore, jobs: Sequence[LoggedJob], title: str = "") -> bool:
    """Print each job's record; True when every job succeeded."""
    print()
    if title:
        print(title)
    print(f"{'action':<18} {'integration':<22} {'status':<10} {'tries':>5}  outcome")
    print("-" * 100)
    all_succeeded = True
    for message_id, action, integration in ((j.message_id, j.action, j.integration_id) for j in jobs):
        record = store.get_job(message_id)
        if record is None:
            all_succeeded = False
            print(f"{action:<18} {integration:<22} {'missing':<10} {'':>5}  no record for {message_id}")
            continue
        if record.status is not JobStatus.SUCCEEDED:
            all_succeeded = False
        detail = (f"{record.error_code}: {record.error_message}" if record.error_code
                  else _summary(action, record.result or {}))
        print(f"{action:<18} {integration:<22} {record.status.value:<10} {record.attempts:>5}  {detail}")
    print()
    return all_succeeded


def _summary(action: str, result: dict[str, Any]) -> str:
    if action == "fetch_free_busy":
        mailboxes = result.get("mailboxes", [])
        intervals = sum(len(m.get("intervals", [])) for m in mailboxes)
        return f"{len(mailboxes)} mailboxes, {intervals} busy intervals"
    if action == "create_event":
        key, calendar = result.get("booking_key"), result.get("calendar_mailbox")
        return f"{key} in {calendar} (created={result.get('created')})"
    if action == "send_invite":
        return f"invited {len(result.get('sent_to', []))} (already sent={result.get('already_sent')})"
    if action == "check_connection":
        steps = result.get("steps", [])
        return ", ".join(f"{s['name']}={'ok' if s['ok'] else s.get('error_code')}" for s in steps)
    if action == "list_rooms":
        return ", ".join(f"{r['name']} ({len(r['rooms'])} rooms)" for r in result.get("room_lists", []))
    if action == "subscribe_mailbox":
        return f"subscribed {result.get('mailbox')}"
    if action == "process_change":
        touched = [*result.get("updated_bookings", []), *result.get("cancelled_bookings", [])]
        processed = f"processed {result.get('processed')} change(s)"
        return f"{processed}: {', '.join(touched)}" if touched else processed
    if action == "sync_calendar":
        return (f"{result.get('changed')} changed, {result.get('deleted')} deleted, "
                f"{result.get('bookings_skipped')} booking(s) skipped (first sync={result.get('restarted')})")
    return ""


def print_calendars(sim: EwsSimulator, mailboxes: Sequence[str]) -> None:
    """Print the meetings the pipeline wrote or invited to (the seeded background items are not)."""
    print()
    print("calendars now, their meetings (the seeded background items left out):")
    for smtp in mailboxes:
        events = [e for e in sim.calendar(smtp) if e.get("extended_properties") or e.get("is_meeting")]
        inbox = sim.inbox(smtp)
        requests = sum(1 for message in inbox if "Meeting.Request" in str(message.get("item_class", "")))
        print(f"{smtp}: {len(events)} meeting(s), {requests} invitation(s) in the inbox")
        for event in sorted(events, key=lambda e: str(e.get("start"))):
            attendees = len(event.get("required_attendees", [])) + len(event.get("optional_attendees", []))
            rooms = len(event.get("resources", []))
            print(f"    {event.get('start')}  {event.get('subject')!s:<36} "
                  f"organiser {event.get('organizer')}, {attendees} attendee(s), {rooms} room(s)")


def print_changes(changes: OutlookChanges, requests: Mapping[str, int],
                  web_requests: Mapping[str, int]) -> None:
    """What the people did in Outlook, and the EWS and Graph requests their clients made for it."""
    print("changed in Outlook, each by the mailbox's owner over EWS "
          "(or in Outlook on the web, through Graph):")
    print(f"    {changes.locked_owner} moved {LOCKED.booking_key} (locked) "
          f"from {_span(changes.locked_booked)} to {_span(changes.locked_moved_to)}")
    print(f"    {changes.auto_owner} moved {AUTO_CONFIRMED.booking_key} (auto-confirm) "
          f"to {_span(changes.auto_moved_to)}")
    print(f"    {changes.decliner} declined {changes.declined_subject!r} ({DECLINED.booking_key})")
    print(f"    {changes.external_organiser} invited {changes.external_invitee} and a guest outside the "
          f"company to {changes.external_subject!r}, {_span(changes.external_time)} (not a booking)")
    print(f"    {changes.cloud_owner} moved {CLOUD_LOCKED.booking_key} (locked) "
          f"from {_span(changes.cloud_booked)} to {_span(changes.cloud_moved_to)} in Outlook on the web")
    print(f"    their EWS requests: {dict(sorted(requests.items()))}")
    print(f"    Outlook on the web's Graph requests: {dict(sorted(web_requests.items()))}")


def print_events(before: Sequence[PipelineEvent], after: Sequence[PipelineEvent], graph: str = "") -> None:
    """The events the app's actor received: counted while booking (and those of the `graph`
    integration apart), one by one after Outlook."""
    counts = Counter(event.type.value for event in before)
    print(f"events the app received while booking: {dict(sorted(counts.items()))}")
    if graph:
        on_graph = Counter(event.type.value for event in before if event.integration_id == graph)
        print(f"    of which {graph}'s, through Microsoft Graph: {dict(sorted(on_graph.items()))}")
    print("events the app received after the changes in Outlook:")
    for event in after:
        about = event.booking_key or str(event.data.get("mailbox", ""))
        print(f"    {event.type.value:<26} {event.integration_id:<18} {about:<24} {_event_detail(event)}")


def _event_detail(event: PipelineEvent) -> str:
    data = event.typed_data()
    if isinstance(data, BookingRestoredData):
        moved, back = _span((data.moved_start, data.moved_end)), _span((data.start, data.end))
        return f"moved to {moved}, back at {back}"
    if isinstance(data, BookingMovedInExchangeData):
        old, new = _span_or_unknown(data.old_start, data.old_end), _span((data.new_start, data.new_end))
        return f"{old} -> {new}, auto_confirmed={str(data.auto_confirmed).lower()}"
    if isinstance(data, AttendeeRespondedData):
        previous = data.previous_response.value if data.previous_response else "none"
        return f"{data.attendee} ({data.attendee_class.value}) {data.response.value}, was {previous}"
    if isinstance(data, CalendarEventChangedData):
        when = _span_or_unknown(data.start, data.end)
        return (f"item ...{data.item_id[-10:]} {data.subject!r} {when} {data.free_busy_status}, "
                f"organiser {data.organizer}, {len(data.attendees)} attendee(s)")
    if isinstance(data, CalendarEventDeletedData):
        return f"item ...{data.item_id[-10:]} deleted"
    if isinstance(data, BookingCreatedData):
        return f"in {data.calendar_mailbox} at {_span((data.start, data.end))}"
    return ""


def print_bookings(bookings: Mapping[BookingRef, BookingItem | None]) -> None:
    """The bookings changed in Outlook, as an app reads them back from the results table."""
    print()
    print("those bookings in the results table (pipeline.client.ResultsReader.booking):")
    for ref, booking in bookings.items():
        if booking is None:
            print(f"    {ref.booking_key:<26} missing")
            continue
        booked = _span_or_unknown(booking.booked_start, booking.booked_end)
        now = _span_or_unknown(booking.start, booking.end)
        responses = ", ".join(f"{who} {entry.response.value}"
                              for who, entry in sorted(booking.responses.items()))
        print(f"    {ref.booking_key:<26} {booking.state.value:<9} booked {booked}, in Exchange {now}, "
              f"time confirmed={str(booking.time_confirmed).lower()}; responses: {responses or 'none yet'}")


def print_checks(checks: Sequence[Check]) -> bool:
    """One line per check; True when all passed."""
    print()
    print("checks:")
    for check in checks:
        print(f"    {'ok' if check.passed else 'FAILED':<6} {check.description}")
    return all(check.passed for check in checks)


def _span(times: tuple[datetime, datetime]) -> str:
    start, end = (moment.astimezone(UTC) for moment in times)
    return f"{start:%a %d %b %H:%M}-{end:%H:%M} UTC"


def _span_or_unknown(start: datetime | None, end: datetime | None) -> str:
    return _span((start, end)) if start and end else "?"
