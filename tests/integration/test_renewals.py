"""The renewal schedule's Lambda over the real table: stale subscriptions get a renew job, which
re-subscribes from the watermark so that Exchange replays what the pipeline missed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from handlers import renewals
from pipeline.contract import JobStatus
from pipeline.store.records import SubscriptionStatus
from tests.integration.callback_support import MemoryQueue, PushRig, rig
from tests.integration.pipeline_support import pipeline
from tests.seed import smtp

__all__ = ["pipeline", "rig"]  # the fixtures, re-exported for pytest

ALICE, BOB = smtp("alice"), smtp("bob")


@pytest.fixture
def schedule(rig: PushRig) -> Iterator[MemoryQueue]:
    """The renewal Lambda on the test's table and clock; its jobs land in the returned queue."""
    queue = MemoryQueue()
    renewals.use_dependencies(renewals.RenewalDependencies(
        store=rig.pipeline.store, enqueue=queue, clock=rig.pipeline.runtime.clock))
    yield queue
    renewals.use_dependencies(None)


def subscribe(rig: PushRig, mailbox: str, frequency: int) -> str:
    outcome = rig.pipeline.run("subscribe_mailbox", integration_id=rig.pipeline.install("impersonation"),
                               mailbox=mailbox, status_frequency_minutes=frequency)
    assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    return outcome.result["subscription_id"]


def change(rig: PushRig, owner: str, subject: str) -> str:
    from infra.ewssim.models.items import CalendarItem

    item = rig.pipeline.sim.backend.store(owner, "calendar", CalendarItem(subject=subject))
    rig.pipeline.sim.backend.record_change(owner, item, "CreatedEvent")
    return item.item_id


def test_only_silent_subscriptions_get_a_renewal_job(rig: PushRig, schedule: MemoryQueue):
    quick = subscribe(rig, ALICE, frequency=1)
    patient = subscribe(rig, BOB, frequency=30)
    rig.server.down = True  # nothing is heard from now on
    rig.pipeline.sim.advance_clock(timedelta(minutes=3))
    assert rig.push.wait_idle()

    answer = renewals.lambda_handler({}, None)  # type: ignore[arg-type]
    again = renewals.lambda_handler({}, None)  # type: ignore[arg-type]

    assert answer["active"] == 2
    jobs = schedule.take()
    assert [(j.actor_name, j.kwargs["subscription_id"]) for j in jobs] == [("renew_subscription", quick)] * 2
    assert answer["renewals_enqueued"] == again["renewals_enqueued"]  # one job id per hour: de-duplicated
    assert patient not in str(jobs)


def test_a_scheduled_renewal_replays_what_happened_while_the_callback_was_down(rig: PushRig,
                                                                               schedule: MemoryQueue):
    old_id = subscribe(rig, ALICE, frequency=1)
    rig.server.down = True
    missed = change(rig, ALICE, "booked while nobody listened")
    for _ in range(6):  # Exchange retries for a minute, drops the subscription; 3 minutes pass
        rig.pipeline.sim.advance_clock(timedelta(seconds=30))
        assert rig.push.wait_idle()
    assert rig.push.subscriptions() == []
    rig.server.down = False

    run = renewals.lambda_handler({}, None)  # type: ignore[arg-type]
    [job] = schedule.take()
    assert run["renewals_enqueued"] == [job.message_id]
    outcome = rig.pipeline.run(job.actor_name, message_id=job.message_id, **job.kwargs)
    assert rig.push.wait_idle()
    # A replay that raced the new record's write was refused (403); Exchange retries it 30 s later.
    rig.pipeline.sim.advance_clock(timedelta(seconds=30))
    assert rig.push.wait_idle()

    assert outcome.status is JobStatus.SUCCEEDED and outcome.result["resumed_from_watermark"] is True
    new_id = outcome.result["new_subscription_id"]
    assert rig.pipeline.store.get_subscription(old_id).status is SubscriptionStatus.SUPERSEDED
    replayed = rig.queue.take("process_change")
    assert [(j.kwargs["subscription_id"], e["item_id"]) for j in replayed for e in j.kwargs["events"]] == [
        (new_id, missed)]
    # The renewed subscription is heard from again, so the next run renews nothing.
    rig.pipeline.sim.advance_clock(timedelta(minutes=1))
    assert rig.push.wait_idle()
    assert renewals.lambda_handler({}, None)["renewals_enqueued"] == []  # type: ignore[arg-type]


def test_a_subscription_marked_for_renewal_gets_a_renewal_job_though_heard_from(rig: PushRig,
                                                                              schedule: MemoryQueue):
    marked = subscribe(rig, ALICE, frequency=30)
    healthy = subscribe(rig, BOB, frequency=30)
    rig.pipeline.store.mark_subscription_for_renewal(marked, rig.pipeline.runtime.clock())

    answer = renewals.lambda_handler({}, None)  # type: ignore[arg-type]

    assert answer["active"] == 2
    jobs = schedule.take()
    assert [(j.actor_name, j.kwargs["subscription_id"]) for j in jobs] == [("renew_subscription", marked)]
    assert healthy not in str(jobs)
