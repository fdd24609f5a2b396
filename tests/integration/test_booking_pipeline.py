"""Bookings as PipelineClient sends them, run by a real dramatiq worker on an in-process broker over
the simulator: one job (book: create_event with send_invitations), or create_event | send_invite
as one dramatiq pipeline (create_then_invite), for apps that hold an event before inviting."""

from __future__ import annotations

from collections.abc import Iterator

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker

from pipeline.client import PipelineClient
from pipeline.contract import JobStatus
from pipeline.errors import ErrorCode
from pipeline.runtimes.actors import JOBS_QUEUE, declare_actors
from pipeline.runtimes.broker import worker_middleware
from tests.integration.event_support import ALICE, BOB, MEETING_REQUEST, booking, messages, stamped
from tests.integration.pipeline_support import PipelineHarness, pipeline

__all__ = ["pipeline"]  # the fixture, re-exported for pytest

JOIN_TIMEOUT_MS = 20_000


@pytest.fixture
def broker(pipeline: PipelineHarness) -> Iterator[StubBroker]:
    stub = StubBroker(middleware=worker_middleware())
    declare_actors(stub, lambda: pipeline.runtime)
    worker = dramatiq.Worker(stub, worker_threads=2, worker_timeout=50)
    worker.start()
    yield stub
    worker.stop()
    stub.close()


def _drain(broker: StubBroker) -> None:
    # A permanent failure is dead-lettered on purpose; that must not fail the join.
    broker.join(JOBS_QUEUE, timeout=JOIN_TIMEOUT_MS, fail_fast=False)


def test_a_booking_is_one_job_and_one_request(pipeline: PipelineHarness, broker: StubBroker) -> None:
    integration_id = pipeline.install("delegate")
    client = PipelineClient(broker)
    booked = client.send(client.book(booking(integration_id)))
    _drain(broker)

    job = pipeline.store.get_job(booked.message_id)
    assert job is not None and job.status is JobStatus.SUCCEEDED, job and job.error_message
    assert len(stamped(pipeline.sim, ALICE, "interview-1:slot-1")) == 1
    assert len(messages(pipeline.sim, BOB, MEETING_REQUEST)) == 1
    assert pipeline.sim.request_counts() == {"CreateItem": 1}
    record = pipeline.store.get_booking(integration_id, "interview-1:slot-1")
    assert record is not None and record.state.value == "invited"


def test_a_booking_pipeline_creates_then_invites(pipeline: PipelineHarness, broker: StubBroker) -> None:
    integration_id = pipeline.install("delegate")
    booked = PipelineClient(broker).create_then_invite(booking(integration_id)).run()
    _drain(broker)

    create, invite = (pipeline.store.get_job(message.message_id) for message in booked.messages)
    assert create is not None and create.status is JobStatus.SUCCEEDED
    assert invite is not None and invite.status is JobStatus.SUCCEEDED, invite.error_message
    assert len(stamped(pipeline.sim, ALICE, "interview-1:slot-1")) == 1
    assert len(messages(pipeline.sim, BOB, MEETING_REQUEST)) == 1
    assert pipeline.sim.request_counts() == {"CreateItem": 1, "UpdateItem": 1}


def test_a_failed_create_stops_the_pipeline(pipeline: PipelineHarness, broker: StubBroker) -> None:
    integration_id = pipeline.install("delegate")
    # svc may only see bob's free/busy: the create fails for good and nothing is sent.
    booked = PipelineClient(broker).create_then_invite(
        booking(integration_id, mailbox=BOB, required_attendees=[])).run()
    _drain(broker)

    create = pipeline.store.get_job(booked.messages[0].message_id)
    assert create is not None and create.status is JobStatus.FAILED
    assert create.error_code is ErrorCode.ACCESS_DENIED and create.attempts == 1
    assert pipeline.store.get_job(booked.messages[1].message_id) is None
    assert pipeline.sim.request_counts() == {"CreateItem": 1}
