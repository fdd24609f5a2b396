"""A job's success recorded in its action's last write: all or nothing with that write, and
refused, with nothing written, when another delivery has taken the job over meanwhile."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pipeline.contract import JobStatus
from pipeline.errors import ErrorCode, PermanentError
from pipeline.runtimes.runner import Job, run_job
from pipeline.store.records import BookingRecord, JobCompletion
from tests.integration.event_support import ALICE, booking, stamped
from tests.integration.pipeline_support import PipelineHarness, pipeline

__all__ = ["pipeline"]  # the fixture, re-exported for pytest

KEY = "interview-1:slot-1"


def pending_claim(integration_id: str, claimed_by: str) -> BookingRecord:
    return BookingRecord(integration_id=integration_id, booking_key=KEY, mailbox=ALICE,
                         calendar_mailbox=ALICE, item_id="", change_key="",
                         updated_at=datetime.now(UTC), claimed_by=claimed_by)


def test_a_completion_is_refused_with_its_write_when_the_job_is_no_longer_running(
    pipeline: PipelineHarness,
) -> None:
    store = pipeline.store
    now = datetime.now(UTC)
    store.begin_job("m-1", "create_event", "acme", ALICE, now)
    store.fail_job("m-1", ErrorCode.SERVER_BUSY, "busy", retryable=True, now=now)  # handed back
    store.claim_booking(pending_claim("acme", "m-1"))
    recorded = replace(pending_claim("acme", "m-1"), item_id="AAMk1", change_key="CK1", claimed_by=None)

    with pytest.raises(PermanentError) as refused:
        store.put_booking(recorded, completes=JobCompletion("m-1", {"item_id": "AAMk1"}, now))

    assert refused.value.code is ErrorCode.DUPLICATE_DELIVERY
    assert "retrying, not running" in refused.value.message
    record = store.get_booking("acme", KEY)
    assert record is not None and record.pending  # the booking write was not made either
    job = store.get_job("m-1")
    assert job is not None and job.status is JobStatus.RETRYING and job.result is None


def test_a_completion_commits_with_its_write(pipeline: PipelineHarness) -> None:
    store = pipeline.store
    now = datetime.now(UTC)
    store.begin_job("m-1", "create_event", "acme", ALICE, now)
    store.claim_booking(pending_claim("acme", "m-1"))
    recorded = replace(pending_claim("acme", "m-1"), item_id="AAMk1", change_key="CK1", claimed_by=None)

    store.put_booking(recorded, completes=JobCompletion("m-1", {"item_id": "AAMk1"}, now))

    job = store.get_job("m-1")
    assert job is not None and (job.status, job.result, job.lease_expires_at) == (
        JobStatus.SUCCEEDED, {"item_id": "AAMk1"}, None)
    assert store.get_booking("acme", KEY).item_id == "AAMk1"


def test_a_create_taken_over_before_its_last_write_is_recorded_once_by_the_delivery_that_finishes(
    pipeline: PipelineHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a create_event whose worker stalls past its lease after its CreateItem, so that
    # another delivery takes the job over (and hands it back, a transient failure) before the
    # stalled one writes its outcome
    integration_id = pipeline.install("delegate")
    store = pipeline.store
    lease = timedelta(seconds=pipeline.runtime.config.job_lease_seconds)
    started = datetime.now(UTC)
    pipeline.runtime.clock = lambda: started
    put_booking = store.put_booking

    def stalled(record: Any, *args: Any, **kwargs: Any) -> None:
        later = started + lease + timedelta(seconds=1)
        store.begin_job("c-1", "create_event", integration_id, ALICE, later)
        store.fail_job("c-1", ErrorCode.SERVER_BUSY, "server busy", retryable=True, now=later)
        put_booking(record, *args, **kwargs)

    monkeypatch.setattr(store, "put_booking", stalled)

    # When the stalled delivery comes back to write
    with pytest.raises(PermanentError) as refused:
        run_job(pipeline.runtime, Job("c-1", "create_event", booking(integration_id)))

    # Then nothing of it is recorded: not the booking, not a failure; the record is the other's
    assert refused.value.code is ErrorCode.DUPLICATE_DELIVERY
    job = store.get_job("c-1")
    assert job is not None and (job.status, job.attempts, job.error_code) == (
        JobStatus.RETRYING, 2, ErrorCode.SERVER_BUSY)
    claim = store.get_booking(integration_id, KEY)
    assert claim is not None and claim.pending
    assert store.list_pending_events() == []

    # And when the job's next delivery runs it, it finds the item the stalled one created and
    # records it: one item, one booking.created, the job succeeded
    monkeypatch.setattr(store, "put_booking", put_booking)
    pipeline.runtime.clock = lambda: started + lease + timedelta(seconds=5)
    outcome = pipeline.run("create_event", message_id="c-1", **booking(integration_id))

    assert (outcome.status, outcome.attempts) == (JobStatus.SUCCEEDED, 3), outcome.error
    assert outcome.result is not None and outcome.result["created"] is False
    assert len(stamped(pipeline.sim, ALICE, KEY)) == 1
    assert [event.type for event in store.list_pending_events()] == ["booking.created"]
