"""What the pipeline must have made of the changes in Outlook: the demo fails unless all hold.

Each check looks at what an app can see (the events it received, the booking as the results
table holds it) and, for the locked bookings (one on EWS, one on Graph), at Exchange itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from infra.demo.changes import AUTO_CONFIRMED, CLOUD_LOCKED, DECLINED, LOCKED, BookingRef, OutlookChanges
from pipeline.contract.booking import BookingItem, BookingState, ResponseType
from pipeline.events.models import (
    AttendeeRespondedData,
    BookingMovedInExchangeData,
    BookingRestoredData,
    CalendarEventChangedData,
    EventData,
    EventType,
    PipelineEvent,
)

__all__ = ["Check", "check_changes"]

TimeRange = tuple[datetime, datetime]


@dataclass(frozen=True)
class Check:
    description: str
    passed: bool


def check_changes(
    changes: OutlookChanges,
    events: Sequence[PipelineEvent],
    bookings: Mapping[BookingRef, BookingItem | None],
    locked_in_exchange: TimeRange | None,
    cloud_in_exchange: TimeRange | None,
) -> list[Check]:
    """The five outcomes the demo shows, each passed or not."""
    auto = bookings.get(AUTO_CONFIRMED)

    def auto_confirmed(data: EventData) -> bool:
        return isinstance(data, BookingMovedInExchangeData) and data.auto_confirmed and \
            (data.new_start, data.new_end) == changes.auto_moved_to

    def declined(data: EventData) -> bool:
        return isinstance(data, AttendeeRespondedData) and data.attendee == changes.decliner and \
            data.response is ResponseType.DECLINED

    def external(data: EventData) -> bool:
        return isinstance(data, CalendarEventChangedData) and data.mailbox == changes.external_invitee \
            and data.subject == changes.external_subject and (data.start, data.end) == changes.external_time

    return [
        *_moved_back(LOCKED, changes.locked_booked, changes.locked_moved_to, events, bookings,
                     locked_in_exchange),
        Check(f"{AUTO_CONFIRMED.booking_key}'s booked time is the time it was moved to",
              auto is not None and (auto.booked_start, auto.booked_end) == changes.auto_moved_to
              and auto.time_confirmed),
        Check(f"booking.moved_in_exchange auto_confirmed=true for {AUTO_CONFIRMED.booking_key}",
              _has(events, EventType.BOOKING_MOVED_IN_EXCHANGE, AUTO_CONFIRMED, auto_confirmed)),
        Check(f"attendee.responded declined by {changes.decliner} for {DECLINED.booking_key}",
              _has(events, EventType.ATTENDEE_RESPONDED, DECLINED, declined)),
        Check(f"calendar.event_changed for {changes.external_subject!r} in {changes.external_invitee}",
              _has(events, EventType.CALENDAR_EVENT_CHANGED, None, external)),
        *_moved_back(CLOUD_LOCKED, changes.cloud_booked, changes.cloud_moved_to, events, bookings,
                     cloud_in_exchange, through=" (through Graph)"),
    ]


def _moved_back(ref: BookingRef, booked: TimeRange, moved_to: TimeRange, events: Sequence[PipelineEvent],
                bookings: Mapping[BookingRef, BookingItem | None], in_exchange: TimeRange | None,
                through: str = "") -> list[Check]:
    """A locked booking, moved: back at its booked time in Exchange and restored in the table,
    and booking.restored from where it was moved to."""
    booking = bookings.get(ref)

    def restored(data: EventData) -> bool:
        return isinstance(data, BookingRestoredData) and (data.moved_start, data.moved_end) == moved_to \
            and (data.start, data.end) == booked

    return [
        Check(f"{ref.booking_key} is back at its booked time in Exchange{through}",
              in_exchange == booked and booking is not None and booking.state is BookingState.RESTORED),
        Check(f"booking.restored for {ref.booking_key}",
              _has(events, EventType.BOOKING_RESTORED, ref, restored)),
    ]


def _has(events: Sequence[PipelineEvent], event_type: EventType, booking: BookingRef | None,
         matches: Callable[[EventData], bool]) -> bool:
    """An event of this type, about this booking (None: about no booking), whose data matches."""
    return any(
        event.type is event_type
        and (booking is None or (event.integration_id, event.booking_key)
             == (booking.integration_id, booking.booking_key))
        and matches(event.typed_data())
        for event in events
    )
