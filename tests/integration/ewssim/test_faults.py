"""Faults and latency on demand, seen through exchangelib: busy (as a fault or in the response
messages), 503, dropped connections, fail N of M."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import time as dt_time
from datetime import timedelta
from typing import Any

import pytest
import requests
from exchangelib import UTC, Account, CalendarItem, EWSDateTime, FaultTolerance
from exchangelib.errors import (
    ErrorMailboxStoreUnavailable,
    ErrorServerBusy,
    ErrorTimeoutExpired,
    ResponseMessageError,
)
from exchangelib.folders import Calendar, Root
from exchangelib.properties import (
    ENTRY_ID,
    EWS_ID,
    AlternateId,
    DaylightTime,
    FreeBusyViewOptions,
    MailboxData,
    StandardTime,
    TimeWindow,
    TimeZone,
)
from exchangelib.services import ConvertId, GetRoomLists, GetUserAvailability, ResolveNames
from exchangelib.services.common import EWSService
from lxml import etree

from infra.ewssim import EwsSimulator, FaultKind, FaultPlan
from infra.ewssim.errors import EwsError
from infra.ewssim.namespaces import Element, m, s, t
from infra.ewssim.responses import OPERATIONS
from infra.ewssim.responses.error_responses import ERROR_SHAPES, error_response
from infra.ewssim.schema import SchemaValidator
from tests.integration.ewssim.conftest import SCHEMA_DIR, build_account
from tests.seed import PASSWORDS, smtp


def resolve(sim: EwsSimulator, **options: object) -> str:
    account = build_account(sim, "alice", **options)  # type: ignore[arg-type]
    return str(account.protocol.resolve_names(["bob"])[0].email_address)


def test_server_busy_carries_back_off(sim: EwsSimulator) -> None:
    sim.faults.fail(FaultKind.SERVER_BUSY, count=1, back_off_ms=250)
    with pytest.raises(ErrorServerBusy) as caught:
        resolve(sim)
    # exchangelib read BackOffMilliseconds from the fault detail (seconds on its side).
    assert caught.value.back_off == 0.25
    record = sim.request_log()[-1]
    assert (record.status, record.code) == (500, "ErrorServerBusy")
    # The rule was for one request only.
    assert resolve(sim) == smtp("bob")
    assert sim.request_counts() == {"ResolveNames": 2}


def test_retry_policy_rides_out_server_busy(sim: EwsSimulator) -> None:
    sim.faults.fail(FaultKind.SERVER_BUSY, count=2, back_off_ms=20)
    assert resolve(sim, retry_policy=FaultTolerance(max_wait=10)) == smtp("bob")
    assert sim.request_counts() == {"ResolveNames": 3}
    assert [r.code for r in sim.request_log()] == ["ErrorServerBusy", "ErrorServerBusy", "NoError"]


def test_http_503(sim: EwsSimulator) -> None:
    sim.faults.fail("http_503", count=1)
    # exchangelib turns a 503 into ErrorServerBusy (retryable) and says why.
    with pytest.raises(ErrorServerBusy, match="HTTP 503"):
        resolve(sim)
    assert sim.request_log()[-1].status == 503


def test_dropped_connection(sim: EwsSimulator) -> None:
    sim.faults.fail(FaultKind.DROP, count=1)
    with pytest.raises(ErrorTimeoutExpired):
        resolve(sim)
    # Counted although no response was sent.
    assert sim.request_counts() == {"ResolveNames": 1}
    assert resolve(sim) == smtp("bob")


def test_fail_n_of_the_next_m(sim: EwsSimulator) -> None:
    sim.faults.fail(FaultKind.SOAP_FAULT, count=2, window=5, seed=7, code="ErrorMailboxStoreUnavailable")
    outcomes = []
    account = build_account(sim, "alice")
    for _ in range(6):
        try:
            account.protocol.resolve_names(["bob"])
            outcomes.append("ok")
        except ErrorMailboxStoreUnavailable:
            outcomes.append("fail")
    assert outcomes[:5].count("fail") == 2
    assert outcomes[5] == "ok"
    assert sim.request_counts() == {"ResolveNames": 6}


def test_fault_for_one_operation_only(sim: EwsSimulator) -> None:
    sim.faults.fail(FaultKind.SERVER_BUSY, operation="GetFolder")
    assert resolve(sim) == smtp("bob")
    with pytest.raises(ErrorServerBusy):
        _ = build_account(sim, "alice").calendar
    sim.faults.reset()
    assert build_account(sim, "alice").calendar.name == "Calendar"


def test_fixed_latency(sim: EwsSimulator) -> None:
    sim.faults.add_latency(60, operation="ResolveNames")
    started = time.monotonic()
    assert resolve(sim) == smtp("bob")
    # Only a lower bound: the sleep is certain, an upper bound would be a flaky timing assertion.
    assert time.monotonic() - started >= 0.06


def test_random_latency_stays_in_range() -> None:
    plan = FaultPlan()
    plan.add_latency(5, 15)
    delays = [plan.decide("GetItem").delay_s for _ in range(200)]
    assert all(0.005 <= d <= 0.015 for d in delays)
    assert len(set(delays)) > 1


def test_fault_rule_validation() -> None:
    with pytest.raises(ValueError):
        FaultPlan().fail(FaultKind.DROP, count=3, window=2)
    with pytest.raises(ValueError):
        FaultPlan().add_from_dict({"kind": "drop", "typo": 1})
    with pytest.raises(ValueError):
        FaultPlan().add_from_dict({"kind": "melt"})


# ErrorServerBusy inside the response messages (HTTP 200) ---------------------------------------

BUSY_MS = 30_000


def _calendar_item(account: Account) -> CalendarItem:
    start = EWSDateTime(2030, 1, 7, 10, tzinfo=UTC)
    return CalendarItem(account=account, folder=account.calendar, subject="x", start=start,
                        end=start + timedelta(hours=1))


# Each throttled operation, as exchangelib sends it (the calendar is looked up beforehand).
BUSY_CALLS: dict[str, Callable[[Account], object]] = {
    "CreateItem": lambda account: _calendar_item(account).save(),
    "GetFolder": lambda account: Calendar.get_distinguished(root=Root(account=account)),
    "FindItem": lambda account: list(account.calendar.filter(subject="x")),
    "SyncFolderItems": lambda account: list(account.calendar.sync_items()),
    "ResolveNames": lambda account: account.protocol.resolve_names(["bob"]),
    "GetRoomLists": lambda account: list(account.protocol.get_roomlists()),
    "GetRooms": lambda account: list(account.protocol.get_rooms(smtp("building-1"))),
    "GetServerTimeZones": lambda account: list(account.protocol.get_timezones()),
    "ConvertId": lambda account: list(
        ConvertId(protocol=account.protocol).call(
            [AlternateId(id="DUMMY", format=EWS_ID, mailbox=smtp("alice"))], ENTRY_ID
        )
    ),
}


@pytest.mark.parametrize("operation", sorted(BUSY_CALLS))
def test_server_busy_message_is_a_200_that_exchangelib_raises(sim: EwsSimulator, operation: str) -> None:
    account = build_account(sim, "alice")
    assert account.calendar.name == "Calendar"
    sim.faults.fail(FaultKind.SERVER_BUSY_MESSAGE, operation=operation, count=1, back_off_ms=BUSY_MS)

    with pytest.raises(ErrorServerBusy):
        BUSY_CALLS[operation](account)

    record = sim.request_log(operation)[-1]
    assert (record.status, record.code) == (200, "ErrorServerBusy")
    # One request only; the schema check (tests/conftest.py) saw every answer, the busy one too.
    BUSY_CALLS[operation](account)
    assert sim.request_log(operation)[-1].code == "NoError"


class _EveryAnswer(GetUserAvailability):
    """exchangelib's GetUserAvailability returning each mailbox's error instead of raising the first."""

    ERRORS_TO_CATCH_IN_RESPONSE = (ResponseMessageError,)


def test_server_busy_message_in_get_user_availability_answers_each_mailbox(sim: EwsSimulator) -> None:
    account = build_account(sim, "svc")
    start = EWSDateTime(2030, 1, 7, tzinfo=UTC)
    no_dst = {"bias": 0, "time": dt_time(2), "occurrence": 1, "iso_month": 1, "weekday": 7}
    utc = TimeZone(bias=0, standard_time=StandardTime(**no_dst), daylight_time=DaylightTime(**no_dst))
    mailboxes = [MailboxData(email=smtp(name), attendee_type="Required") for name in ("alice", "bob")]
    sim.faults.fail(FaultKind.SERVER_BUSY_MESSAGE, operation="GetUserAvailability", count=1,
                    back_off_ms=BUSY_MS)

    answers = list(
        _EveryAnswer(protocol=account.protocol).call(
            tzinfo=UTC,
            mailbox_data=mailboxes,
            timezone=utc,
            free_busy_view_options=FreeBusyViewOptions(
                time_window=TimeWindow(start=start, end=start + timedelta(hours=8)), requested_view="FreeBusy"
            ),
        )
    )

    # FreeBusyResponseArray/FreeBusyResponse/ResponseMessage: one per mailbox, as Exchange answers.
    assert [type(answer) for answer in answers] == [ErrorServerBusy, ErrorServerBusy]
    assert sim.request_log("GetUserAvailability")[-1].status == 200


def _posted(sim: EwsSimulator, service: EWSService, payload: Any) -> tuple[int, Element]:
    """POST exchangelib's request for `payload` as alice; the HTTP status and the soap:Body."""
    response = requests.post(
        sim.ews_url,
        data=service.wrap(content=payload, api_version="Exchange2016"),
        auth=(smtp("alice"), PASSWORDS["alice"]),
        timeout=5,
    )
    body = etree.fromstring(response.content).find(s("Body"))
    assert body is not None
    return response.status_code, body


