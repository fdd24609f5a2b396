"""The lxml GetUserAvailability parser on hand-written answers: the same values as exchangelib's
parse wherever exchangelib's is right, the documented differences where it is not, per-mailbox
and whole-answer errors, and a hardened parser (no entities, no network, libxml2's limits).

Every hand-written answer that is meant to be valid is checked against messages.xsd first.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from exchangelib.errors import ErrorServerBusy

from pipeline.errors import ErrorCode, PermanentError, RetryableError
from pipeline.exchange.ews.availability_request import build_request, ews_datetime
from pipeline.exchange.types import BusyType
from tests.availability_support import (
    details,
    envelope,
    event,
    exchangelib_read,
    failed,
    has_schema,
    lxml_read,
    ok,
    schema_violations,
    view,
    working_hours,
)

A, B, C = "a@example.com", "b@example.com", "c@example.com"
MONDAY = "2030-01-07"


def valid(content: bytes) -> bytes:
    assert schema_violations(content) == []
    return content


def both(mailboxes: list[str], content: bytes) -> list:
    """Both parses of one valid answer; they must agree."""
    ours = lxml_read(mailboxes, valid(content))
    assert ours == exchangelib_read(mailboxes, content)
    return ours


# The same values as exchangelib's parse -------------------------------------------------------

EVERY_BUSY_TYPE = [
    event(f"{MONDAY}T{8 + i:02d}:00:00", f"{MONDAY}T{8 + i:02d}:30:00", busy)
    for i, busy in enumerate(("Free", "Tentative", "Busy", "OOF", "WorkingElsewhere", "NoData"))
]


SAME_AS_EXCHANGELIB = [
    ("no events at all", view("FreeBusy")),
    ("an empty event array", view("FreeBusy", events=[])),
    ("every busy type", view("FreeBusy", events=EVERY_BUSY_TYPE)),
    ("merged digits", view("FreeBusyMerged", merged="0120345", events=EVERY_BUSY_TYPE[:2])),
    ("merged only", view("MergedOnly", merged="000222000")),
    ("an empty merged string", view("FreeBusyMerged", merged="", events=[])),
    ("times with Z, offsets and none", view("FreeBusy", events=[
        event(f"{MONDAY}T09:00:00Z", f"{MONDAY}T10:00:00+01:00"),
        event(f"{MONDAY}T23:30:00-05:30", "2030-01-08T06:00:00", "Tentative"),
    ])),
    ("details in every shape", view("Detailed", events=[
        event(f"{MONDAY}T09:00:00", f"{MONDAY}T10:00:00", "Busy",
              details(item_id="AAMk=", subject="1:1 &amp; review", location="Room &lt;A&gt;")),
        event(f"{MONDAY}T11:00:00", f"{MONDAY}T12:00:00", "Tentative", details(subject="No room")),
        event(f"{MONDAY}T13:00:00", f"{MONDAY}T14:00:00", "Busy", details(private="true")),
        event(f"{MONDAY}T15:00:00", f"{MONDAY}T16:00:00", "OOF", details(subject="", location="")),
        event(f"{MONDAY}T17:00:00", f"{MONDAY}T18:00:00", "Busy", details(subject="Ünïcødé ✓ 会议")),
        event(f"{MONDAY}T19:00:00", f"{MONDAY}T20:00:00"),
    ])),
    ("working hours, one period", view("FreeBusy", events=[], hours=working_hours(
        300, [("Monday Tuesday Wednesday Thursday Friday", 540, 1020)]))),
    ("working hours, several periods and DST", view("DetailedMerged", merged="0", events=[], hours=(
        working_hours(0, [("Monday Tuesday Wednesday Thursday", 480, 1050), ("Friday", 480, 780),
                          ("Saturday", 0, 1439)], dst=True)))),
    ("working hours east of UTC, half an hour", view("FreeBusy", hours=working_hours(
        -330, [("Sunday Monday Tuesday Wednesday Thursday", 570, 1110)]))),
    ("working hours with no period", view("FreeBusy", hours=working_hours(60, []))),
]


@pytest.mark.parametrize(("name", "answer_view"), SAME_AS_EXCHANGELIB,
                         ids=[case[0] for case in SAME_AS_EXCHANGELIB])
def test_the_same_values_as_exchangelib(name: str, answer_view: str) -> None:
    [ours] = both([A], envelope(ok(answer_view)))
    assert ours.ok


def test_every_busy_type_and_time_reaches_the_gateway_value_in_utc() -> None:
    answer = view("Detailed", events=[
        event(f"{MONDAY}T09:00:00+01:00", f"{MONDAY}T10:15:00Z", "WorkingElsewhere",
              details(subject="Offsite", location="Lisbon", private="false")),
        *EVERY_BUSY_TYPE[:1],
    ], hours=working_hours(-60, [("Monday Friday", 510, 990)], dst=True))

    [ours] = both([A], envelope(ok(answer)))

    first = ours.intervals[0]
    assert (first.start, first.end) == (datetime(2030, 1, 7, 8, tzinfo=UTC),
                                        datetime(2030, 1, 7, 10, 15, tzinfo=UTC))
    assert (first.busy_type, first.subject, first.location, first.is_private) == (
        BusyType.WORKING_ELSEWHERE, "Offsite", "Lisbon", False)
    assert ours.intervals[1].busy_type is BusyType.FREE  # the action, not the parser, drops free time
    assert ours.working_hours is not None and ours.working_hours.utc_offset_minutes == 60
    assert [(p.days, p.start_minute, p.end_minute) for p in ours.working_hours.periods] == [
        (("Monday", "Friday"), 510, 990)]


def test_errors_per_mailbox_beside_answers() -> None:
    answer = envelope(
        ok(view("FreeBusy", events=EVERY_BUSY_TYPE[2:3])),
        failed("ErrorMailRecipientNotFound", "Unable to resolve e-mail address b@example.com."),
        failed("ErrorNonExistentMailbox", "No mailbox with such guid."),
        failed("ErrorAccessDenied", "Access is denied."),
        failed("ErrorProxyRequestNotAllowed", "Proxy is not allowed."),
        failed("ErrorFreeBusyGenerationFailed", "Free/busy could not be generated."),
        ok(view("FreeBusy")),
    )
    mailboxes = [A, B, C, "d@example.com", "e@example.com", "f@example.com", "g@example.com"]

    ours = both(mailboxes, answer)

    assert [a.error_code for a in ours] == [
        None, ErrorCode.UNKNOWN_MAILBOX, ErrorCode.UNKNOWN_MAILBOX, ErrorCode.ACCESS_DENIED,
        ErrorCode.ACCESS_DENIED, ErrorCode.EWS_ERROR, None,
    ]
    assert ours[1].error_message == (
        "GetUserAvailability: ErrorMailRecipientNotFound: Unable to resolve e-mail address b@example.com.")


def test_a_throttled_mailbox_retries_the_job_with_the_servers_back_off() -> None:
    busy = failed("ErrorServerBusy", "The server cannot service this request right now.",
                  '<t:Value Name="BackOffMilliseconds">2500</t:Value>')
    answer = valid(envelope(ok(view("FreeBusy")), busy))

    with pytest.raises(RetryableError) as ours:
        lxml_read([A, B], answer)
    with pytest.raises(RetryableError) as theirs:
        exchangelib_read([A, B], answer)

    assert (ours.value.code, ours.value.delay_ms, ours.value.message) == (
        theirs.value.code, theirs.value.delay_ms, theirs.value.message)
    assert (ours.value.code, ours.value.delay_ms) == (ErrorCode.SERVER_BUSY, 2500)


def test_a_transient_mailbox_error_retries_the_job() -> None:
    answer = valid(envelope(failed("ErrorMailboxStoreUnavailable", "The mailbox database is unavailable.")))

    with pytest.raises(RetryableError) as ours:
        lxml_read([A], answer)

    assert ours.value.code is ErrorCode.EWS_UNAVAILABLE


def test_a_soap_fault_raises_as_exchangelib_raises_it() -> None:
    fault = (
        b'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
        b'<s:Body><s:Fault><faultcode xmlns:a="http://schemas.microsoft.com/exchange/services/2006/types">'
        b"a:ErrorServerBusy</faultcode><faultstring>The server is busy.</faultstring><detail>"
        b'<e:ResponseCode xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">ErrorServerBusy'
        b'</e:ResponseCode><e:Message xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">'
        b'The server is busy.</e:Message><t:MessageXml xmlns:t="http://schemas.microsoft.com/exchange/services/'
        b'2006/types"><t:Value Name="BackOffMilliseconds">4000</t:Value></t:MessageXml></detail></s:Fault>'
        b"</s:Body></s:Envelope>"
    )
    # exchangelib's retry loop sees this raised from the parse, and backs off (or fails fast).
    with pytest.raises(ErrorServerBusy) as ours:
        lxml_read([A], fault)
    assert ours.value.back_off == 4.0


def test_a_response_without_its_response_message_is_read() -> None:
    # The schema allows it; exchangelib's parse fails on it.
    answer = valid(envelope(f"<m:FreeBusyResponse>{view('FreeBusy', events=EVERY_BUSY_TYPE[2:3])}"
                            "</m:FreeBusyResponse>"))

    [ours] = lxml_read([A], answer)

    assert ours.ok and [i.busy_type for i in ours.intervals] == [BusyType.BUSY]


# Where exchangelib's parse is wrong, on purpose ------------------------------------------------


def test_day_groups_in_working_hours_are_kept_where_exchangelib_fails() -> None:
    answer = valid(envelope(ok(view("FreeBusy", hours=working_hours(0, [("Weekday", 540, 1020),
                                                                        ("WeekendDay Day", 600, 660)])))))

    [ours] = lxml_read([A], answer)

    assert ours.working_hours is not None
    assert [p.days for p in ours.working_hours.periods] == [("Weekday",), ("WeekendDay", "Day")]
    with pytest.raises(TypeError):  # EnumListField gives None for them, _convert iterates it
        exchangelib_read([A], answer)


def test_a_working_day_ending_at_midnight_stays_1440_where_exchangelib_wraps_it_to_0() -> None:
    answer = valid(envelope(ok(view("FreeBusy", hours=working_hours(0, [("Friday", 1200, 1440)])))))

    [ours], [theirs] = lxml_read([A], answer), exchangelib_read([A], answer)

    assert ours.working_hours is not None and theirs.working_hours is not None
    assert (ours.working_hours.periods[0].end_minute, theirs.working_hours.periods[0].end_minute) == (1440, 0)


def test_is_private_1_is_private_where_exchangelib_reads_only_true() -> None:
    answer = valid(envelope(ok(view("Detailed", events=[
        event(f"{MONDAY}T09:00:00", f"{MONDAY}T10:00:00", "Busy", details(subject="Doctor", private="1"))]))))

    [ours], [theirs] = lxml_read([A], answer), exchangelib_read([A], answer)

    assert (ours.intervals[0].is_private, theirs.intervals[0].is_private) == (True, False)


# Broken answers -------------------------------------------------------------------------------

GOOD = envelope(ok(view("Detailed", events=[event(f"{MONDAY}T09:00:00", f"{MONDAY}T10:00:00", "Busy",
                                                  details(subject="Planning"))] * 20)))


MALFORMED = [
    ("empty", b""),
    ("blank", b"  \r\n"),
    ("truncated", GOOD[: len(GOOD) // 2]),
    ("cut inside a tag", GOOD[: GOOD.index(b"<t:Subject>") + 5]),
    ("not XML", b"Service Unavailable"),
    ("an undefined entity", GOOD.replace(b"Planning", b"&nbsp;Planning", 1)),
    ("not SOAP", b"<html><body>Bad gateway</body></html>"),
    ("SOAP without a body", b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"/>'),
]


@pytest.mark.parametrize(("name", "content"), MALFORMED, ids=[c[0] for c in MALFORMED])
def test_a_malformed_answer_is_transient(name: str, content: bytes) -> None:
    with pytest.raises(RetryableError) as caught:
        lxml_read([A], content)

    assert caught.value.code is ErrorCode.EWS_UNAVAILABLE
    assert caught.value.message.startswith("GetUserAvailability: ")


def test_a_truncated_answer_names_where_it_stopped() -> None:
    with pytest.raises(RetryableError) as caught:
        lxml_read([A], GOOD[:1000])

    assert "not well-formed XML" in caught.value.message and "line 1, column" in caught.value.message
    assert "truncated or garbled" in caught.value.message


def test_a_truncated_answer_that_exchangelib_would_half_read_is_refused() -> None:
    # exchangelib's parser recovers: the first mailboxes of a cut answer come back as if whole.
    two = envelope(ok(view("FreeBusy", events=EVERY_BUSY_TYPE)), ok(view("FreeBusy", events=EVERY_BUSY_TYPE)))
    cut = two[: two.index(b"</m:FreeBusyResponse>") + len(b"</m:FreeBusyResponse>") + 200]

    with pytest.raises(RetryableError):
        lxml_read([A, B], cut)


@pytest.mark.parametrize(
    ("answers", "mailboxes"),
    [(1, [A, B]), (3, [A, B]), (0, [A])],
)
def test_as_many_responses_as_mailboxes_or_a_permanent_error(answers: int, mailboxes: list[str]) -> None:
    content = valid(envelope(*[ok(view("FreeBusy"))] * answers))

    with pytest.raises(PermanentError) as caught:
        lxml_read(mailboxes, content)

    assert caught.value.code is ErrorCode.EWS_ERROR
    assert caught.value.message == (
        f"GetUserAvailability: {answers} FreeBusyResponses for {len(mailboxes)} mailboxes")


BROKEN_VIEWS = [
    ("unknown busy type",
 view("FreeBusy", events=[event(f"{MONDAY}T09:00:00", f"{MONDAY}T10:00:00", "Away")]),
     "unknown BusyType 'Away'"),
    ("bad start", view("FreeBusy", events=[event("next Monday", f"{MONDAY}T10:00:00")]),
     "StartTime 'next Monday' is not an xs:dateTime"),
    ("no end", view("FreeBusy", events=[f"<t:CalendarEvent><t:StartTime>{MONDAY}T09:00:00</t:StartTime>"
                                        "<t:BusyType>Busy</t:BusyType></t:CalendarEvent>"]),
     "a CalendarEvent without EndTime"),
    ("days missing", view("FreeBusy", hours=working_hours(0, [("", 540, 1020)])),
     "a WorkingPeriod without DayOfWeek"),
    ("minutes not a number", view("FreeBusy", hours=working_hours(0, [("Monday", "nine", 1020)])),  # type: ignore[list-item]
     "StartTimeInMinutes 'nine' is not an integer"),
    ("minutes past midnight", view("FreeBusy", hours=working_hours(0, [("Monday", 540, 1500)])),
     "EndTimeInMinutes 1500 is not a minute of the day"),
    ("no view", "", "a FreeBusyResponse without a FreeBusyView"),
]


@pytest.mark.parametrize(("name", "broken", "why"), BROKEN_VIEWS, ids=[c[0] for c in BROKEN_VIEWS])
def test_a_view_that_breaks_the_schema_fails_its_mailbox_only(name: str, broken: str, why: str) -> None:
    content = envelope(ok(view("FreeBusy", events=EVERY_BUSY_TYPE[2:3])), ok(broken), ok(view("FreeBusy")))

    first, second, third = lxml_read([A, B, C], content)

    assert first.ok and third.ok and len(first.intervals) == 1
    assert second.error_code is ErrorCode.EWS_ERROR
    assert second.error_message == (
        f"GetUserAvailability: the free/busy of {B} does not follow EWS's schema: {why}")


def test_a_busy_type_left_empty_is_busy_as_in_exchangelib() -> None:
    content = envelope(ok(view("FreeBusy", events=[event(f"{MONDAY}T09:00:00", f"{MONDAY}T10:00:00", "")])))

    assert [i.busy_type for i in lxml_read([A], content)[0].intervals] == [BusyType.BUSY]
    assert lxml_read([A], content) == exchangelib_read([A], content)


# A hardened parser ----------------------------------------------------------------------------


def test_a_document_type_declaration_is_refused_for_good() -> None:
    # SOAP 1.1 (section 3): a SOAP message must not contain a Document Type Declaration.
    content = GOOD.replace(b"<s:Envelope", b'<!DOCTYPE s:Envelope [<!ENTITY x "Planning">]><s:Envelope', 1)

    with pytest.raises(PermanentError) as caught:
        lxml_read([A], content)

    assert caught.value.code is ErrorCode.EWS_ERROR and "document type declaration" in caught.value.message


def test_no_external_entity_is_read_from_disk(tmp_path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:the secret")
    content = GOOD.replace(
        b"<s:Envelope",
        f'<!DOCTYPE s:Envelope [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]><s:Envelope'.encode(), 1,
    ).replace(b"Planning", b"&xxe;")

    with pytest.raises(PermanentError) as caught:
        lxml_read([A], content)

    assert "the secret" not in str(caught.value)


def test_no_external_entity_or_dtd_is_fetched_over_the_network() -> None:
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"leaked")

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        content = GOOD.replace(
            b"<s:Envelope",
            f'<!DOCTYPE s:Envelope SYSTEM "{url}/dtd" '
            f'[<!ENTITY xxe SYSTEM "{url}/entity">]><s:Envelope'.encode(),
            1,
        ).replace(b"Planning", b"&xxe;")
        with pytest.raises(PermanentError):
            lxml_read([A], content)
    finally:
        server.shutdown()
        server.server_close()

    assert hits == []


def test_billion_laughs_is_not_expanded() -> None:
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    ]
    content = GOOD.replace(
        b"<s:Envelope", f"<!DOCTYPE s:Envelope [{''.join(entities)}]><s:Envelope".encode(), 1
    ).replace(b"Planning", b"&lol9;")  # 10^9 "lol"s if expanded

    started = time.perf_counter()
    with pytest.raises(PermanentError):
        lxml_read([A], content)

    assert time.perf_counter() - started < 1.0


def test_a_text_node_past_libxml2s_limit_is_refused() -> None:
    content = GOOD.replace(b"Planning", b"x" * 10_000_001, 1)  # huge_tree is off: 10 MB per text node

    with pytest.raises(RetryableError) as caught:
        lxml_read([A], content)

    assert "not well-formed XML" in caught.value.message


# The request ----------------------------------------------------------------------------------


@pytest.mark.skipif(not has_schema(), reason="needs Microsoft's EWS schema (EWS_SCHEMA_DIR)")
@pytest.mark.parametrize("requested",
                         ["FreeBusy", "FreeBusyMerged", "Detailed", "DetailedMerged", "MergedOnly"])
def test_the_request_is_valid_against_messages_xsd(requested: str) -> None:
    from tests.availability_support import _VALIDATOR

    request = build_request([A, B], datetime(2030, 1, 7, tzinfo=UTC), datetime(2030, 2, 18, tzinfo=UTC),
                            requested, 30)

    assert _VALIDATOR is not None and _VALIDATOR.errors(request) == []


def test_request_times_are_written_as_exchangelib_writes_them() -> None:
    assert ews_datetime(datetime(2030, 1, 7, 9, tzinfo=UTC)) == "2030-01-07T09:00:00Z"
    assert ews_datetime(datetime(2030, 1, 7, 9, 0, 0, 250000, tzinfo=UTC)) == "2030-01-07T09:00:00.250000Z"
    an_hour_east = timezone(timedelta(hours=1))
    assert ews_datetime(datetime(2030, 1, 7, 10, tzinfo=an_hour_east)) == "2030-01-07T09:00:00Z"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
def test_the_parser_itself_expands_and_fetches_nothing_when_a_dtd_gets_past_the_prolog_check(
    encoding: str, tmp_path
) -> None:
    # Not ASCII-compatible, so the byte-level prolog check does not see the <!DOCTYPE: libxml2 does.
    secret = tmp_path / "secret.txt"
    secret.write_text("the secret")
    entities = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    text = GOOD.decode().replace('encoding="utf-8"', f'encoding="{encoding}"').replace(
        "<s:Envelope",
        f'<!DOCTYPE s:Envelope [{"".join(entities)}<!ENTITY xxe SYSTEM "{secret.as_uri()}">]><s:Envelope', 1,
    ).replace("Planning", "&lol9;&xxe;")

    started = time.perf_counter()
    with pytest.raises((PermanentError, RetryableError)) as caught:
        lxml_read([A], text.encode(encoding))

    assert time.perf_counter() - started < 1.0
    assert "the secret" not in str(caught.value) and "lollol" not in str(caught.value)
