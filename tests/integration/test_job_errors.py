"""Bad input fails the job for good with a stable code; transient trouble leaves it retrying.

Everything runs through run_job, as a worker or the Lambda handler would, and is asserted on the
job record in the table.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra.ewssim import EwsSimulator, FaultKind
from pipeline.contract import JobOutcome, JobStatus
from pipeline.errors import ErrorCode, RetryableError
from pipeline.runtimes.runner import GaveUp, Job, run_job
from tests.integration.ews_support import put_secret
from tests.integration.pipeline_support import PipelineHarness, pipeline
from tests.seed import PASSWORDS, smtp

__all__ = ["pipeline"]  # the fixture, re-exported for pytest

MONDAY = datetime(2030, 1, 7, tzinfo=UTC)


def free_busy_kwargs(integration_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "integration_id": integration_id,
        "mailboxes": [smtp("alice")],
        "start": MONDAY.isoformat(),
        "end": (MONDAY + timedelta(days=1)).isoformat(),
        **overrides,
    }


def event_kwargs(integration_id: str, mailbox: str) -> dict[str, Any]:
    return {
        "integration_id": integration_id,
        "mailbox": mailbox,
        "booking_key": "errors-test:1",
        "subject": "Interview",
        "start": (MONDAY + timedelta(hours=10)).isoformat(),
        "end": (MONDAY + timedelta(hours=11)).isoformat(),
    }


def failed_for_good(outcome: JobOutcome, code: ErrorCode) -> str:
    """Assert a permanent failure with `code`; returns its message."""
    assert outcome.status is JobStatus.FAILED, outcome
    assert outcome.error is not None
    assert (outcome.error.code, outcome.error.retryable) == (code, False)
    assert outcome.result is None
    return outcome.error.message


# Bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"mailboxes": []}, "mailboxes"),
        ({"mailboxes": ["not-an-address"]}, "mailboxes.0"),
        ({"end": MONDAY.isoformat()}, "end_not_after_start"),  # a model-level check names its type
        ({"start": "2030-01-07T00:00:00"}, "start"),  # no UTC offset
        ({"colour": "blue"}, "colour"),
    ],
)
def test_invalid_kwargs_name_the_field(
    pipeline: PipelineHarness, sim: EwsSimulator, overrides: dict[str, Any], named: str
) -> None:
    integration_id = pipeline.install("delegate")

    outcome = pipeline.run("fetch_free_busy", **free_busy_kwargs(integration_id, **overrides))

    assert named in failed_for_good(outcome, ErrorCode.INVALID_KWARGS)
    assert sim.request_counts() == {}


def test_unknown_actor(pipeline: PipelineHarness) -> None:
    outcome = pipeline.run("book_everything", integration_id="delegate-basic")

    assert "book_everything" in failed_for_good(outcome, ErrorCode.UNKNOWN_ACTOR)


def test_unknown_integration(pipeline: PipelineHarness, sim: EwsSimulator) -> None:
    outcome = pipeline.run("list_rooms", integration_id="nobody-here")

    assert "nobody-here" in failed_for_good(outcome, ErrorCode.UNKNOWN_INTEGRATION)
    assert sim.request_counts() == {}


def test_unknown_mailbox(pipeline: PipelineHarness) -> None:
    integration_id = pipeline.install("delegate")

    outcome = pipeline.run("create_event", **event_kwargs(integration_id, "nobody@example.com"))

    failed_for_good(outcome, ErrorCode.UNKNOWN_MAILBOX)


@pytest.mark.parametrize("auth", ["basic", "ntlm"])
def test_wrong_credentials_fail_after_exactly_one_refresh(
    pipeline: PipelineHarness, sim: EwsSimulator, auth: str
) -> None:
    integration_id = pipeline.install("delegate", auth)
    secret_name = f"ews/{integration_id}/service"
    put_secret(pipeline.secrets_client, secret_name, {"username": smtp("svc"), "password": "wrong-Secret-9"})

    outcome = pipeline.run("list_rooms", integration_id=integration_id, room_list=smtp("building-1"))

    failed_for_good(outcome, ErrorCode.AUTH_FAILED)
    assert pipeline.secrets.reads == [(secret_name, False), (secret_name, True)]
    assert sim.request_counts() == {}  # refused at the door: nothing reached an operation


def test_wrong_oauth_client_secret_fails_after_exactly_one_refresh(pipeline: PipelineHarness) -> None:
    integration_id = pipeline.install("impersonation", "oauth2")
    secret_name = f"ews/{integration_id}/service"
    put_secret(pipeline.secrets_client, secret_name,
               {"client_id": "app-client-id", "client_secret": "wrong-Secret-9", "tenant_id": "tenant-1"})

    outcome = pipeline.run("list_rooms", integration_id=integration_id, room_list=smtp("building-1"))

    failed_for_good(outcome, ErrorCode.AUTH_FAILED)
    assert pipeline.secrets.reads == [(secret_name, False), (secret_name, True)]


def test_delegate_writing_without_rights_is_access_denied(
    pipeline: PipelineHarness, sim: EwsSimulator
) -> None:
    # svc may only see bob's free/busy.
    integration_id = pipeline.install("delegate")

    outcome = pipeline.run("create_event", **event_kwargs(integration_id, smtp("bob")))

    failed_for_good(outcome, ErrorCode.ACCESS_DENIED)
    assert sim.calendar(smtp("bob")) == []


def test_delegate_reading_without_rights_is_access_denied(pipeline: PipelineHarness) -> None:
    # Subscribing to a calendar needs the right to read it; free/busy-only access is not that.
    pipeline.runtime.config = pipeline.runtime.config.model_copy(
        update={"callback_base_url": "https://callbacks.example.com/ews"}
    )
    integration_id = pipeline.install("delegate")

    outcome = pipeline.run("subscribe_mailbox", integration_id=integration_id, mailbox=smtp("bob"))

    failed_for_good(outcome, ErrorCode.ACCESS_DENIED)


def test_impersonation_without_the_right_is_denied(pipeline: PipelineHarness, sim: EwsSimulator) -> None:
    integration_id = pipeline.install("impersonation")
    # The service account in the secret is svc, which holds no ApplicationImpersonation right.
    put_secret(pipeline.secrets_client, f"ews/{integration_id}/service",
               {"username": smtp("svc"), "password": PASSWORDS["svc"]})

    outcome = pipeline.run("create_event", **event_kwargs(integration_id, smtp("alice")))

    failed_for_good(outcome, ErrorCode.IMPERSONATION_DENIED)
    assert sim.calendar(smtp("alice")) == []


# Transient trouble -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "code", "delay_ms"),
    [
        ({"kind": FaultKind.SERVER_BUSY, "back_off_ms": 2500}, ErrorCode.SERVER_BUSY, 2500),
        ({"kind": FaultKind.HTTP_503}, ErrorCode.EWS_UNAVAILABLE, None),
        ({"kind": FaultKind.DROP}, ErrorCode.CONNECTION_DROPPED, None),
    ],
)
def test_transient_failures_leave_the_job_retrying(
    pipeline: PipelineHarness, sim: EwsSimulator, fault: dict[str, Any], code: ErrorCode, delay_ms: int | None
) -> None:
    integration_id = pipeline.install("delegate")
    sim.faults.fail(fault.pop("kind"), operation="GetRooms", count=1, **fault)
    kwargs = {"integration_id": integration_id, "room_list": smtp("building-1")}
    job = Job("transient-1", "list_rooms", kwargs)

    with pytest.raises(RetryableError) as raised:
        run_job(pipeline.runtime, job)

    # The retry policy's back-off: 0.5-1 s after a first attempt, never less than the server asked.
    assert raised.value.code == code and raised.value.delay_ms is not None
    assert max(500, delay_ms or 0) <= raised.value.delay_ms <= max(1000, delay_ms or 0)
    record = pipeline.store.get_job("transient-1").to_outcome()
    assert record.status is JobStatus.RETRYING and record.error is not None
    assert (record.error.code, record.error.retryable) == (code, True)

    # The redelivery finds the server well again and succeeds.
    run_job(pipeline.runtime, job)
    redelivered = pipeline.store.get_job("transient-1").to_outcome()
    assert (redelivered.status, redelivered.attempts) == (JobStatus.SUCCEEDED, 2)


def test_a_transient_failure_on_the_last_delivery_fails_the_job(
    pipeline: PipelineHarness, sim: EwsSimulator
) -> None:
    integration_id = pipeline.install("delegate")
    sim.faults.fail(FaultKind.SERVER_BUSY, operation="GetRooms", count=1, back_off_ms=2500)
    job = Job("last-try", "list_rooms", {"integration_id": integration_id, "room_list": smtp("building-1")},
              final_attempt=True)

    with pytest.raises(GaveUp):  # failed for good, and for the dead-letter queue
        run_job(pipeline.runtime, job)

    record = pipeline.store.get_job("last-try").to_outcome()
    assert record.status is JobStatus.FAILED and record.error is not None
    assert record.error.code == ErrorCode.SERVER_BUSY
    assert "gave up after 1 attempt(s)" in record.error.message
