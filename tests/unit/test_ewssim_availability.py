"""Free/busy computation and time zone rules of the simulator, without HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from infra.ewssim.errors import EwsError, RequestFault
from infra.ewssim.models import CalendarItem, EwsBackend, PermissionLevel
from infra.ewssim.models.availability import (
    BusyEvent,
    Detail,
    busy_events,
    check_request,
    detail_for,
    free_busy,
    merged_free_busy,
)
from infra.ewssim.models.timezones import LAST, SERVER_TIME_ZONES, TransitionRule, rule_for, server_time_zone
from tests.seed import smtp, standard_org

T0 = datetime(2026, 3, 2, 8, tzinfo=UTC)
HALF_HOUR = timedelta(minutes=30)


def event(start_min: int, minutes: int, busy_type: str = "Busy") -> BusyEvent:
    start = T0 + timedelta(minutes=start_min)
    return BusyEvent(start, start + timedelta(minutes=minutes), busy_type)


def item(start_min: int, minutes: int, **fields: object) -> CalendarItem:
    start = T0 + timedelta(minutes=start_min)
    return CalendarItem(start=start, end=start + timedelta(minutes=minutes), **fields)  # type: ignore[arg-type]


@pytest.fixture
def backend() -> EwsBackend:
    backend = EwsBackend()
    backend.seed(standard_org())
    return backend


# Merged free/busy ------------------------------------------------------------------------------


def test_merged_digits_by_hand() -> None:
    events = [
        event(30, 60),
        event(60, 60, "Tentative"),
        event(135, 30, "OOF"),
        event(210, 30, "WorkingElsewhere"),
    ]

    assert merged_free_busy(events, T0, T0 + timedelta(hours=4), HALF_HOUR) == "02213304"


def test_merged_partial_last_slot_and_events_outside() -> None:
    events = [event(-60, 30), event(100, 5, "Tentative"), event(240, 60)]

    # 100 minutes -> four slots (the last one partial); the event at 100 min lies past the end.
    assert merged_free_busy(events, T0, T0 + timedelta(minutes=100), HALF_HOUR) == "0000"
    assert merged_free_busy(events, T0, T0 + timedelta(minutes=110), HALF_HOUR) == "0001"


def test_merged_strength_order() -> None:
    for weaker, stronger, digit in [
        ("WorkingElsewhere", "Tentative", "1"),
        ("Tentative", "Busy", "2"),
        ("Busy", "OOF", "3"),
    ]:
        events = [event(0, 30, stronger), event(0, 30, weaker)]
        assert merged_free_busy(events, T0, T0 + HALF_HOUR, HALF_HOUR) == digit


# Events and detail -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "detail"),
    [
        (PermissionLevel.NONE, Detail.TIMES),
        (PermissionLevel.FREE_BUSY_TIME_ONLY, Detail.TIMES),
        (PermissionLevel.FREE_BUSY_TIME_AND_SUBJECT_AND_LOCATION, Detail.SUBJECT_LOCATION),
        (PermissionLevel.REVIEWER, Detail.FULL),
        (PermissionLevel.EDITOR, Detail.FULL),
        (PermissionLevel.DELEGATE, Detail.FULL),
        (PermissionLevel.OWNER, Detail.FULL),
    ],
)
def test_detail_follows_permission(level: PermissionLevel, detail: Detail) -> None:
    assert detail_for(level) is detail


def test_busy_events_filter_and_sort() -> None:
    items = [
        item(120, 30, subject="later"),
        item(0, 30, subject="free", legacy_free_busy_status="Free"),
        item(0, 30, subject="cancelled", is_cancelled=True),
        item(-120, 30, subject="before"),
        item(30, 30, subject="first", legacy_free_busy_status="OOF"),
        CalendarItem(subject="no times"),
    ]

    events = busy_events(items, T0, T0 + timedelta(hours=4), Detail.FULL, view_private=False)

    assert [(e.details.subject if e.details else None, e.busy_type) for e in events] == [
        ("first", "OOF"),
        ("later", "Busy"),
    ]


def test_detail_levels_and_private_items() -> None:
    public = item(0, 30, subject="Plan", location="Lab")
    private = item(60, 30, subject="Doctor", location="Clinic", sensitivity="Private")
    end = T0 + timedelta(hours=2)

    times = busy_events([public], T0, end, Detail.TIMES, view_private=False)
    subject = busy_events([public], T0, end, Detail.SUBJECT_LOCATION, view_private=False)
    hidden = busy_events([private], T0, end, Detail.FULL, view_private=False)
    shown = busy_events([private], T0, end, Detail.FULL, view_private=True)

    assert times[0].details is None
    assert subject[0].details is not None
    assert (subject[0].details.subject, subject[0].details.item_id) == ("Plan", None)
    assert hidden[0].details is not None and shown[0].details is not None
    assert (hidden[0].details.subject, hidden[0].details.location, hidden[0].details.item_id) == (
        None,
        None,
        None,
    )
    assert hidden[0].details.is_private and shown[0].details.is_private
    assert (shown[0].details.subject, shown[0].details.item_id) == ("Doctor", private.item_id)


def test_free_busy_per_requester(backend: EwsBackend) -> None:
    backend.mailbox(smtp("carol")).put("calendar", item(0, 30, subject="Secret", sensitivity="Private"))
    directory = backend.directory
    end = T0 + timedelta(hours=1)

    owner = free_busy(backend, directory.get(smtp("carol")), smtp("carol"), T0, end, want_details=True)
    reviewer = free_busy(backend, directory.get(smtp("svc")), smtp("carol"), T0, end, want_details=True)
    stranger = free_busy(backend, directory.get(smtp("bob")), smtp("carol"), T0, end, want_details=True)
    app = free_busy(backend, directory.get(smtp("svc")), smtp("carol"), T0, end, True, full_access=True)

    assert owner.detail is Detail.FULL and owner.events[0].details
    assert owner.events[0].details.subject == "Secret"
    assert reviewer.detail is Detail.FULL and reviewer.events[0].details
    assert reviewer.events[0].details.subject is None
    assert stranger.detail is Detail.TIMES and stranger.events[0].details is None
    assert app.events[0].details and app.events[0].details.subject == "Secret"


def test_free_busy_unknown_recipient(backend: EwsBackend) -> None:
    with pytest.raises(EwsError) as caught:
        free_busy(backend, backend.directory.get(smtp("svc")), "ghost@example.com", T0, T0 + HALF_HOUR, True)

    assert caught.value.code == "ErrorMailRecipientNotFound"


@pytest.mark.parametrize(
    ("count", "length", "code"),
    [
        (100, timedelta(days=42), None),
        (101, timedelta(hours=1), "ErrorMailboxDataArrayTooBig"),
        (1, timedelta(days=42, minutes=1), "ErrorTimeIntervalTooBig"),
        (1, timedelta(0), "ErrorInvalidTimeInterval"),
    ],
)
def test_request_limits(count: int, length: timedelta, code: str | None) -> None:
    if code is None:
        check_request(count, T0, T0 + length)
        return
    with pytest.raises(RequestFault) as caught:
        check_request(count, T0, T0 + length)
    assert caught.value.code == code and caught.value.http_status == 500


# Time zones ------------------------------------------------------------------------------------


@pytest.mark.parametrize("ms_id", SERVER_TIME_ZONES)
def test_rules_agree_with_zoneinfo_all_year(ms_id: str) -> None:
    zone = server_time_zone(ms_id)
    assert zone is not None
    iana = ZoneInfo(zone.iana)
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    while moment.year == 2026:  # every 75 minutes, so every transition hour is crossed
        expected = moment.astimezone(iana).replace(tzinfo=None, fold=0)
        assert zone.rule.to_local(moment) == expected, moment
        if not _ambiguous(iana, expected):
            assert zone.rule.to_utc(expected) == moment, moment
        moment += timedelta(minutes=75)


def _ambiguous(zone: ZoneInfo, local: datetime) -> bool:
    # Local times repeated in autumn resolve to standard time, so they need not round-trip.
    return local.replace(tzinfo=zone, fold=0).utcoffset() != local.replace(tzinfo=zone, fold=1).utcoffset()


def test_rule_shapes() -> None:
    berlin, eastern, utc = rule_for("W. Europe Standard Time"), rule_for("America/New_York"), rule_for("UTC")

    assert (berlin.bias, berlin.daylight_bias) == (-60, -60)
    assert berlin.daylight == TransitionRule(3, 6, LAST, time(2))
    assert berlin.standard == TransitionRule(10, 6, LAST, time(3))
    assert (eastern.bias, eastern.daylight, eastern.standard) == (
        300,
        TransitionRule(3, 6, 2, time(2)),
        TransitionRule(11, 6, 1, time(2)),
    )
    assert not utc.has_dst and utc.bias == 0
    assert server_time_zone("Mars Standard Time") is None
    assert rule_for("Not/A_Zone").bias == 0
