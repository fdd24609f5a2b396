"""The demo's printed report: one line per job, then each calendar's events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from infra.ewssim import EwsSimulator
from pipeline.contract import JobStatus
from pipeline.store.base import ResultsStore


def print_outcomes(store: ResultsStore, jobs: Sequence[tuple[str, str, str]]) -> bool:
    """Print each job's record; True when every job succeeded."""
    print()
    print(f"{'action':<18} {'integration':<22} {'status':<10} {'tries':>5}  outcome")
    print("-" * 100)
    all_succeeded = True
    for message_id, action, integration in jobs:
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
        return f"processed {result.get('processed')} change(s)"
    return ""


def print_calendars(sim: EwsSimulator, mailboxes: Sequence[str]) -> None:
    """Print the meetings the pipeline wrote or invited to (the seeded background items are not)."""
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
