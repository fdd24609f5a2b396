"""A second, independent EWS client against the simulator: ews-javascript-api (a port of Microsoft's EWS
Managed API) in Node, driven by tests/ews_js/driver.js, with Microsoft's schema check on (issue 12).

Each scenario runs once (`run_once`) and returns what the server said as JSON; the tests assert on it,
and on what exchangelib sees of the same state where the two can be compared. Where the simulator
still differs from Exchange (issue 12's list), the test asserts what Exchange does, cites Microsoft's
documentation for it, and is a strict xfail: the simulator's fix turns it into a failure to remove.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from exchangelib import EWSDateTime, EWSTimeZone
from exchangelib.errors import ErrorNameResolutionNoResults

from infra.ewssim import EwsSimulator
from infra.ewssim.models import CalendarItem
from tests.integration.ews_js.conftest import Run, RunOnce, exchangelib_account
from tests.integration.ewssim.calendar_support import register_booking_key
from tests.seed import smtp

pytestmark = pytest.mark.timeout(90)

# A divergence from Exchange is marked @differs("issue N: what") until fixed; issue 12's are all fixed.


def differs(reason: str) -> pytest.MarkDecorator:
    """A test of what Exchange does where the simulator does not yet: a strict xfail on the assertion
    only (a scenario or fixture that breaks is an error, not an expected failure)."""
    return pytest.mark.xfail(strict=True, raises=AssertionError, reason=reason)


ALICE, BOB, CAROL, SVC = smtp("alice"), smtp("bob"), smtp("carol"), smtp("svc")
ROOM_A, ROOM_B = smtp("room-a"), smtp("room-b")
NEW_YORK = EWSTimeZone("America/New_York")


def utc(text: str) -> str:
    """An instant as the scenarios print it (JavaScript's toISOString)."""
    return datetime.fromisoformat(text).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def classes(listing: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(m["class"], m["subject"]) for m in listing]


# Directory ------------------------------------------------------------------------------------


def _directory_as_exchangelib(sim: EwsSimulator, result: Any) -> dict[str, Any]:
    protocol = exchangelib_account(sim, "svc").protocol
    found = {query: protocol.resolve_names([query]) for query in ("bob", "room", "build", "zebra")}
    return {
        "resolved": {q: [getattr(m, "email_address", None) for m in v] for q, v in found.items()},
        "none": type(found["zebra"][0]).__name__,
        "room_lists": [r.email_address for r in protocol.get_roomlists()],
    }


@pytest.fixture(scope="module")
def directory(run_once: RunOnce) -> Run:
    return run_once("directory", "directory.lookups", after=_directory_as_exchangelib)


def test_resolve_names_finds_what_exchangelib_finds(directory: Run) -> None:
    result, seen = directory.result, directory.extra["resolved"]

    assert [r["address"] for r in result["one"]["resolutions"]] == seen["bob"] == [BOB]
    rooms = [smtp(f"room-{x}") for x in "abcd"]
    assert [r["address"] for r in result["many"]["resolutions"]] == seen["room"] == rooms
    assert {r["address"] for r in result["lists"]["resolutions"]} == set(seen["build"])
    # PublicDL on the wire; the Managed API calls that kind of mailbox PublicGroup.
    assert {r["mailbox_type"] for r in result["lists"]["resolutions"]} == {"PublicGroup"}
    [alice] = result["full"]["resolutions"]
    assert alice["contact"] == {"display_name": "Alice Archer", "given_name": "Alice", "surname": "Archer",
                                "source": "ActiveDirectory", "emails": [f"SMTP:{ALICE}"]}


def test_no_match_is_error_name_resolution_no_results(directory: Run) -> None:
    # The Managed API turns ErrorNameResolutionNoResults into an empty collection; the wire has the code.
    assert directory.result["none"] == {"resolutions": [], "codes": ["ErrorNameResolutionNoResults"]}
    assert directory.extra["none"] == ErrorNameResolutionNoResults.__name__


def test_room_lists_and_their_rooms(directory: Run) -> None:
    result = directory.result

    assert [r["address"] for r in result["room_lists"]] == directory.extra["room_lists"]
    assert result["rooms"] == {smtp("building-1"): [ROOM_A, ROOM_B],
                               smtp("building-2"): [smtp("room-c"), smtp("room-d")]}


@pytest.fixture(scope="module")
def logons(run_once: RunOnce) -> dict[str, Any]:
    spellings = {"basic": (smtp("alice"), "basic"), "basic-domain": ("EXAMPLE\\alice", "basic"),
                 "ntlm-post": ("EXAMPLE\\alice", "ntlm-post"), "ntlm-post-upn": (smtp("alice"), "ntlm-post"),
                 "ntlm": ("EXAMPLE\\alice", "ntlm")}
    return {name: run_once(f"logon-{name}", "directory.logon", login="alice", username=user, auth=auth).result
            for name, (user, auth) in spellings.items()}


@pytest.mark.parametrize("logon", ["basic", "basic-domain", "ntlm-post", "ntlm-post-upn"])
def test_basic_and_ntlm_logons(logons: dict[str, Any], logon: str) -> None:
    # Basic is the library's own WebCredentials header; "ntlm-post" is NTLM with the handshake on the
    # request itself (tests/ews_js/lib/client.js), as exchangelib's requests_ntlm does it.
    assert logons[logon] == {"ok": True, "addresses": [CAROL]}


def test_ntlm_as_ewsjs_xhr_does_it(logons: dict[str, Any]) -> None:
    # @ewsjs/xhr sends the NTLM NEGOTIATE message with a GET of the EWS URL and expects the 401
    # challenge. A server "MUST respond with a 401" to a request for an access-protected object without
    # acceptable credentials, and answers a NEGOTIATE with its CHALLENGE, GET included ([MS-NTHT],
    # https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-ntht/7daaf621-94d9-4942-a70a-532e81ba293e
    # and the GET example .../4da12358-7cee-4104-b0da-0822d5768798); IIS authenticates before EWS sees
    # the verb.
    assert logons["ntlm"] == {"ok": True, "addresses": [CAROL]}


# Availability from New York ------------------------------------------------------------------

DAY = "2030-01-07"  # a Monday in winter: New York is UTC-5
EVENTS = {"previous evening": datetime(2030, 1, 7, 2), "morning": datetime(2030, 1, 7, 14),
          "evening": datetime(2030, 1, 8, 2)}


def _carols_day(sim: EwsSimulator) -> None:
    for subject, start in EVENTS.items():
        begin = start.replace(tzinfo=UTC)
        sim.backend.mailbox(CAROL).put("calendar", CalendarItem(subject=subject, start=begin,
                                                                end=begin + timedelta(hours=1)))


def _new_york_day_as_exchangelib(sim: EwsSimulator, result: Any) -> dict[str, Any]:
    start = EWSDateTime(2030, 1, 7, tzinfo=NEW_YORK)
    [view] = exchangelib_account(sim, "svc").protocol.get_free_busy_info(
        [(CAROL, "Required", False)], start, start + timedelta(days=1), 60, "DetailedMerged")
    events = view.calendar_events or []
    return {"events": {e.details.subject: e.start.astimezone(EWSTimeZone("UTC")).isoformat() for e in events}}


@pytest.fixture(scope="module")
def new_york(run_once: RunOnce) -> Run:
    return run_once("availability-new-york", "availability.lookup", setup=_carols_day,
                    after=_new_york_day_as_exchangelib, mailboxes=[CAROL], start=f"{DAY}T00:00",
                    end="2030-01-08T00:00", timeZone="Eastern Standard Time", version="Exchange2013")


@pytest.fixture(scope="module")
def utc_day(run_once: RunOnce) -> Run:
    return run_once("availability-utc", "availability.lookup", setup=_carols_day, mailboxes=[CAROL],
                    start=f"{DAY}T00:00", end="2030-01-08T00:00", timeZone="UTC", version="Exchange2013")


def test_a_new_york_client_sends_its_zone_in_the_soap_header(new_york: Run) -> None:
    # The Managed API's way from Exchange 2010 on: TimeZoneContext in the header, the window without
    # an offset, no t:TimeZone in the body.
    assert new_york.result["request"] == {"time_zone_context": True, "body_time_zone": False,
                                          "window": ["2030-01-07T00:00:00", "2030-01-08T00:00:00"]}
    assert [r["code"] for r in new_york.result["responses"]] == ["NoError"]


def test_a_utc_client_gets_the_utc_day(utc_day: Run) -> None:
    [carol] = utc_day.result["responses"]

    assert [(e["subject"], e["start"]) for e in carol["events"]] == [
        ("previous evening", utc("2030-01-07T02:00")), ("morning", utc("2030-01-07T14:00"))]
    assert carol["merged"][2] == carol["merged"][14] == "Busy"


def test_exchangelib_gets_the_new_york_day(new_york: Run) -> None:
    # exchangelib sends the zone as t:TimeZone in the body, which the simulator honours.
    assert new_york.extra["events"] == {"morning": "2030-01-07T14:00:00+00:00",
                                        "evening": "2030-01-08T02:00:00+00:00"}


def test_a_new_york_client_gets_the_new_york_day(new_york: Run) -> None:
    # TimeZoneContext "specifies the time zone definition that is to be used as the default when
    # assigning the time zone for the DateTime properties of objects that are created, updated, and
    # retrieved" (https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/
    # timezonecontext): the window is New York's day, and the times come back in New York's zone.
    [carol] = new_york.result["responses"]

    # (The client reads each time in its own zone; as instants they must be exchangelib's.)
    assert {e["subject"]: e["start"] for e in carol["events"]} == {
        subject: utc(when) for subject, when in new_york.extra["events"].items()}


# The meeting lifecycle with a room ------------------------------------------------------------

LIFECYCLE = {"start": "2030-01-07T14:00:00Z", "end": "2030-01-07T15:00:00Z", "required": ["bob"],
             "optional": ["carol"], "room": ROOM_A, "answers": {"bob": "accept", "carol": "decline"},
             "move_hours": 3, "cancel": "Delete"}


@pytest.fixture(scope="module")
def lifecycle(run_once: RunOnce) -> dict[str, Any]:
    return run_once("lifecycle", "meetings.lifecycle", **LIFECYCLE).result


def test_invitations_reach_every_attendee(lifecycle: dict[str, Any]) -> None:
    assert lifecycle["create"] == {"ok": True}
    assert classes(lifecycle["organiser_sent_items"]) == [("IPM.Schedule.Meeting.Request", "Planning")]
    for who in ("bob", "carol"):
        attendee = lifecycle["attendees"][who]
        assert classes(attendee["inbox"]) == [("IPM.Schedule.Meeting.Request", "Planning")]
        request = attendee["request"]
        assert (request["subject"], request["organizer"]) == ("Planning", ALICE)
        assert (request["start"], request["end"]) == (utc("2030-01-07T14:00"), utc("2030-01-07T15:00"))
        assert [a["address"] for a in request["required"]] == [BOB]
        assert [a["address"] for a in request["resources"]] == [ROOM_A]
        assert (request["is_meeting"], request["is_cancelled"], request["response_type"]) == (
            True, False, "NoResponseReceived")


def test_a_meeting_request_read_with_all_properties_has_them(lifecycle: dict[str, Any]) -> None:
    # types.xsd defines them for MeetingMessageType (IsDelegated, IsOutOfDate, HasBeenProcessed) and
    # MeetingRequestMessageType (CalendarItemType, MyResponseType, AppointmentState); Exchange returns
    # them with AllProperties (https://learn.microsoft.com/en-us/exchange/client-developer/
    # web-service-reference/meetingrequest, .../isoutofdate, .../hasbeenprocessed, .../appointmentstate).
    request = lifecycle["attendees"]["bob"]["request"]

    assert (request["my_response"], request["calendar_item_type"]) == ("NoResponseReceived", "Single")
    assert (request["is_out_of_date"], request["is_delegated"]) == (False, False)
    assert request["has_been_processed"] is not None and request["appointment_state"] is not None


def test_answers_reach_the_organiser(lifecycle: dict[str, Any]) -> None:
    organiser = lifecycle["organiser_read"]
    bob, carol = lifecycle["attendees"]["bob"], lifecycle["attendees"]["carol"]

    assert [(a["address"], a["response"]) for a in organiser["required"]] == [(BOB, "Accept")]
    assert [(a["address"], a["response"]) for a in organiser["optional"]] == [(CAROL, "Decline")]
    assert all(a["answered"] for a in organiser["required"] + organiser["optional"])
    # (The room's own answer may join them: see test_a_room_accepts_when_free_and_declines_a_conflict.)
    answers = classes(lifecycle["organiser_inbox"])
    assert ("IPM.Schedule.Meeting.Resp.Pos", "Accepted: Planning") in answers
    assert ("IPM.Schedule.Meeting.Resp.Neg", "Declined: Planning") in answers
    assert (bob["answer"]["codes"], carol["answer"]["codes"]) == (["NoError"], ["NoError"])
    assert (bob["calendar_copy"]["my_response"], bob["calendar_copy"]["free_busy"]) == ("Accept", "Busy")
    assert carol["calendar_copy"] is None  # declined: no longer in her calendar
    assert bob["inbox_after"] == carol["inbox_after"] == []


def test_calendar_items_carry_their_start_and_end_time_zones(lifecycle: dict[str, Any]) -> None:
    # StartTimeZone "defines the time zone for the start time of a CalendarItem or MeetingRequest"
    # (https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/starttimezone,
    # and .../endtimezone); Exchange 2010 and later return both with AllProperties.
    for view in (lifecycle["organiser_read"], lifecycle["attendees"]["bob"]["calendar_copy"]):
        assert view["start_time_zone"] is not None and view["end_time_zone"] is not None


def test_read_then_move_updates_every_copy(lifecycle: dict[str, Any]) -> None:
    moved = (utc("2030-01-07T17:00"), utc("2030-01-07T18:00"))

    assert lifecycle["move"] == {"ok": True} and "move_unread" not in lifecycle
    assert (lifecycle["organiser_reread"]["start"], lifecycle["organiser_reread"]["end"]) == moved
    bob = lifecycle["after_move"]["bob"]
    assert classes(bob["inbox"]) == [("IPM.Schedule.Meeting.Request", "Planning")]
    assert (bob["calendar_copy"]["start"], bob["calendar_copy"]["end"]) == moved
    # An update of the time asks everyone again.
    assert bob["calendar_copy"]["my_response"] == "NoResponseReceived"
    assert [a["response"] for a in lifecycle["organiser_reread"]["required"]] == ["Unknown"]


def test_cancelling_tells_the_attendees(lifecycle: dict[str, Any]) -> None:
    bob = lifecycle["after_cancel"]["bob"]

    assert lifecycle["cancel"] == {"ok": True}
    assert bob["cancellation"] == {"subject": "Canceled: Planning", "class": "IPM.Schedule.Meeting.Canceled"}
    assert (bob["calendar_copy"]["is_cancelled"], bob["calendar_copy"]["free_busy"]) == (True, "Free")
    assert lifecycle["organiser_calendar_after_cancel"] == []
    sent = classes(lifecycle["organiser_sent_after_cancel"])
    assert ("IPM.Schedule.Meeting.Canceled", "Canceled: Planning") in sent


def test_cancel_meeting_sends_a_cancellation(run_once: RunOnce) -> None:
    # Appointment.CancelMeeting is CreateItem with a CancelCalendarItem response object, "used to cancel
    # a meeting" (https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/
    # cancelcalendaritem).
    result = run_once("cancel-meeting", "meetings.lifecycle", start=LIFECYCLE["start"], end=LIFECYCLE["end"],
                      required=["bob"], answers={"bob": "tentative"}, cancel="CancelMeeting").result

    assert result["cancel"] == {"ok": True}
    assert result["after_cancel"]["bob"]["cancellation"] is not None


# Responses ------------------------------------------------------------------------------------


def _responses_as_exchangelib(sim: EwsSimulator, result: Any) -> dict[str, Any]:
    [meeting] = exchangelib_account(sim, "alice").calendar.all()
    return {"responses": [(a.mailbox.email_address, a.response_type) for a in meeting.required_attendees]}


@pytest.fixture(scope="module")
def responses(run_once: RunOnce) -> Run:
    return run_once("responses", "meetings.lifecycle", after=_responses_as_exchangelib,
                    start=LIFECYCLE["start"], end=LIFECYCLE["end"], required=["bob", "carol", "svc"],
                    answers={"bob": "tentative", "carol": "accept_calendar", "svc": "decline"})


def test_each_kind_of_answer_reaches_the_organiser(responses: Run) -> None:
    result = responses.result
    expected = [(BOB, "Tentative"), (CAROL, "Accept"), (SVC, "Decline")]

    assert [(a["address"], a["response"]) for a in result["organiser_read"]["required"]] == expected
    assert responses.extra["responses"] == expected  # exchangelib reads the same answers
    assert sorted(m["subject"] for m in result["organiser_inbox"]) == [
        "Accepted: Planning", "Declined: Planning", "Tentative: Planning"]
    copies = {who: entry["calendar_copy"] for who, entry in result["attendees"].items()}
    assert (copies["bob"]["my_response"], copies["bob"]["free_busy"]) == ("Tentative", "Tentative")
    assert (copies["carol"]["my_response"], copies["carol"]["free_busy"]) == ("Accept", "Busy")
    assert copies["svc"] is None


def test_answers_sent_and_saved_are_in_sent_items(responses: Run) -> None:
    # The Managed API sends answers (Accept(true) and the others) with MessageDisposition SendAndSaveCopy:
    # sent, and a copy saved in the SavedItemFolderId folder, Sent Items when none is given (CreateItem,
    # https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/createitem, and
    # MessageDispositionType, https://learn.microsoft.com/en-us/openspecs/exchange_server_protocols/
    # ms-oxwsmsg/1b9b5e71-7c22-49cd-8e68-cdf99286fd0e).
    attendees = responses.result["attendees"]
    sent = {who: [m["subject"] for m in entry["sent_items"]] for who, entry in attendees.items()}

    assert sent == {"bob": ["Tentative: Planning"], "carol": ["Accepted: Planning"],
                    "svc": ["Declined: Planning"]}


# Rooms ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rooms(run_once: RunOnce) -> dict[str, Any]:
    return run_once("rooms", "meetings.rooms", room=ROOM_B,
                    first={"start": "2030-01-15T09:00:00Z", "end": "2030-01-15T10:00:00Z"},
                    second={"start": "2030-01-15T09:30:00Z", "end": "2030-01-15T10:30:00Z"}).result


def test_both_bookings_invite_the_room(rooms: dict[str, Any]) -> None:
    assert [r["address"] for r in rooms["alice"]["resources"]] == [ROOM_B]
    assert [r["address"] for r in rooms["bob"]["resources"]] == [ROOM_B]
    assert len(rooms["room_free_busy"]) >= 1


def test_a_room_accepts_when_free_and_declines_a_conflict(rooms: dict[str, Any]) -> None:
    # Resource mailboxes process their meeting requests (AutomateProcessing AutoAccept, the default for
    # them: https://learn.microsoft.com/en-us/powershell/module/exchange/set-calendarprocessing): the
    # Resource Booking Attendant accepts a request when the room is free and declines a conflict, and
    # an accepted meeting is Busy in the room's free/busy.
    assert [r["response"] for r in rooms["alice"]["resources"]] == ["Accept"]
    assert [r["response"] for r in rooms["bob"]["resources"]] == ["Decline"]
    assert [e for e in rooms["room_free_busy"] if e["status"] != "Free"] == [
        {"start": utc("2030-01-15T09:00"), "end": utc("2030-01-15T10:00"), "status": "Busy"}]


# Delegate access: a shared calendar -----------------------------------------------------------


def _free_busy_view_as_exchangelib(sim: EwsSimulator, result: Any) -> dict[str, Any]:
    calendar = exchangelib_account(sim, "svc", mailbox="bob").calendar
    start = EWSDateTime(2030, 1, 8, tzinfo=EWSTimeZone("UTC"))
    seen = calendar.view(start=start, end=start + timedelta(days=1)).only("subject", "start", "end")
    return {"bob": [(i.subject, i.start.isoformat()) for i in seen]}


@pytest.fixture(scope="module")
def shared(run_once: RunOnce) -> Run:
    return run_once("shared-calendar", "delegation.shared", after=_free_busy_view_as_exchangelib,
                    day="2030-01-08")


def test_a_delegate_reads_and_writes_the_owners_calendar(shared: Run) -> None:
    result = shared.result

    assert result["views"]["alice"]["items"][0]["subject"] == "alice's plans"
    assert result["create"]["alice"] == {"ok": True}
    assert result["on_behalf"] == {"ok": True}
    assert (result["request"]["organizer"], result["alice_copy"]["organizer"]) == (ALICE, ALICE)
    assert result["alice_copy"]["my_response"] == "Organizer"


def test_each_permission_level_sees_what_it_grants(shared: Run) -> None:
    views, create = shared.result["views"], shared.result["create"]

    # Reviewer on carol's calendar: the items; FreeBusyTimeOnly on bob's: times without subjects.
    assert [i["subject"] for i in views["carol"]["items"]] == ["carol's plans"]
    assert [(i["subject"], i["start"]) for i in views["bob"]["items"]] == [(None, utc("2030-01-08T09:00"))]
    # exchangelib's view of bob's calendar after the scenario (with the meeting svc invited him to).
    assert shared.extra["bob"] == [(None, "2030-01-08T09:00:00+00:00"), (None, "2030-01-08T15:00:00+00:00")]
    assert create["carol"]["code"] == create["bob"]["code"] == "ErrorAccessDenied"


def test_the_default_permission_shows_free_busy_times(shared: Run) -> None:
    # Exchange gives the Default user AvailabilityOnly on every calendar out of the box: EWS shows it as
    # FreeBusyTimeOnly, "the user can view only free/busy time within the calendar"
    # (https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/
    # calendarpermissionlevel; the access right: https://learn.microsoft.com/en-us/powershell/module/
    # exchange/set-mailboxfolderpermission). Microsoft's reference does not state the default in one
    # sentence; https://office365itpros.com/2021/09/21/exchange-view-calendar-information/ does.
    # alice holds no grant on carol's calendar, so the Default entry decides what she sees.
    assert shared.result["default_view"] == {
        "items": [{"subject": None, "start": utc("2030-01-08T09:00"), "end": utc("2030-01-08T10:00")}]}


def test_a_delegates_meeting_request_is_from_the_owner_and_sent_by_the_delegate(shared: Run) -> None:
    # A delegate sends on behalf of the owner: From is the owner, Sender the delegate who sent it
    # (https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/sender and
    # .../from; https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/
    # how-to-access-a-calendar-as-a-delegate-by-using-ews-in-exchange).
    request = shared.result["request"]

    assert (request["from"], request["sender"]) == (ALICE, SVC)


def test_last_modified_name_is_a_display_name(shared: Run) -> None:
    # LastModifiedName is the display name of the last user to modify the item, svc here
    # (https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/lastmodifiedname).
    assert shared.result["alice_copy"]["last_modified_name"] == "Booking Service"


def test_display_to_names_the_organisers_attendees(shared: Run) -> None:
    # DisplayTo is "the concatenated string of all To recipient display names"; required attendees are
    # a meeting's To (https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/
    # displayto).
    assert shared.result["alice_copy"]["display_to"] == "Bob Baker"


# Impersonation --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def impersonating(run_once: RunOnce) -> Run:
    return run_once("impersonation", "delegation.impersonation", caller="svc-imp", target="bob")


def test_impersonation_acts_as_the_user(impersonating: Run) -> None:
    result = impersonating.result

    assert result["header"] == ("<t:ExchangeImpersonation><t:ConnectingSID><t:SmtpAddress>"
                                f"{BOB}</t:SmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>")
    assert result["create"] == {"ok": True}
    assert [i["subject"] for i in result["view"]["items"]] == ["Booked as the user"]
    assert result["read"]["organizer"] == BOB
    assert impersonating.operations(smtp("svc-imp")) == [
        ("CreateItem", "NoError", BOB), ("FindItem", "NoError", BOB), ("GetItem", "NoError", BOB)]


def test_impersonation_needs_the_right(run_once: RunOnce) -> None:
    result = run_once("impersonation-denied", "delegation.impersonation", caller="svc", target="bob").result

    assert result["create"]["code"] == result["view"]["error"]["code"] == "ErrorImpersonateUserDenied"


# Notifications --------------------------------------------------------------------------------


def test_pull_notifications(run_once: RunOnce) -> None:
    result = run_once("pull", "notifications.pull").result

    assert [(e["type"], e["item_id"]) for e in result["first"]] == [("Created", i) for i in result["booked"]]
    assert result["second"] == []
    assert result["unsubscribe"] == {"ok": True}
    assert result["after_unsubscribe"]["code"] == "ErrorSubscriptionNotFound"


@pytest.fixture(scope="module")
def streaming(run_once: RunOnce) -> dict[str, Any]:
    return run_once("streaming", "notifications.streaming", lifetime=1, timeout=30).result


def test_streaming_sends_the_event_on_the_connection(streaming: dict[str, Any]) -> None:
    assert streaming["connections"] == 1
    assert streaming["booked"][0] in streaming["streamed_ids"]
    assert streaming["errors"] == []


def test_a_streaming_connection_delivers_events_until_its_timeout(streaming: dict[str, Any]) -> None:
    # ConnectionTimeout is "the maximum number of minutes to keep a streaming connection open"
    # (https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/connectiontimeout);
    # Exchange writes each notification as its own envelope on the open connection, in the default
    # namespace (https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/
    # how-to-stream-notifications-about-mailbox-events-by-using-ews-in-exchange), which is where the
    # Managed API's parser looks for it.
    assert streaming["created_ids"] == streaming["booked"]
    assert streaming["envelopes"] >= 2 and streaming["stream_start"].startswith(
        '<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"')
    # Still open when the client closes it (its own Close() reports a disconnect, after these).
    assert streaming["disconnects_before_close"] == [] and streaming["open_at_end"] is True


# Extended properties and item ids -------------------------------------------------------------

KEYS = {"alpha": "acme-1", "beta": "acme-2", "gamma": None}


def _booking_keys_as_exchangelib(sim: EwsSimulator, result: Any) -> dict[str, Any]:
    register_booking_key()
    calendar = exchangelib_account(sim, "alice").calendar
    return {"equal": sorted(i.subject for i in calendar.filter(booking_key="acme-1")),
            "exists": sorted(i.subject for i in calendar.filter(booking_key__exists=True))}


@pytest.fixture(scope="module")
def filters(run_once: RunOnce) -> Run:
    return run_once("filters", "properties.filters", after=_booking_keys_as_exchangelib, keys=KEYS)


def test_find_item_with_extended_property_restrictions(filters: Run) -> None:
    result = filters.result

    assert result["restriction"] == (
        '<m:Restriction><t:IsEqualTo><t:ExtendedFieldURI DistinguishedPropertySetId="PublicStrings" '
        'PropertyName="BookingKey" PropertyType="String"></t:ExtendedFieldURI><t:FieldURIOrConstant>'
        '<t:Constant Value="acme-1"></t:Constant></t:FieldURIOrConstant></t:IsEqualTo></m:Restriction>')
    assert result["equal"] == [{"subject": "alpha", "key": "acme-1"}]
    assert [i["subject"] for i in result["exists"]] == ["alpha", "beta"]
    assert result["missing"] == [{"subject": "gamma", "key": None}]
    assert [i["subject"] for i in result["starts_with"]] == ["alpha", "beta"]
    assert [i["subject"] for i in result["and_subject"]] == ["alpha"]
    assert filters.extra == {"equal": ["alpha"], "exists": ["alpha", "beta"]}


@pytest.fixture(scope="module")
def bad_ids(run_once: RunOnce) -> dict[str, Any]:
    return run_once("bad-ids", "properties.badIds", malformed="not-an-id").result


def test_the_id_of_a_deleted_item_is_not_found(bad_ids: dict[str, Any]) -> None:
    assert bad_ids["deleted"]["code"] == "ErrorItemNotFound"


def test_a_malformed_id_is_error_invalid_id_malformed(bad_ids: dict[str, Any]) -> None:
    # An id that is not one is ErrorInvalidIdMalformed, one that names no item ErrorItemNotFound
    # (ResponseCode, https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/
    # responsecode).
    assert bad_ids["malformed"]["code"] == "ErrorInvalidIdMalformed"


# Autodiscover ---------------------------------------------------------------------------------


def test_autodiscover_gives_the_ews_url(run_once: RunOnce, js_simulator: EwsSimulator) -> None:
    result = run_once("autodiscover", "autodiscover.settings", mailboxes=[ALICE, smtp("nobody")]).result
    alice = result["answers"][ALICE]

    assert alice["code"] == "NoError"
    assert alice["settings"]["ExternalEwsUrl"] == alice["settings"]["InternalEwsUrl"] == js_simulator.ews_url
    assert (alice["settings"]["UserDisplayName"], alice["settings"]["AutoDiscoverSMTPAddress"]) == (
        "Alice Archer", ALICE)
    assert "Exchange2013" in alice["settings"]["EwsSupportedSchemas"]
    assert result["answers"][smtp("nobody")]["code"] == "InvalidUser"
    assert result["ews_check"] == {"ok": True, "count": 1}  # the discovered URL serves EWS


# Versions -------------------------------------------------------------------------------------

VERSIONS = ["Exchange2007_SP1", "Exchange2010_SP2", "Exchange2013", "Exchange2016"]


@pytest.fixture(scope="module")
def versions(run_once: RunOnce) -> dict[str, Any]:
    return run_once("versions", "versions.matrix", versions=VERSIONS).result


def test_each_version_is_requested_and_served(versions: dict[str, Any]) -> None:
    for version in VERSIONS:
        entry = versions[version]
        assert (entry["header"], entry["resolve"], entry["create"]) == (version, 1, {"ok": True}), version
        assert entry["read"] == {"subject": f"At {version}", "organizer": ALICE}
        assert entry["server"]["major"] == 15


def test_elements_newer_than_the_requested_version_are_left_out(versions: dict[str, Any]) -> None:
    # IsOrganizer was introduced in Exchange 2013
    # (https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/isorganizer).
    assert {v: "IsOrganizer" in versions[v]["elements"] for v in VERSIONS} == {
        "Exchange2007_SP1": False, "Exchange2010_SP2": False, "Exchange2013": True, "Exchange2016": True}


def test_operations_newer_than_the_version_are_refused_by_the_client(versions: dict[str, Any]) -> None:
    # GetRoomLists is Exchange 2010 and later: the Managed API refuses it before sending at 2007 SP1.
    assert versions["Exchange2007_SP1"]["room_lists"]["type"] == "ServiceVersionException"
    assert {versions[v]["room_lists"] for v in VERSIONS[1:]} == {2}


def test_each_version_gets_its_time_zone_elements(versions: dict[str, Any]) -> None:
    # Exchange 2007 SP1 answers MeetingTimeZone (https://learn.microsoft.com/en-us/exchange/
    # client-developer/web-service-reference/meetingtimezone), 2010 and later StartTimeZone and
    # EndTimeZone (.../starttimezone, .../endtimezone).
    assert "MeetingTimeZone" in versions["Exchange2007_SP1"]["elements"]
    for version in VERSIONS[1:]:
        assert {"StartTimeZone", "EndTimeZone"} <= set(versions[version]["elements"]), version


def test_an_exchange_2010_server_refuses_a_2013_request(run_once: RunOnce) -> None:
    def exchange_2010(sim: EwsSimulator) -> None:
        sim.present("Exchange 2010 SP2")

    result = run_once("versions-2010-server", "versions.matrix", setup=exchange_2010,
                      versions=["Exchange2013", "Exchange2010_SP2"]).result

    assert result["Exchange2013"]["resolve"]["code"] == "ErrorInvalidServerVersion"
    assert result["Exchange2010_SP2"]["resolve"] == 1
    assert result["Exchange2010_SP2"]["server"]["major"] == 14
