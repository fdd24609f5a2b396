"""The control surface: the Python API and the same over HTTP under /_sim/."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import requests
from exchangelib.errors import ErrorImpersonateUserDenied, ErrorServerBusy

from infra.ewssim import EwsSimulator
from infra.ewssim.models.items import CalendarItem, MessageItem
from infra.ewssim.request_log import RequestLog, RequestRecord
from tests.integration.ewssim.conftest import build_account
from tests.seed import smtp


def control(sim: EwsSimulator, method: str, path: str, json: object = None) -> requests.Response:
    return requests.request(method, f"{sim.base_url}/_sim/{path}", json=json, timeout=5)


def test_health(sim: EwsSimulator) -> None:
    assert control(sim, "GET", "health").json() == {"ok": True, "ews_url": sim.ews_url}


def test_reset_and_seed_over_http(sim: EwsSimulator) -> None:
    assert control(sim, "POST", "reset").status_code == 200
    assert sim.backend.directory.find(smtp("alice")) is None
    seed = {"users": [{"smtp": "dora@example.com", "name": "Dora", "password": "dora-Pw-1"}]}
    assert control(sim, "POST", "seed", seed).status_code == 200
    account = build_account(sim, "alice", username="dora@example.com", password="dora-Pw-1")
    assert account.protocol.resolve_names(["dora"])[0].email_address == "dora@example.com"


def test_grants_over_http(sim: EwsSimulator) -> None:
    with pytest.raises(ErrorImpersonateUserDenied):
        _ = build_account(sim, "svc", mailbox="bob", impersonate=True).calendar
    assert control(sim, "POST", "grants/impersonation", {"smtp": smtp("svc")}).status_code == 200
    assert build_account(sim, "svc", mailbox="bob", impersonate=True).calendar.name == "Calendar"
    grant = {"owner": smtp("bob"), "grantee": smtp("carol"), "level": "Editor"}
    assert control(sim, "POST", "grants/folder", grant).status_code == 200
    assert sim.backend.mailbox(smtp("bob")).permission_for("calendar", smtp("carol")).value == "Editor"


def test_read_calendar_and_inbox_as_dicts(sim: EwsSimulator) -> None:
    # Put items in directly: the model is the same one the item operations write to.
    start = datetime(2030, 1, 7, 10, 0, tzinfo=sim.backend.clock.now().tzinfo)
    sim.backend.mailbox(smtp("alice")).put(
        "calendar", CalendarItem(subject="Interview", start=start, end=start + timedelta(hours=1))
    )
    sim.backend.mailbox(smtp("alice")).put("inbox", MessageItem(subject="Hello", sender=smtp("bob")))
    calendar = sim.calendar(smtp("alice"))
    assert [(i["type"], i["subject"], i["start"]) for i in calendar] == [
        ("CalendarItem", "Interview", start.isoformat())
    ]
    assert [i["subject"] for i in sim.inbox(smtp("alice"))] == ["Hello"]
    over_http = control(sim, "GET", f"mailboxes/{smtp('alice')}/calendar").json()
    assert over_http == calendar
    assert (
        control(sim, "GET", "mailboxes/nobody@example.com/calendar").json()["error"]
        == "ErrorNonExistentMailbox"
    )


def test_clock(sim: EwsSimulator) -> None:
    before = datetime.fromisoformat(control(sim, "GET", "clock").json()["now"])
    after = datetime.fromisoformat(control(sim, "POST", "clock/advance", {"seconds": 3600}).json()["now"])
    assert after - before >= timedelta(hours=1)
    assert sim.backend.clock.now() >= after


def test_counts_log_and_faults_over_http(sim: EwsSimulator) -> None:
    assert (
        control(sim, "POST", "faults", {"kind": "server_busy", "count": 1, "back_off_ms": 10}).status_code
        == 200
    )
    assert control(sim, "POST", "faults", {"latency_ms": 1, "operation": "GetFolder"}).status_code == 200
    described = control(sim, "GET", "faults").json()
    assert (
        described["faults"][0]["kind"] == "server_busy"
        and described["latency"][0]["operation"] == "GetFolder"
    )
    account = build_account(sim, "alice")
    with pytest.raises(ErrorServerBusy):
        account.protocol.resolve_names(["bob"])
    account.protocol.resolve_names(["bob"])
    assert control(sim, "GET", "requests/counts").json() == {"ResolveNames": 2}
    log = control(sim, "GET", "requests/log?operation=ResolveNames").json()
    assert [(r["status"], r["code"], r["caller"]) for r in log] == [
        (500, "ErrorServerBusy", smtp("alice")),
        (200, "NoError", smtp("alice")),
    ]
    assert control(sim, "DELETE", "faults").status_code == 200
    assert control(sim, "GET", "faults").json() == {"latency": [], "faults": []}
    assert control(sim, "DELETE", "requests").status_code == 200
    assert sim.request_counts() == {}


def test_reset_clears_faults_counts_and_tokens(sim: EwsSimulator) -> None:
    sim.faults.fail("drop")
    sim.requests.count("GetItem")
    sim.reset()
    assert sim.faults.describe() == {"latency": [], "faults": []}
    assert sim.request_counts() == {}


def test_bad_control_requests(sim: EwsSimulator) -> None:
    assert control(sim, "GET", "nothing/here").status_code == 404
    assert control(sim, "POST", "grants/folder", {"owner": smtp("bob")}).status_code == 400
    assert control(sim, "POST", "faults", {"kind": "explode"}).status_code == 400


def test_request_log_is_bounded_but_counts_are_exact() -> None:
    log = RequestLog(capacity=3)
    for index in range(5):
        log.count("GetItem")
        log.record(RequestRecord("GetItem", "a", None, 200, "NoError", str(index)))
    assert log.counts() == {"GetItem": 5}
    assert [r.time for r in log.records()] == ["2", "3", "4"]
