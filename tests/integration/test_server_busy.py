"""ErrorServerBusy's BackOffMilliseconds becomes the job's retry delay, in both of Exchange's forms.

Exchange throttles with an HTTP 500 SOAP fault, or with an HTTP 200 whose ResponseMessage says
ErrorServerBusy (issue 9). Either way the job is left retrying and run_job raises the
RetryableError whose delay_ms the runtimes use for the redelivery (dramatiq's Retry delay, the
SQS visibility timeout): it must be the server's back-off, not exchangelib's 10 s or none.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from exchangelib import FaultTolerance
from exchangelib.errors import RateLimitError
from exchangelib.protocol import close_connections

from infra.ewssim import EwsSimulator, FaultKind
from pipeline.contract import JobStatus
from pipeline.errors import ErrorCode, RetryableError
from pipeline.exchange.ews.errors import to_pipeline_error
from pipeline.runtimes.runner import Job, run_job
from tests.integration.event_support import ALICE, BOB, booking, follow_up
from tests.integration.ewssim.conftest import build_account
from tests.integration.pipeline_support import PipelineHarness, pipeline
from tests.seed import smtp

__all__ = ["pipeline"]  # the fixture, re-exported for pytest

BACK_OFF_MS = 30_000
MONDAY = datetime(2030, 1, 7, tzinfo=UTC)


def free_busy(integration_id: str) -> dict[str, Any]:
    return {
        "integration_id": integration_id,
        "mailboxes": [ALICE, BOB],
        "start": MONDAY.isoformat(),
        "end": (MONDAY + timedelta(days=1)).isoformat(),
    }


def mailbox_job(integration_id: str) -> dict[str, Any]:
    return {"integration_id": integration_id, "mailbox": ALICE}


def booked(pipeline: PipelineHarness, integration_id: str) -> None:
    """The booking that update_event and cancel_event act on, created by its own job."""
    created = pipeline.run("create_event", **booking(integration_id))
    assert created.status is JobStatus.SUCCEEDED, created.error


@dataclass(frozen=True)
class Case:
    action: str
    operation: str  # the EWS request that is throttled
    kwargs: Callable[[str], dict[str, Any]]
    before: Callable[[PipelineHarness, str], None] | None = None

    def __str__(self) -> str:
        return f"{self.action}-{self.operation}"


CASES = [
    Case("create_event", "CreateItem", booking),
    Case("fetch_free_busy", "GetUserAvailability", free_busy),
    Case("update_event", "UpdateItem", lambda i: follow_up(i, subject="Moved"), booked),
    Case("cancel_event", "DeleteItem", follow_up, booked),
    Case("list_rooms", "GetRooms", lambda i: {"integration_id": i, "room_list": smtp("building-1")}),
    Case("list_rooms", "GetRoomLists", lambda i: {"integration_id": i}),
    Case("sync_calendar", "SyncFolderItems", mailbox_job),
    Case("check_connection", "ConvertId", mailbox_job),
    Case("check_connection", "GetFolder", mailbox_job),
]


@pytest.mark.parametrize("form", [FaultKind.SERVER_BUSY, FaultKind.SERVER_BUSY_MESSAGE], ids=str)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_back_off_milliseconds_is_the_retry_delay(
    pipeline: PipelineHarness, sim: EwsSimulator, case: Case, form: FaultKind
) -> None:
    # Given a throttled operation that the job needs
    integration_id = pipeline.install("delegate")
    if case.before is not None:
        case.before(pipeline, integration_id)
    sim.faults.fail(form, operation=case.operation, count=1, back_off_ms=BACK_OFF_MS)
    job = Job(f"busy-{case}", case.action, case.kwargs(integration_id))

    # When the job runs
    with pytest.raises(RetryableError) as raised:
        run_job(pipeline.runtime, job)

    # Then the server answered in the form asked for, and the job waits as long as it said
    answered = sim.request_log(case.operation)[-1]
    assert (answered.status, answered.code) == (
        500 if form is FaultKind.SERVER_BUSY else 200,
        "ErrorServerBusy",
    )
    assert raised.value.code is ErrorCode.SERVER_BUSY
    assert raised.value.delay_ms is not None and raised.value.delay_ms >= BACK_OFF_MS
    record = pipeline.store.get_job(job.message_id).to_outcome()
    assert record.status is JobStatus.RETRYING and record.error is not None
    assert (record.error.code, record.error.retryable) == (ErrorCode.SERVER_BUSY, True)


# exchangelib's own retry policy honours the value in either form --------------------------------


@pytest.fixture
def fresh_protocols() -> Iterator[None]:
    close_connections()  # a cached Protocol would keep another test's retry policy
    yield
    close_connections()


@pytest.mark.parametrize("form", [FaultKind.SERVER_BUSY, FaultKind.SERVER_BUSY_MESSAGE], ids=str)
def test_fault_tolerance_gives_up_on_a_back_off_past_its_patience(
    sim: EwsSimulator, fresh_protocols: None, form: FaultKind
) -> None:
    # Before the fix the message form backed off exchangelib's 10 s instead, and retried.
    sim.faults.fail(form, operation="ResolveNames", count=1, back_off_ms=BACK_OFF_MS)
    account = build_account(sim, "alice", retry_policy=FaultTolerance(max_wait=20))

    with pytest.raises(RateLimitError) as raised:
        account.protocol.resolve_names(["bob"])

    assert raised.value.wait == BACK_OFF_MS / 1000
    mapped = to_pipeline_error(raised.value, "ResolveNames")
    assert isinstance(mapped, RetryableError)
    assert (mapped.code, mapped.delay_ms) == (ErrorCode.SERVER_BUSY, BACK_OFF_MS)
    assert sim.request_counts() == {"ResolveNames": 1}


@pytest.mark.parametrize("form", [FaultKind.SERVER_BUSY, FaultKind.SERVER_BUSY_MESSAGE], ids=str)
def test_fault_tolerance_waits_the_back_off_then_retries(
    sim: EwsSimulator, fresh_protocols: None, form: FaultKind
) -> None:
    sim.faults.fail(form, operation="ResolveNames", count=1, back_off_ms=300)
    account = build_account(sim, "alice", retry_policy=FaultTolerance(max_wait=20))
    started = time.monotonic()

    [resolved] = account.protocol.resolve_names(["bob"])

    assert resolved.email_address == BOB
    assert time.monotonic() - started >= 0.3
    assert [r.code for r in sim.request_log("ResolveNames")] == ["ErrorServerBusy", "NoError"]
