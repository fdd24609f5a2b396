"""Graph change notifications end to end: subscribe_mailbox on a Graph integration makes the local
Graph handshake against the callback Lambda served over HTTP; a change reaches the callback, its
process_change job runs; lifecycle notifications renew, re-create and sync."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from handlers import callbacks
from infra.ewssim.models.items import CalendarItem
from infra.graphsim.responses.subscriptions import SubscriptionPlugin, plugin_of
from pipeline.contract import JobOutcome, JobStatus
from pipeline.exchange.graph.subscriptions import MAX_LIFETIME
from pipeline.store.records import SubscriptionStatus
from tests.integration.callback_support import CallbackServer, MemoryQueue
from tests.integration.graph_support import graph_sim, graph_simulator
from tests.integration.pipeline_support import PipelineHarness, graph_pipeline
from tests.seed import smtp

__all__ = ["graph_pipeline", "graph_sim", "graph_simulator"]  # the fixtures, for pytest

ALICE = smtp("alice")


@dataclass
class GraphRig:
    pipeline: PipelineHarness
    server: CallbackServer
    queue: MemoryQueue
    graph: SubscriptionPlugin


@pytest.fixture
def graph_rig(graph_pipeline: PipelineHarness) -> Iterator[GraphRig]:
    server = CallbackServer()
    queue = MemoryQueue()
    runtime = graph_pipeline.runtime
    runtime.config = runtime.config.model_copy(update={"callback_base_url": server.base_url})
    runtime.clock = graph_pipeline.sim.backend.clock.now
    graph_pipeline.enqueue = queue
    callbacks.use_dependencies(
        callbacks.CallbackDependencies(store=runtime.store, enqueue=queue, clock=runtime.clock))
    try:
        yield GraphRig(graph_pipeline, server, queue, plugin_of(graph_pipeline.sim.graph))
    finally:
        callbacks.use_dependencies(None)
        server.close()


def result(outcome: JobOutcome) -> dict[str, Any]:
    assert outcome.result is not None, outcome.error
    return outcome.result


def subscribe(rig: GraphRig) -> str:
    integration_id = rig.pipeline.install("impersonation", "oauth2", backend="graph")
    outcome = rig.pipeline.run("subscribe_mailbox", integration_id=integration_id, mailbox=ALICE)
    assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    return str(result(outcome)["subscription_id"])


def test_a_change_reaches_process_change_and_the_app(graph_rig: GraphRig):
    # Given a Graph subscription, made after the handshake against the callback
    record_id = subscribe(graph_rig)
    record = graph_rig.pipeline.store.get_subscription(record_id)
    [live] = graph_rig.graph.subscriptions()
    assert [(a.kind, a.delivered) for a in graph_rig.graph.webhooks.attempts] == [("validation", True)] * 2
    assert (record.backend, record.subscription_id, record.watermark) == ("graph", live.subscription_id, "")
    now = graph_rig.pipeline.runtime.clock()
    assert now + MAX_LIFETIME - timedelta(hours=1) < record.expires_at <= now + MAX_LIFETIME
    assert live.client_state and live.client_state not in str(record)  # only its hash is stored

    # When someone else's event is made in alice's calendar (through EWS)
    backend = graph_rig.pipeline.sim.backend
    start = (now + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    item = backend.store(ALICE, "calendar", CalendarItem(subject="Dentist", start=start,
                                                         end=start + timedelta(hours=1)))
    backend.record_change(ALICE, item, "CreatedEvent")
    assert graph_rig.graph.wait_idle()

    # Then the callback enqueued its process_change job, which finds it foreign and syncs
    [job] = graph_rig.queue.take("process_change")
    assert job.kwargs["subscription_id"] == record_id
    outcome = graph_rig.pipeline.run("process_change", message_id=job.message_id, **job.kwargs)
    assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    assert result(outcome)["processed"] == 1
    [sync] = graph_rig.queue.take("sync_calendar")
    synced = graph_rig.pipeline.run("sync_calendar", message_id=sync.message_id, **sync.kwargs)
    assert synced.status is JobStatus.SUCCEEDED, synced.error
    assert result(synced)["changed"] >= 1  # the app hears of it as calendar.event_changed


def test_lifecycle_notifications_renew_recreate_and_sync(graph_rig: GraphRig):
    record_id = subscribe(graph_rig)
    store = graph_rig.pipeline.store
    old = store.get_subscription(record_id)
    counts = graph_rig.pipeline.sim.graph.request_counts

    # reauthorizationRequired: renewed in place (one PATCH), the record lives on
    graph_rig.pipeline.sim.advance_clock(timedelta(minutes=10))
    assert graph_rig.graph.send_lifecycle(old.subscription_id, "reauthorizationRequired").status == 202
    [renew] = graph_rig.queue.take("renew_subscription")
    renewed = graph_rig.pipeline.run("renew_subscription", message_id=renew.message_id, **renew.kwargs)
    assert renewed.result == {"old_subscription_id": record_id, "new_subscription_id": record_id,
                              "renewed": True, "resumed_from_watermark": True}
    extended = store.get_subscription(record_id)
    assert extended.expires_at > old.expires_at and extended.renewal_requested_at is None
    assert counts()["updateSubscription"] == 1

    # missed: a sync of the mailbox
    graph_rig.graph.send_lifecycle(old.subscription_id, "missed")
    [sync] = graph_rig.queue.take()
    assert sync.actor_name == "sync_calendar"
    assert graph_rig.pipeline.run("sync_calendar", message_id=sync.message_id, **sync.kwargs).status \
        is JobStatus.SUCCEEDED

    # subscriptionRemoved: the renewal finds it gone and creates a new one
    graph_rig.graph.send_lifecycle(old.subscription_id, "subscriptionRemoved")
    [renew] = graph_rig.queue.take("renew_subscription")
    recreated = graph_rig.pipeline.run("renew_subscription", message_id=renew.message_id, **renew.kwargs)
    assert recreated.status is JobStatus.SUCCEEDED, recreated.error
    assert result(recreated)["renewed"] is True and result(recreated)["resumed_from_watermark"] is False
    new = store.get_subscription(result(recreated)["new_subscription_id"])
    assert store.get_subscription(record_id).status is SubscriptionStatus.SUPERSEDED
    assert [s.subscription_id for s in graph_rig.graph.subscriptions()] == [new.subscription_id]
    assert new.token_hash != old.token_hash and new.backend == "graph"
    # what changed while it was gone is found by a sync
    assert [j.actor_name for j in graph_rig.queue.take()] == ["sync_calendar"]


def test_the_schedule_renews_a_graph_subscription_a_day_before_it_expires(graph_rig: GraphRig):
    from handlers import renewals

    record_id = subscribe(graph_rig)
    queue = MemoryQueue()
    renewals.use_dependencies(renewals.RenewalDependencies(
        store=graph_rig.pipeline.store, enqueue=queue, clock=graph_rig.pipeline.runtime.clock))
    try:
        assert renewals.lambda_handler({}, None)["renewals_enqueued"] == []  # type: ignore[arg-type]
        graph_rig.pipeline.sim.advance_clock(MAX_LIFETIME - timedelta(hours=23))
        run = renewals.lambda_handler({}, None)  # type: ignore[arg-type]
        [job] = queue.take()
        assert run["renewals_enqueued"] == [job.message_id]
    finally:
        renewals.use_dependencies(None)

    # (the app's token has expired by now: the pipeline's msal cache asks for a new one)
    outcome = graph_rig.pipeline.run(job.actor_name, message_id=job.message_id, **job.kwargs)

    assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    assert result(outcome)["new_subscription_id"] == record_id
    record = graph_rig.pipeline.store.get_subscription(record_id)
    assert record.expires_at - graph_rig.pipeline.runtime.clock() > timedelta(days=6)
