"""GetUserAvailability and GetServerTimeZones, driven by exchangelib over HTTP against the simulator."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from exchangelib import EWSDateTime, EWSTimeZone
from exchangelib.errors import (
    ErrorMailboxDataArrayTooBig,
    ErrorMailRecipientNotFound,
    ErrorTimeIntervalTooBig,
    ErrorTimeZone,
)
from exchangelib.properties import FreeBusyViewOptions, MailboxData, TimeWindow, TimeZone
from exchangelib.services import GetUserAvailability

from infra.ewssim.models import CalendarItem, PermissionLevel
from infra.ewssim.models.directory import Directory, PrincipalKind
from infra.ewssim.responses import OPERATIONS
from infra.ewssim.schema import SchemaValidator
from infra.ewssim.server import EwsSimulator
from tests.seed import smtp

UTC_TZ = EWSTimeZone("UTC")
DAY = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday in winter (no daylight saving anywhere north)
_SCHEMA_DIR = Path(
    os.environ.get("EWS_SCHEMA_DIR") or Path(__file__).resolve().parents[4] / "shared/ews-schema"
)
MY_OPERATIONS = (
    "GetUserAvailabilityRequest",
    "GetServerTimeZones",
    "ResolveNames",
    "GetRoomLists",
    "GetRooms",
)


@pytest.fixture(autouse=True)
def schema_checked(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Validate every response these operations render against messages.xsd; fail the test on a violation.

    The server's own EWS_SCHEMA_DIR check does the same for all operations when it is on.
    """
    if not (_SCHEMA_DIR / "messages.xsd").is_file():
        yield
        return
    validator = SchemaValidator(_SCHEMA_DIR)
    violations: list[str] = []
    for name in MY_OPERATIONS:
        handler = OPERATIONS[name]

        def checked(ctx, body, _handler=handler, _name=name):
            result = _handler(ctx, body)
            violations.extend(f"{_name}: {error}" for error in validator.errors(result))
            return result

        monkeypatch.setitem(OPERATIONS, name, checked)
    yield
    assert not violations, violations


def put(sim: EwsSimulator, owner: str, start: datetime, minutes: int, **fields: object) -> CalendarItem:
    item = CalendarItem(start=start, end=start + timedelta(minutes=minutes), **fields)  # type: ignore[arg-type]
    sim.backend.mailbox(smtp(owner)).put("calendar", item)
    return item


def views(account, names, start, end, view="DetailedMerged", interval=30):
    return list(
        account.protocol.get_free_busy_info(
            [(smtp(n), "Required", False) for n in names], start, end, interval, view
        )
    )


def window(tz: EWSTimeZone = UTC_TZ, day: datetime = DAY, hours: int = 24) -> tuple[EWSDateTime, EWSDateTime]:
    start = EWSDateTime(day.year, day.month, day.day, tzinfo=tz)
    return start, start + timedelta(hours=hours)


def test_reviewer_sees_subject_location_and_id(sim, account) -> None:
    item = put(
        sim, "carol", DAY.replace(hour=9), 60, subject="Design review", location="Room A", is_meeting=True
    )

    [view] = views(account("svc"), ["carol"], *window())

    assert view.view_type == "DetailedMerged"
    [event] = view.calendar_events
    assert (event.start, event.end, event.busy_type) == (item.start, item.end, "Busy")
    assert event.details.subject == "Design review"
    assert event.details.location == "Room A"
    assert event.details.id == item.item_id
    assert event.details.is_meeting is True and event.details.is_private is False


def test_free_busy_time_only_gets_busy_times_and_a_downgraded_view(sim, account) -> None:
    put(sim, "bob", DAY.replace(hour=9), 60, subject="Secret plans", location="Lab")

    [merged] = views(account("svc"), ["bob"], *window())
    [plain] = views(account("svc"), ["bob"], *window(), view="Detailed")

    assert merged.view_type == "FreeBusyMerged" and plain.view_type == "FreeBusy"
    assert [e.details for e in merged.calendar_events + plain.calendar_events] == [None, None]


def test_no_grant_still_gives_busy_times_as_exchange_default(sim, account) -> None:
    put(sim, "bob", DAY.replace(hour=14), 30, subject="Dentist")

    [view] = views(account("alice"), ["bob"], *window())

    assert view.view_type == "FreeBusyMerged"
    [event] = view.calendar_events
    assert event.busy_type == "Busy" and event.details is None


