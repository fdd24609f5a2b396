"""`ews-pipeline demo`, run as a user runs it: it succeeds, and its report shows what it claims.

The demo is started once for the module, in a process of its own (it owns a simulator, a moto
server, the global dramatiq broker and the callback function's dependencies).
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from infra.demo import organisation as org
from infra.demo.changes import AUTO_CONFIRMED, CLOUD_LOCKED, DECLINED, EXTERNAL_SUBJECT, LOCKED
from infra.demo.outlook_web import OUTLOOK_WEB_APP


@pytest.fixture(scope="module")
def demo() -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", "demo"], capture_output=True, text=True,
                          timeout=110, check=False)


def section(report: str, heading: str) -> str:
    """The report's lines from `heading` to the next blank line."""
    start = report.index(heading)
    end = report.find("\n\n", start)
    return report[start:] if end < 0 else report[start:end]


def lines_with(report: str, *parts: str) -> list[str]:
    return [line for line in report.splitlines() if all(part in line for part in parts)]


def test_every_job_succeeds_and_the_demo_exits_0(demo: subprocess.CompletedProcess[str]) -> None:
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    jobs = [line for line in demo.stdout.splitlines()
            if re.match(r"^(check_connection|list_rooms|fetch_free_busy|subscribe_mailbox|create_event|"
                        r"send_invite|process_change|sync_calendar) ", line)]
    assert len(jobs) > 25
    assert all(" succeeded " in line for line in jobs), [line for line in jobs if " succeeded " not in line]
    assert len(lines_with(demo.stdout, "subscribe_mailbox", "succeeded")) == 4


def test_the_changes_made_in_outlook_cause_jobs_on_the_worker(demo: subprocess.CompletedProcess[str]) -> None:
    caused = section(demo.stdout, "jobs the changes in Outlook caused:")
    assert lines_with(caused, "process_change", "contoso-personal", LOCKED.booking_key)
    assert lines_with(caused, "process_change", "contoso-dedicated", AUTO_CONFIRMED.booking_key)
    assert lines_with(caused, "sync_calendar", "contoso-delegate", "succeeded")
    # The Graph integration's: a change notification through the callback's Graph webhook
    assert lines_with(caused, "process_change", "contoso-cloud", CLOUD_LOCKED.booking_key)


def test_the_app_receives_each_changes_event(demo: subprocess.CompletedProcess[str]) -> None:
    events = section(demo.stdout, "events the app received after the changes in Outlook:")
    [restored] = lines_with(events, "booking.restored", LOCKED.booking_key)
    assert re.search(r"moved to .+ 13:00-13:45 UTC, back at .+ 11:00-11:45 UTC", restored)
    [moved] = lines_with(events, "booking.moved_in_exchange", AUTO_CONFIRMED.booking_key)
    assert "12:00-12:45 UTC -> " in moved and "15:00-15:45 UTC, auto_confirmed=true" in moved
    # The room accepts (resource mailboxes auto-accept); the person declines.
    [declined] = [line for line in lines_with(events, "attendee.responded", DECLINED.booking_key)
                  if "declined" in line]
    assert re.search(r"@contoso\.test \(internal\) declined, was none", declined)
    # The same event for the locked booking moved in Outlook on the web and moved back through Graph
    [restored_on_graph] = lines_with(events, "booking.restored", "contoso-cloud", CLOUD_LOCKED.booking_key)
    assert re.search(r"moved to .+ 17:00-17:45 UTC, back at .+ 15:00-15:45 UTC", restored_on_graph)
    [external] = lines_with(events, "calendar.event_changed", EXTERNAL_SUBJECT)
    assert "grace@contoso.test" in external and "organiser sam@contoso.test" in external
    # And earlier, while booking, the same sink brought the bookings' own events.
    assert "'booking.created': 10, 'booking.invitations_sent': 10" in demo.stdout


