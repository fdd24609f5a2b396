"""sync_calendar: a mailbox's existing events reach the app, then only what changed; bookings are
left to booking.* events; titles follow show_event_titles and never leave a private event."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import boto3
from exchangelib import CalendarItem, EWSDateTime, EWSTimeZone

from pipeline.contract import JobOutcome, JobStatus
from pipeline.events.models import EventType, PipelineEvent
from pipeline.store.dynamodb.keys import calendar_sync_key
from tests.integration.event_support import ALICE, booking
from tests.integration.pipeline_support import PipelineHarness, pipeline

__all__ = ["pipeline"]  # the fixture, re-exported for pytest

START = EWSDateTime(2026, 11, 10, 9, tzinfo=EWSTimeZone("UTC"))


def sync(pipeline: PipelineHarness, integration_id: str, **extra: Any) -> JobOutcome:
    outcome = pipeline.run("sync_calendar", integration_id=integration_id, mailbox=ALICE, **extra)
    assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    return outcome


def events(pipeline: PipelineHarness, *types: EventType) -> list[PipelineEvent]:
    return [e for e in pipeline.store.list_pending_events(limit=1000) if e.type in types]


def meeting(account: Any, subject: str, hours: int = 0, **fields: Any) -> CalendarItem:
    alice = account("alice")
    item = CalendarItem(account=alice, folder=alice.calendar, subject=subject,
                        start=START + timedelta(hours=hours), end=START + timedelta(hours=hours, minutes=30),
                        **fields)
    item.save()
    return item


def requests(pipeline: PipelineHarness, before: dict[str, int]) -> dict[str, int]:
    after = pipeline.sim.request_counts()
    return {op: n - before.get(op, 0) for op, n in after.items() if n != before.get(op, 0)}


def test_the_first_sync_reports_every_existing_event_then_only_changes(
    pipeline: PipelineHarness, account: Any
) -> None:
    integration_id = pipeline.install("impersonation", show_event_titles=True)
    pipeline.run("create_event", **booking(integration_id))
    existing = {meeting(account, f"Standup {n}", hours=n).id for n in range(5)}
    before = dict(pipeline.sim.request_counts())

    first = sync(pipeline, integration_id, page_size=2)

    assert first.result is not None
    assert (first.result["changed"], first.result["bookings_skipped"]) == (5, 1)
    assert first.result["complete"] is True and first.result["restarted"] is True
    assert first.result["pages"] == 3  # six items, two per page
    assert requests(pipeline, before) == {"SyncFolderItems": 3}
    changed = events(pipeline, EventType.CALENDAR_EVENT_CHANGED)
    assert {e.data["item_id"] for e in changed} == existing
    assert all(e.data["subject"].startswith("Standup") for e in changed)  # titles shown
    assert all(e.booking_key is None and e.data["mailbox"] == ALICE for e in changed)

    # Later runs report only what changed since: an edit, a new one, a deletion.
    alice = account("alice")
    moved = alice.calendar.get(id=sorted(existing)[0])
    moved.start, moved.end = moved.start + timedelta(days=1), moved.end + timedelta(days=1)
    moved.save(update_fields=["start", "end"])
    new = meeting(account, "Lunch", hours=6)
    gone_id = sorted(existing)[1]
    alice.calendar.get(id=gone_id).delete()

    second = sync(pipeline, integration_id)
    assert second.result is not None
    assert (second.result["changed"], second.result["deleted"], second.result["restarted"]) == (2, 1, False)
    [deleted] = events(pipeline, EventType.CALENDAR_EVENT_DELETED)
    assert deleted.data["item_id"] == gone_id
    reported = {e.data["item_id"] for e in events(pipeline, EventType.CALENDAR_EVENT_CHANGED)}
    assert reported == existing | {new.id}
    assert sync(pipeline, integration_id).result["changed"] == 0


def test_titles_are_left_out_unless_shown_and_never_for_a_private_event(
    pipeline: PipelineHarness, account: Any
) -> None:
    hidden = pipeline.install("impersonation", integration_id="hidden-titles")
    shown = pipeline.install("impersonation", integration_id="shown-titles", show_event_titles=True)
    meeting(account, "Quarterly review")
    meeting(account, "Doctor", hours=2, sensitivity="Private")

    sync(pipeline, hidden)
    sync(pipeline, shown)

    by_integration: dict[str, dict[bool, Any]] = {}
    for event in events(pipeline, EventType.CALENDAR_EVENT_CHANGED):
        by_integration.setdefault(event.integration_id, {})[event.data["is_private"]] = event.data["subject"]
    assert by_integration[hidden] == {False: None, True: None}
    assert by_integration[shown] == {False: "Quarterly review", True: None}


def test_a_state_exchange_refuses_starts_the_sync_over(pipeline: PipelineHarness, account: Any) -> None:
    integration_id = pipeline.install("impersonation")
    meeting(account, "Standup")
    sync(pipeline, integration_id)
    client_key = {k: {"S": v} for k, v in calendar_sync_key(integration_id, ALICE).items()}
    dynamodb = boto3.client("dynamodb", region_name=pipeline.runtime.config.aws_region)  # the harness's moto
    dynamodb.update_item(TableName=pipeline.runtime.config.table_name, Key=client_key,
                         UpdateExpression="SET sync_state = :bad",
                         ExpressionAttributeValues={":bad": {"S": "bm90IGEgc3luYyBzdGF0ZQ=="}})

    again = sync(pipeline, integration_id)

    assert again.result is not None and again.result["restarted"] is True
    assert again.result["changed"] == 1
    # The same unchanged event is reported under the same id: an app deduplicates it.
    changed = events(pipeline, EventType.CALENDAR_EVENT_CHANGED)
    assert len(changed) == 1


def test_restart_reports_everything_again(pipeline: PipelineHarness, account: Any) -> None:
    integration_id = pipeline.install("impersonation")
    meeting(account, "Standup")
    sync(pipeline, integration_id)
    again = sync(pipeline, integration_id, restart=True)
    assert again.result is not None and (again.result["changed"], again.result["restarted"]) == (1, True)
