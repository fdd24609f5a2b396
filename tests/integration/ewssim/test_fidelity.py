"""Issue 12's fixes as exchangelib sees them over HTTP: where the simulator behaved differently from
Exchange, what Exchange does, with Microsoft's documentation cited per test. (The same points,
seen by a second client, are in tests/integration/ews_js/.)"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests
import spnego
from exchangelib import Account, CalendarItem, EWSDateTime, EWSTimeZone
from exchangelib.errors import ErrorAccessDenied, ErrorInvalidIdMalformed, ErrorItemNotFound
from exchangelib.folders import Calendar, Root
from exchangelib.items import MeetingCancellation
from lxml import etree

from infra.ewssim.models.items import CalendarItem as SimCalendarItem
from infra.ewssim.namespaces import MESSAGES_NS as MESSAGES
from infra.ewssim.namespaces import SOAP_NS as SOAP
from infra.ewssim.namespaces import TYPES_NS as TYPES
from infra.ewssim.server import EwsSimulator
from tests.conftest import AccountFactory
from tests.integration.ewssim.calendar_support import at
from tests.seed import PASSWORDS, smtp


@pytest.fixture(autouse=True)
def valid_responses(sim: EwsSimulator) -> Iterator[None]:
    """Every response of these tests must satisfy messages.xsd when the schema check is on."""
    sim.take_schema_violations()
    yield
    assert sim.take_schema_violations() == []


def test_get_item_tells_a_malformed_id_from_a_deleted_one(account: AccountFactory) -> None:
    # ErrorInvalidIdMalformed for an id that is not one, ErrorItemNotFound for one that names nothing
    # (ResponseCode, https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/
    # responsecode).
    alice = account("alice")
    gone = CalendarItem(account=alice, folder=alice.calendar, subject="Gone", start=at(1, 9), end=at(1, 10))
    gone.save(send_meeting_invitations="SendToNone")
    gone_id = gone.id
    gone.delete()

    with pytest.raises(ErrorInvalidIdMalformed):
        alice.calendar.get(id="not-an-id")
    with pytest.raises(ErrorItemNotFound):
        alice.calendar.get(id=gone_id)


def _calendar_of(acc: Account) -> Calendar:
    """The calendar of acc's mailbox by its distinguished id, without opening the mailbox's root
    (which needs a grant of one's own)."""
    return Calendar.get_distinguished(root=Root(account=acc))


def test_everyone_sees_a_calendars_free_busy_times_out_of_the_box(
    sim: EwsSimulator, account: AccountFactory
) -> None:
    # Exchange gives the Default user AvailabilityOnly on a calendar out of the box, which EWS calls
    # FreeBusyTimeOnly: "the user can view only free/busy time within the calendar"
    # (CalendarPermissionLevel, https://learn.microsoft.com/en-us/exchange/client-developer/
    # web-service-reference/calendarpermissionlevel; the roles: https://learn.microsoft.com/en-us/
    # powershell/module/exchange/set-mailboxfolderpermission). alice holds no grant on carol's calendar.
    carol = account("carol")
    CalendarItem(account=carol, folder=carol.calendar, subject="carol's plans", start=at(8, 9),
                 end=at(8, 10)).save(send_meeting_invitations="SendToNone")  # fmt: skip
    calendar = _calendar_of(account("alice", mailbox="carol"))

    seen = list(calendar.view(start=at(8, 0), end=at(9, 0)).only("subject", "start", "end"))
    assert [(i.subject, i.start) for i in seen] == [(None, at(8, 9))]
    with pytest.raises(ErrorAccessDenied):
        calendar.get(subject="carol's plans")  # reading items needs Reviewer

    # An owner who sets Default to None shares nothing.
    sim.grant_folder_permission(smtp("carol"), "default", "None", "calendar")
    with pytest.raises(ErrorAccessDenied):
        list(calendar.view(start=at(8, 0), end=at(9, 0)))


_REQUEST_FIELDS = ("subject", "is_delegated", "is_out_of_date", "has_been_processed", "type",
                   "my_response_type", "appointment_state", "datetime_received")


def test_a_meeting_request_carries_its_state(account: AccountFactory) -> None:
    # types.xsd's MeetingMessageType (IsDelegated, IsOutOfDate, HasBeenProcessed) and
    # MeetingRequestMessageType (CalendarItemType, MyResponseType, AppointmentState): MeetingRequest,
    # https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/meetingrequest;
    # a request is out of date "when a more recent version is received and processed" ([MS-OXOCAL]
    # 3.1.5.2, https://learn.microsoft.com/en-us/openspecs/exchange_server_protocols/ms-oxocal/
    # 8e26c2ea-b721-4d0b-bb85-10dc4f1c1257); AppointmentState's bits Meeting (1) and Received (2),
    # https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/appointmentstate.
    alice, bob = account("alice"), account("bob")
    meeting = CalendarItem(account=alice, folder=alice.calendar, subject="Planning", start=at(1, 9),
                           end=at(1, 10), required_attendees=[smtp("bob")])  # fmt: skip
    meeting.save(send_meeting_invitations="SendToAllAndSaveCopy")

    [first] = bob.inbox.all().only(*_REQUEST_FIELDS)
    assert (first.is_delegated, first.is_out_of_date, first.has_been_processed) == (False, False, True)
    assert (first.type, first.my_response_type, first.appointment_state) == (
        "Single", "NoResponseReceived", ("Meeting", "Received"))

    meeting.start, meeting.end = at(1, 11), at(1, 12)
    meeting.save(update_fields=["start", "end"], send_meeting_invitations="SendToAllAndSaveCopy")

    older, newer = bob.inbox.all().only(*_REQUEST_FIELDS).order_by("datetime_received")
    assert (older.is_out_of_date, newer.is_out_of_date) == (True, False)
    newer.accept()
    [answered] = bob.trash.filter(subject="Planning").only(*_REQUEST_FIELDS)
    assert answered.my_response_type == "Accept"



def test_calendar_items_carry_their_start_and_end_time_zones(account: AccountFactory) -> None:
    # StartTimeZone and EndTimeZone from Exchange 2010 on (https://learn.microsoft.com/en-us/exchange/
    # client-developer/web-service-reference/starttimezone, .../endtimezone); exchangelib reads them.
    alice = account("alice")
    london, new_york = EWSTimeZone("Europe/London"), EWSTimeZone("America/New_York")
    start = EWSDateTime(2030, 7, 1, 10, tzinfo=london)
    made = CalendarItem(account=alice, folder=alice.calendar, subject="Zoned", start=start,
                        end=EWSDateTime(2030, 7, 1, 12, tzinfo=new_york))  # fmt: skip
    made.save(send_meeting_invitations="SendToNone")

    read = alice.calendar.get(id=made.id)
    assert (read._start_timezone, read._end_timezone) == (london, new_york)
    assert (read.start, read.end) == (start, EWSDateTime(2030, 7, 1, 12, tzinfo=new_york))


def test_answers_sent_and_saved_leave_a_copy_in_sent_items(account: AccountFactory) -> None:
    # MessageDisposition SendAndSaveCopy: the response is sent and a copy saved in SavedItemFolderId,
    # Sent Items when none is given; SendOnly keeps none (CreateItem, https://learn.microsoft.com/en-us/
    # exchange/client-developer/web-service-reference/createitem).
    alice, bob, carol = account("alice"), account("bob"), account("carol")
    meeting = CalendarItem(account=alice, folder=alice.calendar, subject="Planning", start=at(1, 9),
                           end=at(1, 10), required_attendees=[smtp("bob"), smtp("carol")])  # fmt: skip
    meeting.save(send_meeting_invitations="SendToAllAndSaveCopy")

    next(iter(bob.inbox.all())).accept()  # exchangelib's default: SendAndSaveCopy
    next(iter(carol.inbox.all())).decline(message_disposition="SendOnly")

    assert [(m.subject, m.is_read) for m in bob.sent.all().only("subject", "is_read")] == [
        ("Accepted: Planning", True)]
    assert list(carol.sent.all()) == []
    assert sorted(m.subject for m in alice.inbox.all()) == ["Accepted: Planning", "Declined: Planning"]


_RESOLVE_CAROL = (
    b'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
    b'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types" '
    b'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"><s:Header>'
    b'<t:RequestServerVersion Version="Exchange2013"/></s:Header><s:Body>'
    b'<m:ResolveNames ReturnFullContactData="false"><m:UnresolvedEntry>carol</m:UnresolvedEntry>'
    b"</m:ResolveNames></s:Body></s:Envelope>"
)


def test_the_ntlm_handshake_may_start_with_a_get(sim: EwsSimulator) -> None:
    # A server "MUST respond with a 401" to a request for an access-protected object without acceptable
    # credentials and answers a NEGOTIATE with its CHALLENGE, whatever the verb ([MS-NTHT],
    # https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-ntht/7daaf621-94d9-4942-a70a-532e81ba293e);
    # @ewsjs/xhr sends NEGOTIATE on a GET and AUTHENTICATE on the POST that follows on the connection.
    client = spnego.client("EXAMPLE\\alice", PASSWORDS["alice"], protocol="ntlm")
    with requests.Session() as session:
        negotiate = base64.b64encode(client.step() or b"").decode()
        challenged = session.get(sim.ews_url, headers={"Authorization": f"NTLM {negotiate}"}, timeout=5)
        assert challenged.status_code == 401
        challenge = challenged.headers["WWW-Authenticate"].removeprefix("NTLM ")
        authenticate = base64.b64encode(client.step(base64.b64decode(challenge)) or b"").decode()
        answered = session.post(sim.ews_url, data=_RESOLVE_CAROL, timeout=5, headers={
            "Authorization": f"NTLM {authenticate}", "Content-Type": "text/xml; charset=utf-8"})  # fmt: skip
    assert answered.status_code == 200 and b"carol@example.com" in answered.content


def test_cancel_calendar_item_cancels_the_meeting(account: AccountFactory) -> None:
    # CancelCalendarItem "is used to cancel a meeting" (https://learn.microsoft.com/en-us/exchange/
    # client-developer/web-service-reference/cancelcalendaritem): the attendees get the cancellation,
    # the organiser keeps a copy (SendAndSaveCopy) and the meeting leaves the calendar, as DeleteItem
    # with SendMeetingCancellations does.
    alice, bob = account("alice"), account("bob")
    meeting = CalendarItem(account=alice, folder=alice.calendar, subject="Planning", start=at(1, 9),
                           end=at(1, 10), required_attendees=[smtp("bob")])  # fmt: skip
    meeting.save(send_meeting_invitations="SendToAllAndSaveCopy")

    meeting.cancel(new_body="Sorry, cancelled.")

    assert list(alice.calendar.all()) == []
    [cancellation] = [m for m in bob.inbox.all() if isinstance(m, MeetingCancellation)]
    assert (cancellation.subject, cancellation.body) == ("Canceled: Planning", "Sorry, cancelled.")
    [copy] = bob.calendar.all()
    assert copy.is_cancelled and copy.legacy_free_busy_status == "Free"
    assert "Canceled: Planning" in [m.subject for m in alice.sent.all()]


def test_a_delegates_meeting_names_both_and_shows_display_names(account: AccountFactory) -> None:
    # A delegate sends on the owner's behalf: From is the owner, Sender the delegate
    # (https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/sender, .../from;
    # https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/
    # how-to-access-a-calendar-as-a-delegate-by-using-ews-in-exchange). LastModifiedName is the display
    # name of the last user to modify the item (.../lastmodifiedname); DisplayTo "the concatenated
    # string of all To recipient display names", a meeting's To being its required attendees
    # (.../displayto), and DisplayCc its optional ones (.../displaycc).
    svc = account("svc", mailbox="alice")
    meeting = CalendarItem(account=svc, folder=svc.calendar, subject="Booked by svc", start=at(8, 15),
                           end=at(8, 16), required_attendees=[smtp("bob")],
                           optional_attendees=[smtp("carol")])  # fmt: skip
    meeting.save(send_meeting_invitations="SendToAllAndSaveCopy")

    [request] = account("bob").inbox.all().only("sender", "author")
    assert (request.author.email_address, request.sender.email_address) == (smtp("alice"), smtp("svc"))
    assert request.sender.name == "Booking Service"
    read = account("alice").calendar.get(id=meeting.id)
    assert (read.last_modified_name, read.display_to, read.display_cc) == ("Booking Service", "Bob Baker",
                                                                           "Carol Cook")  # fmt: skip


def test_a_room_answers_its_requests(account: AccountFactory) -> None:
    # Resource mailboxes default to AutomateProcessing AutoAccept (Set-CalendarProcessing,
    # https://learn.microsoft.com/en-us/powershell/module/exchange/set-calendarprocessing): a room
    # accepts when free and declines a conflict, and what it accepted is Busy in its free/busy.
    alice, bob = account("alice"), account("bob")
    booked = []
    for organiser, start in ((alice, at(15, 9)), (bob, at(15, 9, 30))):
        meeting = CalendarItem(account=organiser, folder=organiser.calendar, subject="Room", start=start,
                               end=start + (at(1, 10) - at(1, 9)), resources=[smtp("room-b")])  # fmt: skip
        meeting.save(send_meeting_invitations="SendToAllAndSaveCopy")
        booked.append(organiser.calendar.get(id=meeting.id))

    assert [m.resources[0].response_type for m in booked] == ["Accept", "Decline"]
    answers = [(m.subject, m.sender.email_address) for m in bob.inbox.all()]
    assert answers == [("Declined: Room", smtp("room-b"))]
    [view] = alice.protocol.get_free_busy_info([(smtp("room-b"), "Resource", False)], at(15, 0), at(16, 0),
                                                merged_free_busy_interval=30,
                                                requested_view="FreeBusy")  # fmt: skip
    busy = [(e.start, e.end, e.busy_type) for e in view.calendar_events or []]
    assert busy == [(at(15, 9), at(15, 10), "Busy")]


def _soap(sim: EwsSimulator, login: str, body: str, zone: str = "Eastern Standard Time") -> etree._Element:
    """A request as the EWS Managed API writes it from Exchange 2010 on: its zone in the header's
    TimeZoneContext, its times without an offset; the answer's body element."""
    envelope = (
        '<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"'
        f' xmlns:t="{TYPES}" xmlns:m="{MESSAGES}"><s:Header><t:RequestServerVersion Version="Exchange2013"/>'
        f'<t:TimeZoneContext><t:TimeZoneDefinition Id="{zone}"/></t:TimeZoneContext></s:Header>'
        f"<s:Body>{body}</s:Body></s:Envelope>"
    )
    answer = requests.post(sim.ews_url, data=envelope.encode(), auth=(smtp(login), PASSWORDS[login]),
                           headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=10)  # fmt: skip
    assert answer.status_code == 200, answer.text
    return etree.fromstring(answer.content).find(f"{{{SOAP}}}Body")[0]


def _texts(element: etree._Element, tag: str) -> list[str]:
    return [e.text or "" for e in element.iter(f"{{{TYPES}}}{tag}")]


def test_time_zone_context_is_the_zone_of_times_without_an_offset(sim: EwsSimulator) -> None:
    # TimeZoneContext "specifies the time zone definition that is to be used as the default when
    # assigning the time zone for the DateTime properties of objects that are created, updated, and
    # retrieved" (https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/
    # timezonecontext): a New York client's window, its new item's times and its CalendarView are New
    # York's, and availability answers in New York's local time.
    for subject, hour in (("previous evening", 2), ("morning", 14), ("evening", 26)):
        start = datetime(2030, 1, 7, tzinfo=UTC) + timedelta(hours=hour)
        sim.backend.mailbox(smtp("carol")).put("calendar", SimCalendarItem(
            subject=subject, start=start, end=start + timedelta(hours=1)))  # fmt: skip

    availability = _soap(sim, "svc", (
        '<m:GetUserAvailabilityRequest><m:MailboxDataArray><t:MailboxData><t:Email>'
        f'<t:Address>{smtp("carol")}</t:Address></t:Email><t:AttendeeType>Required</t:AttendeeType>'
        '</t:MailboxData></m:MailboxDataArray><t:FreeBusyViewOptions><t:TimeWindow>'
        '<t:StartTime>2030-01-07T00:00:00</t:StartTime><t:EndTime>2030-01-08T00:00:00</t:EndTime>'
        '</t:TimeWindow><t:MergedFreeBusyIntervalInMinutes>60</t:MergedFreeBusyIntervalInMinutes>'
        '<t:RequestedView>FreeBusy</t:RequestedView></t:FreeBusyViewOptions></m:GetUserAvailabilityRequest>'))
    assert _texts(availability, "StartTime") == ["2030-01-07T09:00:00", "2030-01-07T21:00:00"]

    created = _soap(sim, "alice", (
        '<m:CreateItem SendMeetingInvitations="SendToNone"><m:Items><t:CalendarItem><t:Subject>Local'
        '</t:Subject><t:Start>2030-01-09T09:00:00</t:Start><t:End>2030-01-09T10:00:00</t:End>'
        '</t:CalendarItem></m:Items></m:CreateItem>'))
    [item_id] = created.iter(f"{{{TYPES}}}ItemId")
    stored = sim.backend.mailbox(smtp("alice")).find_item(item_id.get("Id", ""))
    assert isinstance(stored, SimCalendarItem)
    assert (stored.start, stored.time_zone) == (at(9, 14), "Eastern Standard Time")

    view = _soap(sim, "alice", (
        '<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>'
        '<t:AdditionalProperties><t:FieldURI FieldURI="item:Subject"/></t:AdditionalProperties></m:ItemShape>'
        '<m:CalendarView StartDate="2030-01-09T09:30:00" EndDate="2030-01-09T23:00:00"/>'
        '<m:ParentFolderIds><t:DistinguishedFolderId Id="calendar"/></m:ParentFolderIds></m:FindItem>'))
    assert _texts(view, "Subject") == ["Local"]  # 14:00-15:00 UTC overlaps New York's 09:30-23:00
