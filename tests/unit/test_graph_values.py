"""The Graph backend's pure parts: stamps, error mapping, free/busy plan, concurrency slots, settings."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from pipeline.errors import ErrorCode, PermanentError, RetryableError
from pipeline.exchange.graph import stamps
from pipeline.exchange.graph.availability import plan_requests
from pipeline.exchange.graph.client import MailboxSlots
from pipeline.exchange.graph.errors import GraphUnauthorized, from_answer
from pipeline.exchange.graph.ids import is_ews_id
from pipeline.exchange.graph.values import parse_time
from pipeline.integrations import load_integration


def test_the_stamps_are_the_named_properties_ews_writes() -> None:
    from pipeline.exchange.ews.booking_stamp import PROPERTY_SET_ID, BookingKeyProperty

    assert stamps.PROPERTY_SET_ID == PROPERTY_SET_ID
    assert stamps.property_id(stamps.BOOKING_KEY) == (
        f"String {{{PROPERTY_SET_ID}}} Name {BookingKeyProperty.property_name}"
    )
    # Graph may answer with the id in another case; a quote in a value is doubled in a filter.
    shouted = stamps.property_id("BookingKey").upper()
    event = {"singleValueExtendedProperties": [{"id": shouted, "value": "k"}]}
    assert stamps.stamps_of(event) == {"BookingKey": "k"}
    assert "ep/value eq 'o''brien'" in stamps.stamp_filter(stamps.BOOKING_KEY, "o'brien")


@pytest.mark.parametrize(("status", "code", "expected", "retryable"), [
    (403, "ErrorAccessDenied", ErrorCode.ACCESS_DENIED, False),
    (403, "Authorization_RequestDenied", ErrorCode.ACCESS_DENIED, False),
    (404, "ErrorItemNotFound", ErrorCode.ITEM_NOT_FOUND, False),
    (404, "ErrorInvalidUser", ErrorCode.UNKNOWN_MAILBOX, False),
    (404, "MailboxNotEnabledForRESTAPI", ErrorCode.UNKNOWN_MAILBOX, False),
    (412, "ErrorIrresolvableConflict", ErrorCode.CONFLICT, False),
    (409, "", ErrorCode.CONFLICT, False),
    (410, "SyncStateNotFound", ErrorCode.SYNC_STATE_INVALID, False),
    (400, "ErrorInvalidIdMalformed", ErrorCode.EWS_ERROR, False),
    (429, "ApplicationThrottled", ErrorCode.SERVER_BUSY, True),
    (503, "ServiceUnavailable", ErrorCode.EWS_UNAVAILABLE, True),
    (504, "", ErrorCode.EWS_UNAVAILABLE, True),
])
def test_graph_codes_map_onto_the_codes_ews_uses(status: int, code: str, expected: ErrorCode,
                                                 retryable: bool) -> None:
    body = {"error": {"code": code, "message": "alice@example.com: Subject 'Secret' token eyJ0"}}
    mapped = from_answer("getEvent", status, body, {"Retry-After": "7"})

    assert mapped.code is expected
    assert isinstance(mapped, RetryableError if retryable else PermanentError)
    # Graph's message (addresses, subjects, tokens) never travels with the error.
    assert "alice" not in str(mapped) and "Secret" not in str(mapped) and "eyJ0" not in str(mapped)
    if retryable:
        assert isinstance(mapped, RetryableError) and mapped.delay_ms == 7000


def test_a_401_is_the_refresh_once_signal() -> None:
    assert isinstance(from_answer("getEvent", 401, {"error": {"code": "InvalidAuthenticationToken"}}, {}),
                      GraphUnauthorized)


def test_free_busy_is_planned_at_graphs_limits() -> None:
    start = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    plan = plan_requests([f"u{i}@example.com" for i in range(45)], start, start + dt.timedelta(days=90))

    assert len(plan) == 3 * 2  # 20 + 20 + 5 mailboxes, 61 + 29 days
    assert max(len(batch) for batch, _ in plan) == 20
    assert max(end - begin for _, (begin, end) in plan) < dt.timedelta(days=62)


def test_times_and_ids() -> None:
    assert parse_time({"dateTime": "2030-01-07T09:00:00.0000000", "timeZone": "UTC"}) == dt.datetime(
        2030, 1, 7, 9, tzinfo=dt.UTC)
    assert is_ews_id("AAMk/x+y=") and not is_ews_id("AAMk-x_y=")


def test_a_batch_takes_its_slots_all_at_once_and_a_fifth_request_waits() -> None:
    slots = MailboxSlots()
    key = ("integration", "alice@example.com")
    entered = threading.Event()

    def fifth() -> None:
        with slots.hold(key):
            entered.set()

    with slots.hold(key, 4):
        waiter = threading.Thread(target=fifth)
        waiter.start()
        assert not entered.wait(0.05)  # held back while four are in flight
        assert slots.in_use(key) == 4
    waiter.join(5)
    assert entered.is_set()


def _settings(**raw: object) -> dict[str, object]:
    return {"integration_id": "g", "backend": "graph", "oauth_tenant_id": "t", "secret_name": "s",
            "service_mailbox": "svc@example.com", **raw}


def test_graph_integrations_use_oauth_and_need_no_ews_url() -> None:
    for method in ("impersonation", "delegate", "dedicated"):
        assert load_integration(_settings(connection_method=method, auth_type="oauth2")).backend == "graph"
    personal = load_integration(_settings(connection_method="personal", auth_type="oauth2_delegated",
                                          personal_secret_template="u/{mailbox}"))
    assert personal.graph_url == "https://graph.microsoft.com/v1.0"
    with pytest.raises(PermanentError, match="backend graph needs auth_type oauth2"):
        load_integration(_settings(connection_method="delegate", auth_type="basic"))
    # EWS keeps its rules: an endpoint is still required.
    with pytest.raises(PermanentError, match="ews_url"):
        load_integration(_settings(backend="ews", connection_method="impersonation", auth_type="oauth2"))