@pytest.mark.parametrize("bare", [False, True], ids=["ResolveNames", "GetRoomLists"])
def test_server_busy_message_carries_back_off_milliseconds(sim: EwsSimulator, bare: bool) -> None:
    account = build_account(sim, "alice")
    service: EWSService
    if bare:  # GetRoomListsResponse is itself the one response message
        service = GetRoomLists(protocol=account.protocol)
        payload = service.get_payload()
    else:
        service = ResolveNames(protocol=account.protocol)
        payload = service.get_payload(unresolved_entries=["bob"], parent_folders=None,
                                      return_full_contact_data=False, search_scope=None,
                                      contact_data_shape=None)
    # Through the control surface over HTTP, as another process would ask for it.
    added = requests.post(
        f"{sim.base_url}/_sim/faults",
        json={"kind": "server_busy_message", "operation": service.SERVICE_NAME, "count": 1,
              "back_off_ms": BUSY_MS},
        timeout=5,
    )
    assert added.status_code == 200 and added.json()["kind"] == "server_busy_message"

    status, body = _posted(sim, service, payload)

    assert status == 200
    if SCHEMA_DIR.joinpath("messages.xsd").is_file():
        assert SchemaValidator(SCHEMA_DIR).errors(body[0]) == []
    # exchangelib finds the message(s) where it looks for them, and reads them as throttling.
    [message] = service._get_soap_messages(body=body)
    assert message.get("ResponseClass") == "Error"
    assert message.findtext(m("ResponseCode")) == "ErrorServerBusy"
    values = message.findall(f"{m('MessageXml')}/{t('Value')}")
    assert [(v.get("Name"), v.text) for v in values] == [("BackOffMilliseconds", str(BUSY_MS))]
    with pytest.raises(ErrorServerBusy):
        service._get_element_container(message=message, name=service.element_container_name)


@pytest.mark.parametrize("operation", sorted(ERROR_SHAPES))
def test_every_error_response_is_schema_valid(operation: str) -> None:
    if not SCHEMA_DIR.joinpath("messages.xsd").is_file():
        pytest.skip("no EWS schema folder")
    # A request naming two items (two ids, two mailboxes, ...) wherever the operation takes a list.
    request = etree.Element(m(operation))
    items = ERROR_SHAPES[operation].items
    if items is not None:
        listed = etree.SubElement(request, m(items))
        for _ in range(2):
            etree.SubElement(listed, t("ItemId"))
    busy = EwsError("ErrorServerBusy", "busy", back_off_ms=BUSY_MS)

    response = error_response(operation, request, busy)

    assert SchemaValidator(SCHEMA_DIR).errors(response) == []
    codes = response.iter(m("ResponseCode"))
    assert [code.text for code in codes] == ["ErrorServerBusy"] * (1 if items is None else 2)
    assert all(v.text == str(BUSY_MS) for v in response.iter(t("Value")))


def test_every_operation_has_an_error_shape() -> None:
    assert set(OPERATIONS) <= set(ERROR_SHAPES)
