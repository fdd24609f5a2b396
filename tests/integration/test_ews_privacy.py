"""The EWS path keeps mailboxes, attendees, subjects, passwords and tokens out of every log record.

At DEBUG exchangelib logs each SOAP request and response whole (exchangelib.util.xml), each POST
with its headers (exchangelib.util), the Account it built ("Added account: Account(...)", with
the primary SMTP address), the folders it walks (their reprs name the mailbox) and more. Real jobs
run with the root logger at DEBUG, through the pipeline harness (moto in-process, the simulator
over real HTTP, the callback Lambda served locally), and every record is read whole: the
formatted line, its arguments and every attribute. Records of the harness's own loggers (the
simulator, moto's HTTP pass-through) are Exchange's side of the wire and left out.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest

from infra.ewssim import FaultKind
from infra.ewssim.models.items import CalendarItem
from pipeline.contract import JobStatus
from pipeline.errors import PipelineError
from pipeline.runtimes.runner import Job, run_job
from tests.integration.callback_support import PushRig, rig
from tests.integration.event_support import ALICE, BOB, CAROL, ROOM_A, booking, follow_up
from tests.integration.ews_support import put_secret
from tests.integration.pipeline_support import pipeline
from tests.integration.test_secrets_never_leak import describe
from tests.seed import APP, PASSWORDS, smtp

__all__ = ["pipeline", "rig"]  # the fixtures, re-exported for pytest

SUBJECT = "Dana Diaz"  # booking()'s subject, once its template is filled (and its body's)
NEW_SUBJECT = "Rescheduled with Quentin Quayle"
OUTLOOK_SUBJECT = "Dentist with Xavier Xu"  # a change made in the calendar, pushed to the callback
SUBJECTS = {"subject": SUBJECT, "new subject": NEW_SUBJECT, "outlook subject": OUTLOOK_SUBJECT}
WRONG_PASSWORD = "wrong-Secret-7"
PEOPLE = (ALICE, BOB, CAROL, ROOM_A, smtp("room-b"), smtp("building-1"), smtp("svc"), smtp("svc-imp"),
          smtp("nobody"))
NAMES = ("Alice Archer", "Bob Baker", "Carol Cook")  # display names: the simulator's answers hold them
# The simulator's own (Exchange's side), and `responses`, through which moto's mock_aws passes the
# test's HTTP requests on: neither runs in a deployed pipeline.
HARNESS_LOGGERS = ("infra.", "responses")
FREE_BUSY_WINDOW = {"start": "2026-11-03T00:00:00Z", "end": "2026-11-04T00:00:00Z"}


@pytest.fixture(autouse=True)
def _local_oauth(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the simulator's token endpoint is plain HTTP


def spellings(address: str) -> list[str]:
    """An address as a body, a URL or a log may spell it."""
    return [address, *(address.replace("@", at) for at in ("%40", "%2540", "&#64;"))]


def personal_data() -> dict[str, str]:
    """Every seeded address in each spelling, the display names and the subjects, by a name that
    says which (never the value)."""
    needles = {f"address {i}, spelling {j}": spelled for i, person in enumerate(PEOPLE)
               for j, spelled in enumerate(spellings(person))}
    needles |= {f"name {i}": name for i, name in enumerate(NAMES)}
    return needles | SUBJECTS


def record_text(record: logging.LogRecord) -> str:
    """Everything a handler could print of a record: the formatted line (traceback included), the
    arguments and every attribute."""
    return f"{logging.Formatter().format(record)}\n{record.args!r}\n{record.__dict__!r}"


def found_in(texts: list[str], needles: dict[str, str]) -> list[str]:
    """The names (never the values) of the needles any text holds, case-insensitively."""
    lowered = [text.lower() for text in texts]
    return sorted({name for name, value in needles.items()
                   if value and any(value.lower() in text for text in lowered)})


def attempt(rig: PushRig, actor: str, **kwargs: Any) -> tuple[PipelineError | None, JobStatus]:
    """Run one job as a worker would: the error it raised (or None) and its status."""
    message_id = str(uuid.uuid4())
    raised = None
    try:
        run_job(rig.pipeline.runtime, Job(message_id, actor, kwargs), enqueue=rig.pipeline.enqueue)
    except PipelineError as error:
        raised = error
    record = rig.pipeline.store.get_job(message_id)
    assert record is not None
    return raised, record.status


def ews_mix(rig: PushRig) -> list[PipelineError]:
    """Booking, invite, update, free/busy, rooms, sync, subscribe and a push, cancel, on a
    delegate (Basic) and an impersonation (OAuth) integration, a booking over NTLM; then wrong
    credentials and a busy server. Returns the errors the failing jobs raised."""
    pipeline = rig.pipeline
    delegate = pipeline.install("delegate", "basic")
    app = pipeline.install("impersonation", "oauth2")
    ok: list[tuple[str, dict[str, Any]]] = []
    for integration_id in (delegate, app):
        key = f"interview-{integration_id}"
        ok += [
            ("create_event", booking(integration_id, booking_key=key)),
            ("send_invite", follow_up(integration_id, booking_key=key)),
            ("update_event", follow_up(integration_id, booking_key=key, subject=NEW_SUBJECT)),
            ("fetch_free_busy", {"integration_id": integration_id, "mailboxes": [ALICE, BOB, CAROL],
                                 "view": "detailed", **FREE_BUSY_WINDOW}),
            ("list_rooms", {"integration_id": integration_id, "room_list": smtp("building-1")}),
            ("check_connection", {"integration_id": integration_id, "mailbox": ALICE}),
            ("sync_calendar", {"integration_id": integration_id, "mailbox": ALICE}),
        ]
    ntlm = pipeline.install("dedicated", "ntlm")
    ok += [("subscribe_mailbox", {"integration_id": delegate, "mailbox": ALICE}),
           ("check_connection", {"integration_id": ntlm, "mailbox": smtp("svc")}),
           ("create_event", booking(ntlm, booking_key="ntlm-1"))]
    for actor, kwargs in ok:
        raised, status = attempt(rig, actor, **kwargs)
        assert status is JobStatus.SUCCEEDED, (actor, raised.code if raised else None)
    # A change made in Outlook reaches the callback as a push notification; its sync job runs.
    item = pipeline.sim.backend.store(ALICE, "calendar", CalendarItem(subject=OUTLOOK_SUBJECT))
    pipeline.sim.backend.record_change(ALICE, item, "CreatedEvent")
    assert rig.push.wait_idle()
    pushed = rig.queue.take()
    assert pushed, "the push notification queued no job"
    for job in pushed:
        raised, status = attempt(rig, job.actor_name, **job.kwargs)
        assert status is JobStatus.SUCCEEDED, (job.actor_name, raised.code if raised else None)
    for integration_id in (delegate, app):
        raised, status = attempt(rig, "cancel_event", **follow_up(integration_id,
                                                                   booking_key=f"interview-{integration_id}"))
        assert status is JobStatus.SUCCEEDED, ("cancel_event", raised.code if raised else None)

    failures: list[PipelineError] = []
    wrong = pipeline.install("delegate", "basic", integration_id="wrong-delegate-basic")
    put_secret(pipeline.secrets_client, f"ews/{wrong}/service",
               {"username": smtp("svc"), "password": WRONG_PASSWORD})
    pipeline.sim.faults.fail(FaultKind.SERVER_BUSY, operation="CreateItem", count=1, back_off_ms=1000)
    for actor, kwargs in (
        ("fetch_free_busy", {"integration_id": wrong, "mailboxes": [ALICE, BOB], **FREE_BUSY_WINDOW}),
        ("create_event", booking(delegate, booking_key="busy-1")),
        ("sync_calendar", {"integration_id": delegate, "mailbox": smtp("nobody")}),
    ):
        raised, _ = attempt(rig, actor, **kwargs)
        assert raised is not None, actor
        failures.append(raised)
    assert {"AUTH_FAILED", "SERVER_BUSY"} <= {failure.code for failure in failures}
    return failures


def test_ews_jobs_at_debug_log_no_mailbox_attendee_subject_password_or_token(
    rig: PushRig, caplog: pytest.LogCaptureFixture
) -> None:
    # Given the root logger at DEBUG
    caplog.set_level(logging.DEBUG)

    # When real EWS jobs run, succeed and fail
    failures = ews_mix(rig)

    # Then exchangelib did log at DEBUG, and still says what was called and what came back...
    sim = rig.pipeline.sim
    ours = [r for r in caplog.records if not r.name.startswith(HARNESS_LOGGERS)]
    names = {r.name for r in ours}
    assert {"exchangelib.util", "exchangelib.util.xml", "exchangelib.services.common",
            "exchangelib.protocol", "exchangelib.account"} <= names
    messages = [r.getMessage() for r in ours if r.name.startswith("exchangelib")]
    for operation in ("CreateItem", "GetUserAvailability", "SyncFolderItems", "Subscribe", "GetRoomLists"):
        assert any(f"Calling service {operation}" in m for m in messages), operation
    assert any("Status code: 200" in m for m in messages)
    assert any("Status code: 401" in m for m in messages)
    assert any("ErrorServerBusy" in m and "back off" in m for m in messages)
    # ...the pipeline's own job lines, failures' codes and messages among them, are searched too...
    assert any(r.name == "pipeline.observability" and getattr(r, "error_code", None) == "AUTH_FAILED"
               for r in ours)
    # ...and no record shows any of the data: only names reach the assertions
    secrets = {f"password {user}": password for user, password in PASSWORDS.items()}
    secrets |= {"wrong password": WRONG_PASSWORD, "client secret": APP["client_secret"]}
    secrets |= {f"token {i}": token for i, token in enumerate(sim.tokens.issued())}
    secrets |= {f"callback url {i}": s.url.rsplit("/", 1)[-1] for i, s in enumerate(rig.push.subscriptions())}
    logged = [record_text(r) for r in ours]
    assert found_in(logged, secrets) == []
    assert found_in(logged, personal_data()) == []
    # The errors raised (messages may name the job's mailbox, by design) hold no secret or subject
    errors = [describe(error) for error in failures]
    assert found_in(errors, secrets) == []
    assert found_in(errors, SUBJECTS) == []
