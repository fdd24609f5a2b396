"""fetch_free_busy at issue 11's size: 1,000 mailboxes x 42 days in exactly 10 EWS requests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from infra.ewssim import EwsSimulator
from infra.ewssim.models import CalendarItem
from pipeline.contract import JobStatus
from tests.integration.pipeline_support import PipelineHarness, pipeline

__all__ = ["pipeline"]  # the fixture, re-exported for pytest

MONDAY = datetime(2030, 1, 7, tzinfo=UTC)
GUA = "GetUserAvailability"


def test_a_thousand_mailboxes_over_42_days_cost_ten_requests(
    pipeline: PipelineHarness, sim: EwsSimulator
) -> None:
    # Given 1,000 people, each with a meeting, one of them unknown to Exchange
    people = [f"user{i:04d}@example.com" for i in range(1000)]
    sim.seed({"users": [{"smtp": person, "name": person} for person in people[:-1]]})
    for i, person in enumerate(people[:-1]):
        start = MONDAY + timedelta(days=i % 42, hours=9)
        sim.backend.mailbox(person).put("calendar", CalendarItem(start=start, end=start + timedelta(hours=1)))
    integration_id = pipeline.install("delegate")

    # When one job asks for all of them over 42 days
    outcome = pipeline.run("fetch_free_busy", integration_id=integration_id, mailboxes=people,
                           start=MONDAY.isoformat(), end=(MONDAY + timedelta(days=42)).isoformat())

    # Then it costs 10 GetUserAvailability requests (EWS's 100 mailboxes each) and nothing else
    assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    assert sim.request_counts() == {GUA: 10}
    assert outcome.result is not None
    mailboxes = outcome.result["mailboxes"]
    assert [m["email"] for m in mailboxes] == people
    assert all(len(m["intervals"]) == 1 for m in mailboxes[:-1])
    assert mailboxes[-1]["error"]["code"] == "UNKNOWN_MAILBOX"
