"""The lxml parser against the simulator's GetUserAvailability answers, fetched over HTTP.

Each answer is what the pipeline's request gets back on the wire; with EWS_SCHEMA_DIR set the
simulator validates request and answer against messages.xsd (a violation fails the test). Both
parses, exchangelib's (the pipeline's before) and the lxml one, must give the same values.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from exchangelib import Identity

from infra.ewssim import EwsSimulator, FaultKind
from infra.ewssim.models import CalendarItem
from pipeline.errors import ErrorCode, RetryableError
from pipeline.exchange.ews.availability import AvailabilityService
from pipeline.exchange.ews.availability_request import build_request
from pipeline.exchange.types import BusyType
from tests.availability_support import exchangelib_read, lxml_read, protocol
from tests.seed import PASSWORDS, smtp

MONDAY = datetime(2030, 1, 7, tzinfo=UTC)
SUMMER = datetime(2030, 7, 1, tzinfo=UTC)  # daylight saving north, none south
GUA = "GetUserAvailability"
EXTRA_USERS = [
    {"smtp": smtp("dev"), "name": "Dev Patel", "time_zone": "Asia/Kolkata",
     "working_hours": {"days": ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday"],
                       "start": "09:30", "end": "18:15"}},
    {"smtp": smtp("erin"), "name": "Erin Wu", "time_zone": "Australia/Sydney",
     "working_hours": {"days": ["Monday", "Wednesday", "Friday"], "start": "07:00", "end": "23:59"}},
]
BUSY_TYPES = ("Busy", "Tentative", "OOF", "WorkingElsewhere", "NoData", "Free")
EVERYONE = [smtp(name) for name in ("alice", "bob", "carol", "dev", "erin")]


def book(sim: EwsSimulator, owner: str, start: datetime, minutes: int, **fields: Any) -> None:
    item = CalendarItem(start=start, end=start + timedelta(minutes=minutes), **fields)
    sim.backend.mailbox(owner).put("calendar", item)


@pytest.fixture
def calendars(sim: EwsSimulator) -> EwsSimulator:
    """Five people in five time zones, every busy type, private, cancelled, all-day and long items."""
    sim.seed({"users": EXTRA_USERS,
              "permissions": [{"owner": smtp("dev"), "grantee": smtp("svc"),
                               "level": "FreeBusyTimeAndSubjectAndLocation"}]})
    for base in (MONDAY, SUMMER):
        for index, owner in enumerate(EVERYONE):
            for hour, busy in zip(range(8, 20, 2), BUSY_TYPES, strict=True):
                book(sim, owner, base + timedelta(days=index % 3, hours=hour), 45,
                     legacy_free_busy_status=busy, subject=f"{busy} & <co> {owner}",
                     location="Room A" if hour % 4 else "")
            book(sim, owner, base + timedelta(days=1, hours=12), 60, subject="Doctor", location="Clinic",
                 sensitivity="Private")
            book(sim, owner, base + timedelta(days=2, hours=9), 30, subject="Called off", is_cancelled=True)
            book(sim, owner, base + timedelta(days=3), 24 * 60, subject="Conference ✓", is_all_day=True,
                 legacy_free_busy_status="OOF")
            book(sim, owner, base - timedelta(hours=1), 3 * 60, subject="Across the window's start")
            book(sim, owner, base + timedelta(days=6, hours=22), 4 * 60, subject="Across its end")
    return sim


def fetch(sim: EwsSimulator, mailboxes: list[str], start: datetime, end: datetime, view: str, *,
          logon: str = "svc", acting_as: str | None = None, interval: int = 30) -> bytes:
    """The pipeline's request, as AvailabilityService wraps it, POSTed; the answer's bytes."""
    service = AvailabilityService(protocol=protocol(sim.ews_url),
                                  acting_as=Identity(primary_smtp_address=acting_as) if acting_as else None)
    request = build_request(mailboxes, start, end, view, interval)
    body = service.wrap(content=request, api_version="Exchange2016")
    answer = requests.post(sim.ews_url, data=body, auth=(smtp(logon), PASSWORDS[logon]), timeout=30,
                           headers={"Content-Type": "text/xml; charset=utf-8"})
    assert answer.status_code == 200, answer.text[:500]
    return answer.content


@pytest.mark.parametrize("view", ["FreeBusy", "FreeBusyMerged", "Detailed", "DetailedMerged", "MergedOnly"])
@pytest.mark.parametrize("base", [MONDAY, SUMMER], ids=["winter", "summer"])
def test_every_view_parses_as_exchangelib_parses_it(
    calendars: EwsSimulator, view: str, base: datetime
) -> None:
    asked = [*EVERYONE, "ghost@example.com"]

    content = fetch(calendars, asked, base, base + timedelta(days=7), view, interval=15)
    ours = lxml_read(asked, content)

    assert ours == exchangelib_read(asked, content)
    assert ours[-1].error_code is ErrorCode.UNKNOWN_MAILBOX
    if view != "MergedOnly":
        busy_types = {i.busy_type for a in ours[:-1] for i in a.intervals}
        assert busy_types == set(BusyType) - {BusyType.FREE}  # the simulator drops free items
        assert all(a.working_hours is not None for a in ours[:-1])
    if view.endswith("Merged"):
        assert all(a.merged is not None and len(a.merged) == 7 * 24 * 4 for a in ours[:-1])


def test_details_where_the_permission_gives_them_and_never_a_private_subject(calendars: EwsSimulator) -> None:
    content = fetch(calendars, EVERYONE, MONDAY, MONDAY + timedelta(days=7), "Detailed")

    alice, bob, carol, dev, erin = ours = lxml_read(EVERYONE, content)

    assert ours == exchangelib_read(EVERYONE, content)
    subjects = {a.mailbox: {i.subject for i in a.intervals} for a in ours}
    assert "Busy & <co> alice@example.com" in subjects[alice.mailbox]  # Delegate
    assert subjects[bob.mailbox] == {None} and subjects[erin.mailbox] == {None}  # times only
    assert "Conference ✓" in subjects[carol.mailbox] and "Conference ✓" in subjects[dev.mailbox]
    private = [i for a in (alice, carol, dev) for i in a.intervals if i.is_private]
    assert private and all(i.subject != "Doctor" for i in private)


def test_working_hours_in_each_zone(calendars: EwsSimulator) -> None:
    content = fetch(calendars, EVERYONE, SUMMER, SUMMER + timedelta(days=1), "FreeBusy")

    ours = lxml_read(EVERYONE, content)

    assert ours == exchangelib_read(EVERYONE, content)
    offsets = {a.mailbox: a.working_hours.utc_offset_minutes for a in ours if a.working_hours}
    assert offsets == {smtp("alice"): 0, smtp("bob"): -300, smtp("carol"): 0, smtp("dev"): 330,
                       smtp("erin"): 600}  # standard offsets, as EWS's Bias gives them
    erin = ours[-1].working_hours
    assert erin is not None and [(p.days, p.start_minute, p.end_minute) for p in erin.periods] == [
        (("Monday", "Wednesday", "Friday"), 7 * 60, 23 * 60 + 59)]


def test_impersonated_and_own_calendars(calendars: EwsSimulator) -> None:
    # As alice (impersonated by svc-imp): her own calendar in full, others by her rights.
    content = fetch(calendars, EVERYONE, MONDAY, MONDAY + timedelta(days=7), "DetailedMerged",
                    logon="svc-imp", acting_as=smtp("alice"))

    ours = lxml_read(EVERYONE, content)

    assert ours == exchangelib_read(EVERYONE, content)
    assert "Doctor" in {i.subject for i in ours[0].intervals}  # her own private item, to her
    assert [r.impersonated for r in calendars.request_log(GUA)] == [smtp("alice")]


def test_a_hundred_busy_calendars_as_the_benchmark_fills_them(sim: EwsSimulator) -> None:
    people = [f"user{i:03d}@example.com" for i in range(100)]
    zones = ("UTC", "Europe/Berlin", "America/Chicago")
    sim.seed({"users": [{"smtp": p, "name": p, "time_zone": zones[i % 3]} for i, p in enumerate(people)],
              "permissions": [{"owner": p, "grantee": smtp("svc"), "level": "Reviewer"}
                              for p in people[::2]]})
    rng = random.Random(7)
    for person in people:
        for k in range(30):
            start = MONDAY + timedelta(days=rng.randrange(42), minutes=30 * rng.randrange(14, 38))
            book(sim, person, start, 30 * rng.randint(1, 4), subject=f"Meeting {k}",
                 legacy_free_busy_status=rng.choice(("Busy", "Busy", "Tentative", "OOF", "WorkingElsewhere")),
                 sensitivity=rng.choice(("Normal",) * 9 + ("Private",)))

    content = fetch(sim, people, MONDAY, MONDAY + timedelta(days=42), "DetailedMerged")
    ours = lxml_read(people, content)

    assert ours == exchangelib_read(people, content)
    assert sum(len(a.intervals) for a in ours) == 3000
    assert sim.request_counts() == {GUA: 1}


def test_a_throttled_answer_retries_with_the_servers_back_off_as_before(sim: EwsSimulator) -> None:
    sim.faults.fail(FaultKind.SERVER_BUSY_MESSAGE, operation=GUA, count=1, back_off_ms=1500)

    content = fetch(sim, [smtp("alice"), smtp("bob")], MONDAY, MONDAY + timedelta(days=1), "FreeBusy")

    with pytest.raises(RetryableError) as ours:
        lxml_read([smtp("alice"), smtp("bob")], content)
    with pytest.raises(RetryableError) as theirs:
        exchangelib_read([smtp("alice"), smtp("bob")], content)
    assert (ours.value.code, ours.value.delay_ms, ours.value.message) == (
        theirs.value.code, theirs.value.delay_ms, theirs.value.message)
    assert (ours.value.code, ours.value.delay_ms) == (ErrorCode.SERVER_BUSY, 1500)
