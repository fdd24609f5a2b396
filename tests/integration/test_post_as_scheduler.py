"""post_as_scheduler (SmartRecruiters' "use scheduler's name"): with impersonation, a booking that
names its scheduler is the scheduler's own meeting, and every follow-up keeps working on it."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.contract import JobStatus
from pipeline.errors import ErrorCode, PermanentError
from pipeline.integrations import load_integration
from tests.integration.event_support import (
    ALICE,
    BOB,
    CAROL,
    MEETING_CANCELLED,
    MEETING_REQUEST,
    booking,
    follow_up,
    messages,
    stamped,
)
from tests.integration.pipeline_support import PipelineHarness, pipeline

__all__ = ["pipeline"]  # the fixture, re-exported for pytest

KEY = "interview-1:slot-1"
SCHEDULER = CAROL  # the recruiter who booked alice's interview with bob


def scheduled(integration_id: str) -> dict[str, Any]:
    return booking(integration_id, optional_attendees=[], rooms=[], scheduler=SCHEDULER)


def run(pipeline: PipelineHarness, action: str, **kwargs: Any) -> Any:
    outcome = pipeline.run(action, **kwargs)
    assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    return outcome


def test_the_event_is_the_schedulers_own_and_the_invitations_come_from_them(
    pipeline: PipelineHarness,
) -> None:
    integration_id = pipeline.install("impersonation", post_as_scheduler=True)

    created = run(pipeline, "create_event", **scheduled(integration_id))
    run(pipeline, "send_invite", **follow_up(integration_id))

    assert created.result["calendar_mailbox"] == SCHEDULER
    [event] = stamped(pipeline.sim, SCHEDULER, KEY)  # organised in, and by, the scheduler's mailbox
    assert event["organizer"] == SCHEDULER
    assert stamped(pipeline.sim, ALICE, KEY) == []  # alice's calendar holds only her invitation's copy
    for invited in (ALICE, BOB):  # the person the booking is for is invited like the candidate
        [request] = messages(pipeline.sim, invited, MEETING_REQUEST)
        assert request["sender"] == SCHEDULER, request
    record = pipeline.store.get_booking(integration_id, KEY)
    assert (record.mailbox, record.calendar_mailbox) == (ALICE, SCHEDULER)


def test_update_and_cancel_keep_working_on_the_schedulers_event(pipeline: PipelineHarness) -> None:
    integration_id = pipeline.install("impersonation", post_as_scheduler=True)
    run(pipeline, "create_event", **scheduled(integration_id))
    run(pipeline, "send_invite", **follow_up(integration_id))
    later = "2026-11-04T14:00:00+00:00"

    run(pipeline, "update_event", **follow_up(integration_id, start=later, end="2026-11-04T15:00:00+00:00",
                                             notify=True))
    [event] = stamped(pipeline.sim, SCHEDULER, KEY)
    assert event["start"].startswith("2026-11-04T14:00")
    assert len(messages(pipeline.sim, BOB, MEETING_REQUEST)) == 2  # the invitation, then the update

    run(pipeline, "cancel_event", **follow_up(integration_id, notify=True))
    assert stamped(pipeline.sim, SCHEDULER, KEY) == []
    assert len(messages(pipeline.sim, BOB, MEETING_CANCELLED)) == 1


def test_off_the_event_is_written_as_today_whoever_scheduled_it(pipeline: PipelineHarness) -> None:
    integration_id = pipeline.install("impersonation")

    created = run(pipeline, "create_event", **scheduled(integration_id))

    assert created.result["calendar_mailbox"] == ALICE
    assert len(stamped(pipeline.sim, ALICE, KEY)) == 1 and stamped(pipeline.sim, SCHEDULER, KEY) == []


@pytest.mark.parametrize("method", ["personal", "dedicated", "delegate"])
def test_on_without_impersonation_the_integration_is_refused_when_saved(
    pipeline: PipelineHarness, method: str
) -> None:
    raw = {**pipeline.installed[pipeline.install(method)], "post_as_scheduler": True}

    with pytest.raises(PermanentError) as refused:
        load_integration(raw)

    assert refused.value.code is ErrorCode.INVALID_INTEGRATION
    assert "post_as_scheduler needs the impersonation connection method" in refused.value.message


def test_without_a_scheduler_the_job_books_as_it_would_without_the_setting(
    pipeline: PipelineHarness,
) -> None:
    integration_id = pipeline.install("impersonation", post_as_scheduler=True)
    created = run(pipeline, "create_event", **booking(integration_id))
    assert created.result["calendar_mailbox"] == ALICE


def test_a_booking_in_one_job_is_sent_by_the_scheduler_in_one_request(pipeline: PipelineHarness) -> None:
    integration_id = pipeline.install("impersonation", post_as_scheduler=True)
    before = pipeline.sim.request_counts().get("CreateItem", 0)

    created = run(pipeline, "create_event", **scheduled(integration_id), send_invitations=True)

    assert pipeline.sim.request_counts().get("CreateItem", 0) - before == 1
    assert "UpdateItem" not in pipeline.sim.request_counts()
    assert created.result["calendar_mailbox"] == SCHEDULER and created.result["invited"] is True
    [event] = stamped(pipeline.sim, SCHEDULER, KEY)
    assert event["organizer"] == SCHEDULER
    for invited in (ALICE, BOB):
        [request] = messages(pipeline.sim, invited, MEETING_REQUEST)
        assert request["sender"] == SCHEDULER, request
    record = pipeline.store.get_booking(integration_id, KEY)
    assert (record.mailbox, record.calendar_mailbox) == (ALICE, SCHEDULER)
    assert set(record.invites_sent_to) == {ALICE, BOB}
    # The follow-ups reach the scheduler's event: send_invite finds it invited and sends nothing.
    assert run(pipeline, "send_invite", **follow_up(integration_id)).result["already_sent"] is True
    assert len(messages(pipeline.sim, BOB, MEETING_REQUEST)) == 1
