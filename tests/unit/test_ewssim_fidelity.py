"""Issue 12's fixes in the simulator's models, called directly (no HTTP, no XML): where it behaved
differently from Exchange, what Exchange does, with Microsoft's documentation cited per test."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from infra.ewssim.errors import EwsError
from infra.ewssim.models import access, calendar
from infra.ewssim.models.backend import EwsBackend
from infra.ewssim.models.items import Attendee, CalendarItem, MessageItem, is_well_formed_id, new_item_id
from infra.ewssim.models.permissions import PermissionLevel
from infra.ewssim.namespaces import Element, local_name, m, new, t
from infra.ewssim.responses.item_fields import RenderContext
from infra.ewssim.responses.item_values import parse_datetime
from infra.ewssim.responses.item_xml import Shape, render_item
from infra.ewssim.soap import parse_request
from infra.ewssim.versions import omitted_fields
from tests.seed import smtp, standard_org


@pytest.fixture
def backend() -> EwsBackend:
    backend = EwsBackend()
    backend.seed(standard_org())
    return backend


def test_a_malformed_id_is_not_an_unknown_one(backend: EwsBackend) -> None:
    # ErrorInvalidIdMalformed: the id cannot be decoded; ErrorItemNotFound: it decodes and names no
    # item (ResponseCode, https://learn.microsoft.com/en-us/exchange/client-developer/
    # web-service-reference/responsecode).
    assert is_well_formed_id(new_item_id())
    assert not any(map(is_well_formed_id, ["not-an-id", "", "AAMk1", "QUJD"]))

    with pytest.raises(EwsError) as raised:
        backend.locate_item("not-an-id")
    assert raised.value.code == "ErrorInvalidIdMalformed"
    assert backend.locate_item(new_item_id()) is None


def test_the_calendars_default_entry_is_free_busy_time_only(backend: EwsBackend) -> None:
    # The Default user holds AvailabilityOnly (EWS: FreeBusyTimeOnly) on every calendar out of the box
    # (CalendarPermissionLevel, https://learn.microsoft.com/en-us/exchange/client-developer/
    # web-service-reference/calendarpermissionlevel); the other folders stay private.
    alice = backend.directory.get(smtp("alice"))
    free_busy = PermissionLevel.FREE_BUSY_TIME_ONLY

    assert access.folder_access(backend, alice, smtp("carol"), "calendar") is free_busy
    assert access.folder_access(backend, alice, smtp("carol"), "inbox") is PermissionLevel.NONE
    with pytest.raises(EwsError):
        access.require_read(backend, alice, smtp("carol"), "calendar")
    # Free/busy times show no folders: the mailbox's root stays closed to her.
    with pytest.raises(EwsError):
        access.require_visible(backend, alice, smtp("carol"), "msgfolderroot")
    backend.grant_folder_permission(smtp("carol"), "default", PermissionLevel.NONE)
    assert access.folder_access(backend, alice, smtp("carol"), "calendar") is PermissionLevel.NONE


def _meeting(*attendees: str) -> CalendarItem:
    return CalendarItem(subject="Sync", start=datetime(2030, 1, 1, 9, tzinfo=UTC),
                        end=datetime(2030, 1, 1, 10, tzinfo=UTC),
                        required_attendees=[Attendee(smtp(a)) for a in attendees])  # fmt: skip


def _requests(backend: EwsBackend, who: str, uid: str) -> list[MessageItem]:
    return [m for m in backend.mailbox(smtp(who)).meeting_messages(uid) if m.is_meeting_request]


def test_meeting_requests_are_processed_superseded_and_answered(backend: EwsBackend) -> None:
    # IsOutOfDate: "a more recent version is received and processed" ([MS-OXOCAL] 3.1.5.2,
    # https://learn.microsoft.com/en-us/openspecs/exchange_server_protocols/ms-oxocal/
    # 8e26c2ea-b721-4d0b-bb85-10dc4f1c1257); HasBeenProcessed, MyResponseType and AppointmentState
    # (Meeting 1, Received 2, Canceled 4): https://learn.microsoft.com/en-us/exchange/client-developer/
    # web-service-reference/meetingrequest and .../appointmentstate.
    item = calendar.create_calendar_item(backend, smtp("alice"), _meeting("bob"), "SendToAllAndSaveCopy")
    [first] = _requests(backend, "bob", item.uid)
    assert (first.has_been_processed, first.is_out_of_date, first.my_response_type) == (
        True, False, "NoResponseReceived")
    assert first.appointment_state == 3 and item.appointment_state == 1
    [sent] = _requests(backend, "alice", item.uid)
    assert (sent.has_been_processed, sent.appointment_state) == (False, 1)  # the organiser's copy

    before = calendar.MeetingSnapshot.of(item)
    item.start = datetime(2030, 1, 1, 11, tzinfo=UTC)
    item.end = datetime(2030, 1, 1, 12, tzinfo=UTC)
    calendar.item_updated(backend, item, before, "SendToAllAndSaveCopy")
    older, newer = _requests(backend, "bob", item.uid)
    assert (older.is_out_of_date, newer.is_out_of_date) == (True, False)

    bobs = backend.mailbox(smtp("bob"))
    copy = calendar.respond(backend, bobs, newer, "Tentative")
    assert [r.my_response_type for r in _requests(backend, "bob", item.uid)] == ["Tentative", "Tentative"]
    calendar.delete_item(backend, backend.mailbox(smtp("alice")), item, "HardDelete", "SendToAllAndSaveCopy")
    assert copy.appointment_state == 1 | 2 | 4
    assert all(r.is_out_of_date for r in _requests(backend, "bob", item.uid))


def _rendered(item: CalendarItem, version: str) -> Element:
    """The item as an AllProperties answer at this RequestServerVersion renders it."""
    parent = new(m("Items"))
    context = RenderContext((True,) * 6, True, str, omitted_fields(version))
    render_item(parent, item, Shape("AllProperties"), context)
    return parent[0]


def test_an_items_time_zones_follow_the_requested_version() -> None:
    # MeetingTimeZone (TimeZoneType) below Exchange 2010, StartTimeZone and EndTimeZone (full
    # TimeZoneDefinitionType) from it on: https://learn.microsoft.com/en-us/exchange/client-developer/
    # web-service-reference/meetingtimezone, .../starttimezone, .../endtimezone.
    item = _meeting()
    item.time_zone, item.end_time_zone = "Pacific Standard Time", "Eastern Standard Time"

    old = _rendered(item, "Exchange2007_SP1")
    zone = old.find(t("MeetingTimeZone"))
    assert zone is not None and old.find(t("StartTimeZone")) is None
    assert (zone.get("TimeZoneName"), zone.findtext(t("BaseOffset"))) == ("Pacific Standard Time", "PT8H")
    assert zone.findtext(f"{t('Daylight')}/{t('Offset')}") == "-PT1H"
    assert zone.findtext(f"{t('Daylight')}/{t('RelativeYearlyRecurrence')}/{t('Month')}") == "March"

    current = _rendered(item, "Exchange2013")
    start, end = current.find(t("StartTimeZone")), current.find(t("EndTimeZone"))
    assert current.find(t("MeetingTimeZone")) is None and start is not None and end is not None
    assert (start.get("Id"), [p.get("Bias") for p in start.iter(t("Period"))]) == (
        "Pacific Standard Time", ["PT8H", "PT7H"])
    assert end.get("Id") == "Eastern Standard Time" and end.find(t("Transitions")) is not None
    names = [local_name(child) for child in current]
    assert names.index("AppointmentState") < names.index("StartTimeZone") < names.index("IsOrganizer")


def test_an_answer_sent_and_saved_is_kept_where_asked(backend: EwsBackend) -> None:
    # SendAndSaveCopy saves the sent response in SavedItemFolderId, else Sent Items (CreateItem,
    # https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/createitem).
    item = calendar.create_calendar_item(backend, smtp("alice"), _meeting("bob", "carol"), "SendOnlyToAll")
    bobs, carols = backend.mailbox(smtp("bob")), backend.mailbox(smtp("carol"))
    kept = backend.create_folder(smtp("carol"), "Answers")

    calendar.respond(backend, bobs, _requests(backend, "bob", item.uid)[0], "Accept", save_copy=True)
    calendar.respond(backend, carols, _requests(backend, "carol", item.uid)[0], "Decline", save_copy=True,
                     saved_in=kept.folder_id)  # fmt: skip

    [sent] = bobs.folder("sentitems").items.values()
    assert isinstance(sent, MessageItem)
    assert (sent.item_class, sent.subject, sent.to_recipients) == (
        "IPM.Schedule.Meeting.Resp.Pos", "Accepted: Sync", [smtp("alice")])
    assert [m.subject for m in kept.items.values()] == ["Declined: Sync"]
    assert list(carols.folder("sentitems").items.values()) == []


def test_cancel_meeting_is_the_organisers_and_tells_every_attendee(backend: EwsBackend) -> None:
    # CancelCalendarItem cancels a meeting (https://learn.microsoft.com/en-us/exchange/client-developer/
    # web-service-reference/cancelcalendaritem); only its organiser can (ErrorCalendarIsNotOrganizer).
    item = calendar.create_calendar_item(backend, smtp("alice"), _meeting("bob"), "SendToAllAndSaveCopy")
    alices, bobs = backend.mailbox(smtp("alice")), backend.mailbox(smtp("bob"))
    copy = bobs.find_by_uid(item.uid)
    assert copy is not None
    with pytest.raises(EwsError) as not_organizer:
        calendar.cancel_meeting(backend, bobs, copy, save_copy=True)
    assert not_organizer.value.code == "ErrorCalendarIsNotOrganizer"

    kept = calendar.cancel_meeting(backend, alices, item, save_copy=True, body="Sorry.")

    assert kept is not None and kept.folder_id == alices.folder("sentitems").folder_id
    assert item.folder_id == alices.folder("deleteditems").folder_id
    cancellations = [m for m in bobs.meeting_messages(item.uid) if m.item_class.endswith("Canceled")]
    assert [(m.subject, m.body) for m in cancellations] == [("Canceled: Sync", "Sorry.")]
    assert isinstance(copy, CalendarItem) and copy.is_cancelled


def test_a_delegate_sends_on_the_owners_behalf(backend: EwsBackend) -> None:
    # From is the owner, Sender the delegate who sent it (https://learn.microsoft.com/en-us/exchange/
    # client-developer/web-service-reference/sender and .../from).
    by_svc = calendar.create_calendar_item(backend, smtp("alice"), _meeting("bob"), "SendOnlyToAll",
                                           by=smtp("svc"))  # fmt: skip
    by_alice = calendar.create_calendar_item(backend, smtp("alice"), _meeting("bob"), "SendOnlyToAll",
                                             by=smtp("alice"))  # fmt: skip

    [for_svc], [for_alice] = _requests(backend, "bob", by_svc.uid), _requests(backend, "bob", by_alice.uid)
    assert (for_svc.sender, for_svc.sent_by) == (smtp("alice"), smtp("svc"))
    assert (for_alice.sender, for_alice.sent_by) == (smtp("alice"), "")
    calendar.delete_item(backend, backend.mailbox(smtp("alice")), by_svc, "HardDelete", "SendOnlyToAll",
                         by=smtp("svc"))  # fmt: skip
    [cancellation] = [m for m in backend.mailbox(smtp("bob")).meeting_messages(by_svc.uid)
                      if m.item_class.endswith("Canceled")]  # fmt: skip
    assert cancellation.sent_by == smtp("svc")


def _room_meeting(room: str, start_hour: int, end_hour: int) -> CalendarItem:
    return CalendarItem(subject="Booked", start=datetime(2030, 1, 15, start_hour, tzinfo=UTC),
                        end=datetime(2030, 1, 15, end_hour, tzinfo=UTC),
                        resources=[Attendee(smtp(room), kind="resource")])  # fmt: skip


def test_a_room_accepts_when_free_and_declines_a_conflict(backend: EwsBackend) -> None:
    # Resource mailboxes default to AutomateProcessing AutoAccept: the Resource Booking Attendant accepts
    # a request when the resource is free and declines a conflict (AllowConflicts off by default);
    # AutoUpdate leaves the answer to a person, None processes nothing
    # (https://learn.microsoft.com/en-us/powershell/module/exchange/set-calendarprocessing).
    backend.seed({"rooms": [{"smtp": smtp("room-x"), "name": "Room X", "automate_processing": "AutoUpdate"},
                            {"smtp": smtp("room-y"), "name": "Room Y", "automate_processing": "None"}]})

    def book(who: str, room: str, start: int, end: int) -> CalendarItem:
        item = _room_meeting(room, start, end)
        return calendar.create_calendar_item(backend, smtp(who), item, "SendOnlyToAll")

    first, second = book("alice", "room-a", 9, 10), book("bob", "room-a", 9, 11)
    later = book("bob", "room-a", 10, 11)

    assert [m.resources[0].response for m in (first, second, later)] == ["Accept", "Decline", "Accept"]
    room = backend.mailbox(smtp("room-a"))
    assert sorted((i.start.hour, i.legacy_free_busy_status) for i in room.folder("calendar").items.values()
                  if isinstance(i, CalendarItem) and i.start) == [(9, "Busy"), (10, "Busy")]  # fmt: skip
    assert [m.subject for m in inbox(backend, "bob")] == ["Declined: Booked", "Accepted: Booked"]

    person_like, unprocessed = book("alice", "room-x", 9, 10), book("alice", "room-y", 9, 10)
    assert [m.resources[0].response for m in (person_like, unprocessed)] == ["Unknown", "Unknown"]
    copy = backend.mailbox(smtp("room-x")).find_by_uid(person_like.uid)
    assert isinstance(copy, CalendarItem) and copy.legacy_free_busy_status == "Tentative"
    assert backend.mailbox(smtp("room-y")).find_by_uid(unprocessed.uid) is None
    assert [m.subject for m in inbox(backend, "room-y")] == ["Booked"]


def inbox(backend: EwsBackend, who: str) -> list[MessageItem]:
    items = backend.mailbox(smtp(who)).folder("inbox").items.values()
    return [i for i in items if isinstance(i, MessageItem)]


def test_the_soap_headers_time_zone_context_is_read_and_windows_zones_are_known() -> None:
    # TimeZoneContext carries a TimeZoneDefinition whose Id is a Windows zone
    # (https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/timezonecontext);
    # times without an offset in such a zone are local to it.
    request = parse_request(
        b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
        b'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types" '
        b'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"><s:Header>'
        b'<t:TimeZoneContext><t:TimeZoneDefinition Id="Eastern Standard Time"/></t:TimeZoneContext>'
        b"</s:Header><s:Body><m:GetFolder/></s:Body></s:Envelope>")  # fmt: skip

    assert request.time_zone_context == "Eastern Standard Time"
    new_york = "Eastern Standard Time"
    assert parse_datetime("2030-01-07T09:00:00", new_york) == datetime(2030, 1, 7, 14, tzinfo=UTC)
    assert parse_datetime("2030-07-07T09:00:00", new_york) == datetime(2030, 7, 7, 13, tzinfo=UTC)
    assert parse_datetime("2030-01-07T09:00:00", "Nowhere Time") == datetime(2030, 1, 7, 9, tzinfo=UTC)