def test_subject_and_location_level_shows_no_item_id(sim, account) -> None:
    sim.backend.grant_folder_permission(
        smtp("bob"), smtp("alice"), PermissionLevel.FREE_BUSY_TIME_AND_SUBJECT_AND_LOCATION
    )
    put(sim, "bob", DAY.replace(hour=9), 60, subject="1:1", location="Cafe")

    [view] = views(account("alice"), ["bob"], *window())

    [event] = view.calendar_events
    assert (event.details.subject, event.details.location, event.details.id) == ("1:1", "Cafe", None)


def test_private_item_hides_subject_from_reviewer_but_not_owner(sim, account) -> None:
    put(sim, "carol", DAY.replace(hour=9), 60, subject="Doctor", location="Clinic", sensitivity="Private")

    [seen_by_svc] = views(account("svc"), ["carol"], *window())
    [seen_by_carol] = views(account("carol"), ["carol"], *window())

    hidden = seen_by_svc.calendar_events[0].details
    assert hidden.is_private is True
    assert (hidden.subject, hidden.location, hidden.id) == (None, None, None)
    shown = seen_by_carol.calendar_events[0].details
    assert (shown.subject, shown.location, shown.is_private) == ("Doctor", "Clinic", True)


def test_free_busy_view_has_no_details_even_for_the_owner(sim, account) -> None:
    put(sim, "alice", DAY.replace(hour=9), 60, subject="Mine")

    [view] = views(account("alice"), ["alice"], *window(), view="FreeBusy")

    assert view.view_type == "FreeBusy" and view.merged is None
    assert view.calendar_events[0].details is None


def test_merged_string_by_hand(sim, account) -> None:
    # Eight 30-minute slots from 08:00 to 12:00 UTC.
    put(sim, "carol", DAY.replace(hour=8, minute=30), 60, legacy_free_busy_status="Busy")  # slots 1-2
    put(sim, "carol", DAY.replace(hour=9), 60, legacy_free_busy_status="Tentative")  # slots 2-3, Busy wins 2
    put(sim, "carol", DAY.replace(hour=10, minute=15), 30, legacy_free_busy_status="OOF")  # slots 4-5
    put(sim, "carol", DAY.replace(hour=11), 60, legacy_free_busy_status="Free")  # never shows
    put(sim, "carol", DAY.replace(hour=11), 30, is_cancelled=True)  # cancelled: never shows
    elsewhere = "WorkingElsewhere"
    put(sim, "carol", DAY.replace(hour=11, minute=30), 30, legacy_free_busy_status=elsewhere)  # slot 7
    start, _ = window()
    start = start.replace(hour=8)

    [view] = views(account("svc"), ["carol"], start, start + timedelta(hours=4))
    [only] = views(account("svc"), ["carol"], start, start + timedelta(hours=4), view="MergedOnly")
    [hourly] = views(account("svc"), ["carol"], start, start + timedelta(hours=4), interval=60)

    assert view.merged == "02213304"
    assert [e.busy_type for e in view.calendar_events] == ["Busy", "Tentative", "OOF", "WorkingElsewhere"]
    assert only.view_type == "MergedOnly" and only.merged == "02213304" and not only.calendar_events
    assert hourly.merged == "2234"


def test_items_partly_in_the_window_are_returned_whole(sim, account) -> None:
    item = put(sim, "carol", DAY - timedelta(hours=1), 120)
    put(sim, "carol", DAY + timedelta(days=1), 60)  # entirely after the window

    [view] = views(account("svc"), ["carol"], *window())

    assert [(e.start, e.end) for e in view.calendar_events] == [(item.start, item.end)]
    assert view.merged.startswith("22000")


@pytest.mark.parametrize("day", [DAY, datetime(2026, 7, 6, tzinfo=UTC)], ids=["winter", "summer"])
def test_times_are_in_the_requested_time_zone(sim, account, day) -> None:
    berlin = EWSTimeZone("Europe/Berlin")
    item = put(sim, "carol", day.replace(hour=9), 60)

    [view] = views(account("svc"), ["carol"], *window(berlin, day))

    [event] = view.calendar_events
    assert event.start == item.start and event.end == item.end
    local_hour = 10 if day.month == 3 else 11
    assert event.start.astimezone(berlin).hour == local_hour
    assert view.merged[2 * local_hour : 2 * local_hour + 3] == "220"


