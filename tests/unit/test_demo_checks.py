"""The demo's checks fail it when the pipeline makes the wrong thing of a change in Outlook."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from infra.demo.changes import AUTO_CONFIRMED, CLOUD_LOCKED, DECLINED, LOCKED, BookingRef, OutlookChanges
from infra.demo.checks import check_changes
from pipeline.contract.booking import AttendeeClass, BookingItem, BookingState, ResponseType
from pipeline.events.models import (
    AttendeeRespondedData,
    BookingMovedInExchangeData,
    BookingRestoredData,
    CalendarEventChangedData,
    EventData,
    PipelineEvent,
    make_event,
)

BOOKED = (datetime(2026, 12, 8, 11, tzinfo=UTC), datetime(2026, 12, 8, 11, 45, tzinfo=UTC))
MOVED = tuple(moment + timedelta(hours=2) for moment in BOOKED)
AUTO_BOOKED = (datetime(2026, 12, 8, 12, tzinfo=UTC), datetime(2026, 12, 8, 12, 45, tzinfo=UTC))
AUTO_MOVED = tuple(moment + timedelta(hours=3) for moment in AUTO_BOOKED)
EXTERNAL = (datetime(2026, 12, 10, 10, tzinfo=UTC), datetime(2026, 12, 10, 10, 30, tzinfo=UTC))
CLOUD_BOOKED = (datetime(2026, 12, 8, 15, tzinfo=UTC), datetime(2026, 12, 8, 15, 45, tzinfo=UTC))
CLOUD_MOVED = (CLOUD_BOOKED[0] + timedelta(hours=2), CLOUD_BOOKED[1] + timedelta(hours=2))
CHANGES = OutlookChanges(
    locked_owner="ada@contoso.test", locked_booked=BOOKED, locked_moved_to=(MOVED[0], MOVED[1]),
    auto_owner="booking-svc@contoso.test", auto_moved_to=(AUTO_MOVED[0], AUTO_MOVED[1]),
    decliner="linus@contoso.test", declined_subject="Interview",
    external_organiser="sam@contoso.test", external_invitee="grace@contoso.test",
    external_subject="Hiring plan", external_time=EXTERNAL,
    cloud_owner="ken@contoso.test", cloud_booked=CLOUD_BOOKED, cloud_moved_to=CLOUD_MOVED,
)


def event(data: EventData, ref: BookingRef | None, integration_id: str = "contoso-delegate") -> PipelineEvent:
    return make_event(data, integration_id=ref.integration_id if ref else integration_id,
                      booking_key=ref.booking_key if ref else None, occurred_at=BOOKED[0], cause="test")


def good_events() -> list[PipelineEvent]:
    return [
        event(BookingRestoredData(moved_start=MOVED[0], moved_end=MOVED[1], start=BOOKED[0], end=BOOKED[1]),
              LOCKED),
        event(BookingMovedInExchangeData(old_start=AUTO_BOOKED[0], old_end=AUTO_BOOKED[1],
                                         new_start=AUTO_MOVED[0], new_end=AUTO_MOVED[1], auto_confirmed=True),
              AUTO_CONFIRMED),
        event(AttendeeRespondedData(attendee="linus@contoso.test", attendee_class=AttendeeClass.INTERNAL,
                                    response=ResponseType.DECLINED), DECLINED),
        event(CalendarEventChangedData(mailbox="grace@contoso.test", item_id="AAMk1", start=EXTERNAL[0],
                                       end=EXTERNAL[1], free_busy_status="Tentative", is_private=False,
                                       subject="Hiring plan"), None),
        event(BookingRestoredData(moved_start=CLOUD_MOVED[0], moved_end=CLOUD_MOVED[1],
                                  start=CLOUD_BOOKED[0], end=CLOUD_BOOKED[1]), CLOUD_LOCKED),
    ]


def booking(ref: BookingRef, state: BookingState, booked: tuple[datetime, ...]) -> BookingItem:
    return BookingItem(
        pk=f"BOOKING#{ref.integration_id}#{ref.booking_key}", sk="BOOKING", integration_id=ref.integration_id,
        booking_key=ref.booking_key, mailbox="ada@contoso.test", calendar_mailbox="ada@contoso.test",
        item_id="AAMk0", change_key="CK", cancelled=False, state=state, booked_start=booked[0],
        booked_end=booked[1], start=booked[0], end=booked[1], updated_at=BOOKED[0],
    )


def good_bookings() -> dict[BookingRef, BookingItem | None]:
    return {
        LOCKED: booking(LOCKED, BookingState.RESTORED, BOOKED),
        AUTO_CONFIRMED: booking(AUTO_CONFIRMED, BookingState.MOVED, AUTO_MOVED),
        DECLINED: booking(DECLINED, BookingState.INVITED, AUTO_BOOKED),
        CLOUD_LOCKED: booking(CLOUD_LOCKED, BookingState.RESTORED, CLOUD_BOOKED),
    }


def failed(events: list[PipelineEvent], bookings: dict[BookingRef, BookingItem | None],
           locked_in_exchange: tuple[datetime, datetime] | None = BOOKED,
           cloud_in_exchange: tuple[datetime, datetime] | None = CLOUD_BOOKED) -> list[str]:
    checks = check_changes(CHANGES, events, bookings, locked_in_exchange, cloud_in_exchange)
    return [check.description for check in checks if not check.passed]


def test_all_pass_when_the_pipeline_did_what_it_should() -> None:
    assert failed(good_events(), good_bookings()) == []


def test_a_locked_booking_left_where_it_was_moved_fails() -> None:
    assert failed(good_events(), good_bookings(), locked_in_exchange=(MOVED[0], MOVED[1])) == [
        f"{LOCKED.booking_key} is back at its booked time in Exchange"]


def test_a_move_recorded_but_not_auto_confirmed_fails() -> None:
    events = good_events()
    events[1] = event(BookingMovedInExchangeData(old_start=AUTO_BOOKED[0], old_end=AUTO_BOOKED[1],
                                                 new_start=AUTO_MOVED[0], new_end=AUTO_MOVED[1],
                                                 auto_confirmed=False), AUTO_CONFIRMED)
    bookings = good_bookings()
    unconfirmed = bookings[AUTO_CONFIRMED]
    assert unconfirmed is not None
    bookings[AUTO_CONFIRMED] = unconfirmed.model_copy(
        update={"booked_start": AUTO_BOOKED[0], "booked_end": AUTO_BOOKED[1], "time_confirmed": False})
    assert failed(events, bookings) == [
        f"{AUTO_CONFIRMED.booking_key}'s booked time is the time it was moved to",
        f"booking.moved_in_exchange auto_confirmed=true for {AUTO_CONFIRMED.booking_key}",
    ]


def test_a_graph_booking_left_where_it_was_moved_fails() -> None:
    assert failed(good_events(), good_bookings(), cloud_in_exchange=CLOUD_MOVED) == [
        f"{CLOUD_LOCKED.booking_key} is back at its booked time in Exchange (through Graph)"]


@pytest.mark.parametrize("missing", range(5))
def test_each_missing_event_fails_its_check(missing: int) -> None:
    events = good_events()
    del events[missing]
    assert len(failed(events, good_bookings())) == 1


def test_an_event_about_another_booking_does_not_count() -> None:
    events = good_events()
    restored = BookingRestoredData.model_validate(events[0].data)
    events[0] = event(restored, replace(LOCKED, booking_key="other"))
    assert failed(events, good_bookings()) == [f"booking.restored for {LOCKED.booking_key}"]


def test_a_missing_booking_fails() -> None:
    bookings = good_bookings()
    bookings[LOCKED] = None
    assert failed(good_events(), bookings) == [f"{LOCKED.booking_key} is back at its booked time in Exchange"]