def test_the_bookings_read_back_show_their_final_state(demo: subprocess.CompletedProcess[str]) -> None:
    bookings = section(demo.stdout, "those bookings in the results table")
    [locked] = lines_with(bookings, LOCKED.booking_key)
    assert re.search(r"restored +booked (.+ 11:00-11:45 UTC), in Exchange \1", locked)
    [auto] = lines_with(bookings, AUTO_CONFIRMED.booking_key)
    assert re.search(r"moved +booked (.+ 15:00-15:45 UTC), in Exchange \1, time confirmed=true", auto)
    [declined] = lines_with(bookings, DECLINED.booking_key)
    assert re.search(r"responses: (\S+ accepted, )?\S+@contoso\.test declined", declined)
    [on_graph] = lines_with(bookings, CLOUD_LOCKED.booking_key)
    assert re.search(r"restored +booked (.+ 15:00-15:45 UTC), in Exchange \1", on_graph)


def test_the_graph_integration_runs_the_same_jobs(demo: subprocess.CompletedProcess[str]) -> None:
    # One integration reaches the same company through Microsoft Graph (the local Graph, over TLS)
    booking = demo.stdout[:demo.stdout.index("changed in Outlook")]
    jobs = lines_with(booking, " contoso-cloud ")
    actions = [line.split()[0] for line in jobs]
    assert sorted(a for a in actions if a not in ("process_change", "sync_calendar")) == [
        "check_connection", "create_event", "create_event", "fetch_free_busy", "list_rooms",
        "send_invite", "send_invite", "subscribe_mailbox",
    ]
    # Its subscription's change notifications come back through the callback function, as on EWS;
    # the other events in ken's calendar make a first sync
    assert "process_change" in actions and "sync_calendar" in actions
    assert all(" succeeded " in line for line in jobs), jobs
    assert lines_with(booking, "subscribe_mailbox", "contoso-cloud", "subscribed ken@contoso.test")
    [free_busy] = lines_with(demo.stdout, "fetch_free_busy", "contoso-cloud")
    [on_ews] = lines_with(demo.stdout, "fetch_free_busy", "contoso-delegate")
    assert free_busy.split("succeeded", 1)[1] == on_ews.split("succeeded", 1)[1]  # the same answer
    # Its events reach the app through the same sink
    [events] = lines_with(demo.stdout, "of which contoso-cloud's, through Microsoft Graph: ")
    assert "'booking.created': 2, 'booking.invitations_sent': 2" in events
    # Each booking is one createEvent; free/busy for 146 mailboxes is 8 getSchedule in one $batch;
    # the locked booking is moved back with one updateEvent (besides the two send_invites)
    [graph] = lines_with(demo.stdout, "Graph requests by operation")
    assert "'createEvent': 2" in graph and "'getSchedule': 8" in graph and "'createSubscription': 1" in graph
    assert "'updateEvent': 3" in graph
    # ken moved it in Outlook on the web, as himself, through Graph
    changes = section(demo.stdout, "changed in Outlook")
    [moved] = lines_with(changes, "ken@contoso.test moved", CLOUD_LOCKED.booking_key)
    assert re.search(r"from .+ 15:00-15:45 UTC to .+ 17:00-17:45 UTC in Outlook on the web", moved)
    assert "Outlook on the web's Graph requests: {'getEvent': 1, 'updateEvent': 1}" in changes
    # And the bookings are in the organisers' calendars, the mailboxes both APIs share
    calendars = section(demo.stdout, "calendars now")
    for candidate, organiser in (("Candidate 40", "ken"), ("Candidate 41", "margaret")):
        assert lines_with(calendars, f"Interview with {candidate}", f"organiser {organiser}@contoso.test")


def test_the_demo_checks_pass(demo: subprocess.CompletedProcess[str]) -> None:
    checks = section(demo.stdout, "checks:").splitlines()[1:]
    assert len(checks) == 8
    assert all(line.strip().startswith("ok ") for line in checks), checks


def test_the_report_shows_no_secret(demo: subprocess.CompletedProcess[str]) -> None:
    output = demo.stdout + demo.stderr
    for secret in (org.PASSWORD, org.APP["client_secret"], OUTLOOK_WEB_APP["client_secret"]):
        assert secret not in output
    assert "/notifications/" not in output  # callback URLs carry a subscription's token