def test_working_hours_come_from_the_principal(sim, account) -> None:
    sim.backend.add_principal(
        Directory.principal_from_dict(
            {
                "smtp": smtp("dave"),
                "name": "Dave Dyer",
                "time_zone": "Europe/Berlin",
                "working_hours": {"days": ["Monday", "Wednesday"], "start": "08:30", "end": "16:00"},
            },
            PrincipalKind.USER,
        )
    )

    bob, dave = views(account("svc"), ["bob", "dave"], *window())

    [period] = bob.working_hours
    assert (period.weekdays, period.start, period.end) == ([1, 2, 3, 4, 5], time(9), time(17))
    zone = bob.working_hours_timezone
    assert zone.bias == 300 and zone.daylight_time.bias == -60
    assert (zone.daylight_time.iso_month, zone.daylight_time.occurrence) == (3, 2)
    assert (zone.standard_time.iso_month, zone.standard_time.occurrence) == (11, 1)
    [period] = dave.working_hours
    assert (period.weekdays, period.start, period.end) == ([1, 3], time(8, 30), time(16))
    assert dave.working_hours_timezone.bias == -60


def test_unknown_mailbox_fails_alone(sim, account) -> None:
    put(sim, "carol", DAY.replace(hour=9), 60)
    names = ["carol", "nobody", "bob"]

    carol, nobody, bob = views(account("svc"), names, *window())

    assert isinstance(nobody, ErrorMailRecipientNotFound)
    assert len(carol.calendar_events) == 1 and bob.calendar_events == []


def _availability(account, count: int, start: EWSDateTime, end: EWSDateTime):
    """GetUserAvailability in one request, bypassing exchangelib's chunking at 100 mailboxes."""
    protocol = account.protocol
    [definition] = protocol.get_timezones(timezones=[start.tzinfo], return_full_timezone_data=True)
    names = ["alice", "bob", "carol", "svc"]
    return list(
        GetUserAvailability(protocol, chunk_size=count).call(
            tzinfo=start.tzinfo,
            mailbox_data=[
                MailboxData(email=smtp(names[i % 4]), attendee_type="Required") for i in range(count)
            ],
            timezone=TimeZone.from_server_timezone(tz_definition=definition, for_year=start.year),
            free_busy_view_options=FreeBusyViewOptions(
                time_window=TimeWindow(start=start, end=end), requested_view="FreeBusy"
            ),
        )
    )


def test_at_most_100_mailboxes_per_request(sim, account) -> None:
    start, end = window()

    assert len(_availability(account("svc"), 100, start, end)) == 100
    with pytest.raises(ErrorMailboxDataArrayTooBig):
        _availability(account("svc"), 101, start, end)


def test_window_of_at_most_42_days(sim, account) -> None:
    start, _ = window()

    assert len(views(account("svc"), ["bob"], start, start + timedelta(days=42))) == 1
    with pytest.raises(ErrorTimeIntervalTooBig):
        views(account("svc"), ["bob"], start, start + timedelta(days=42, minutes=30))


# GetServerTimeZones ----------------------------------------------------------------------------

REQUIRED_ZONES = {
    "UTC": "UTC",
    "W. Europe Standard Time": "Europe/Berlin",
    "GMT Standard Time": "Europe/London",
    "Eastern Standard Time": "America/New_York",
    "Pacific Standard Time": "America/Los_Angeles",
}


def test_all_zones_without_ids(sim, account) -> None:
    zones = list(account("alice").protocol.get_timezones())

    assert set(REQUIRED_ZONES) <= {zone.id for zone in zones}
    assert all(zone.name and zone.periods is None for zone in zones)


@pytest.mark.parametrize(
    ("ms_id", "bias", "daylight"),
    [
        ("UTC", 0, None),
        ("W. Europe Standard Time", -60, (3, 5, time(2), 10, 5, time(3))),
        ("GMT Standard Time", 0, (3, 5, time(1), 10, 5, time(2))),
        ("Eastern Standard Time", 300, (3, 2, time(2), 11, 1, time(2))),
        ("Pacific Standard Time", 480, (3, 2, time(2), 11, 1, time(2))),
    ],
)
def test_full_definitions_parse_in_exchangelib(sim, account, ms_id, bias, daylight) -> None:
    tz = EWSTimeZone(REQUIRED_ZONES[ms_id])

    [definition] = account("alice").protocol.get_timezones([tz], return_full_timezone_data=True)
    zone = TimeZone.from_server_timezone(tz_definition=definition, for_year=2026)

    assert definition.id == ms_id and zone.bias == bias
    if daylight is None:
        assert zone.daylight_time.bias == 0 and zone.standard_time.bias == 0
        return
    dst, std = zone.daylight_time, zone.standard_time
    assert dst.bias == -60 and std.bias == 0
    assert (dst.iso_month, dst.occurrence, dst.time, std.iso_month, std.occurrence, std.time) == daylight
    assert dst.weekday == std.weekday == 7  # Sunday in exchangelib's ISO numbering


def test_unknown_zone_id(sim, account) -> None:
    with pytest.raises(ErrorTimeZone):
        list(account("alice").protocol.get_timezones([EWSTimeZone("Pacific/Fiji")]))
