"""The callback Lambda's Microsoft Graph webhooks (/graph/notifications, /graph/lifecycle), over HTTP.

Handler level: Graph subscription records are put in the table and the POSTs Graph would send are
made by hand (the simulator's side is tests/integration/graphsim/test_subscriptions.py, the whole
path tests/integration/test_graph_push.py).
"""

from __future__ import annotations

import json
import logging
import urllib.parse
import uuid
from datetime import timedelta
from typing import Any

import pytest

from handlers import callbacks
from pipeline.store.records import SubscriptionRecord, SubscriptionStatus
from pipeline.subscriptions import hash_token, new_callback_token
from tests.integration.callback_support import PushRig, rig
from tests.integration.pipeline_support import pipeline
from tests.seed import smtp

__all__ = ["pipeline", "rig"]  # the fixtures, re-exported for pytest

ALICE = smtp("alice")
VALIDATION = "Validation: Testing client application reachability for subscription Request-Id: 5d6c-41"


def graph_record(
    rig: PushRig, *, status: SubscriptionStatus = SubscriptionStatus.ACTIVE
) -> tuple[SubscriptionRecord, str]:
    """A Graph subscription's record on alice's calendar, as subscribe_mailbox stores it; and its token."""
    token = new_callback_token()
    now = rig.pipeline.runtime.clock()
    record = SubscriptionRecord(
        record_id=f"sub-{uuid.uuid4().hex[:32]}", subscription_id=str(uuid.uuid4()),
        integration_id=rig.pipeline.install("delegate"), mailbox=ALICE, token_hash=hash_token(token),
        watermark="", status_frequency_minutes=30, created_at=now, last_seen_at=now, status=status,
        backend="graph", expires_at=now + timedelta(days=7),
    )
    rig.pipeline.store.put_subscription(record)
    return record, token


def change(record: SubscriptionRecord, client_state: str, change_type: str = "updated",
           item_id: str = "AAMkAGI2-event_1", etag: str = 'W/"DwAAABYAAAA"') -> dict[str, Any]:
    data: dict[str, Any] = {"@odata.type": "#Microsoft.Graph.Event", "@odata.id": f"Users/u/Events/{item_id}",
                            "id": item_id}
    if etag:
        data["@odata.etag"] = etag
    return {"subscriptionId": record.subscription_id,
            "subscriptionExpirationDateTime": "2030-01-08T00:00:00Z", "changeType": change_type,
            "resource": f"Users/u/Events/{item_id}", "resourceData": data,
            "clientState": client_state, "tenantId": "tenant-1"}


def lifecycle(record: SubscriptionRecord, client_state: str, event: str) -> dict[str, Any]:
    return {"subscriptionId": record.subscription_id, "lifecycleEvent": event, "clientState": client_state,
            "subscriptionExpirationDateTime": "2030-01-08T00:00:00Z", "tenantId": "tenant-1"}


def post(rig: PushRig, path: str, *items: dict[str, Any]) -> tuple[int, bytes]:
    return rig.server.post(path, json.dumps({"value": list(items)}).encode())


class Untouchable:
    """A store and a queue that fail the test when used: the handshake must touch nothing."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the validation handshake used {name}")

    def __call__(self, *args: Any, **kwargs: Any) -> str:
        raise AssertionError("the validation handshake enqueued a job")


# The validation handshake ------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/graph/notifications", "/graph/lifecycle"])
def test_the_handshake_echoes_the_decoded_token_as_plain_text_and_touches_nothing(rig: PushRig, path):
    nothing = Untouchable()
    callbacks.use_dependencies(callbacks.CallbackDependencies(store=nothing, enqueue=nothing))  # type: ignore[arg-type]
    query = urllib.parse.urlencode({"validationToken": VALIDATION})

    status, headers, body = rig.server._send(urllib.request.Request(
        f"{rig.server.base_url}{path}?{query}", data=b"", method="POST",
        headers={"Content-Type": "text/plain; charset=utf-8"}))

    assert (status, body.decode()) == (200, VALIDATION)
    assert headers["Content-Type"].startswith("text/plain")
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_a_handshake_token_with_markup_is_refused(rig: PushRig):
    query = urllib.parse.urlencode({"validationToken": "<script>alert(1)</script>"})

    status, body = rig.server.post(f"/graph/notifications?{query}", b"")

    assert status == 400 and json.loads(body)["code"] == "INVALID_MESSAGE"


# Change notifications ------------------------------------------------------------------------------

def test_a_genuine_notification_becomes_a_process_change_job_and_is_answered_202(rig: PushRig):
    record, token = graph_record(rig)
    rig.pipeline.sim.advance_clock(timedelta(seconds=5))

    status, body = post(rig, "/graph/notifications", change(record, token))
    again, _ = post(rig, "/graph/notifications", change(record, token))  # Graph sending it again

    assert (status, body, again) == (202, b"", 202)
    first, second = rig.queue.take("process_change")
    assert first.message_id == second.message_id  # the same job: run once
    assert first.kwargs == {
        "integration_id": record.integration_id,
        "subscription_id": record.record_id,
        "events": [{"event_type": "modified", "item_id": "AAMkAGI2-event_1"}],
    }
    assert rig.pipeline.store.get_subscription(record.record_id).last_seen_at > record.last_seen_at
    assert rig.queue.jobs == []


def test_each_item_is_one_job_with_the_contracts_event_types(rig: PushRig):
    record, token = graph_record(rig)

    status, _ = post(rig, "/graph/notifications", change(record, token, "created", "ev-1"),
                     change(record, token, "updated", "ev-1", 'W/"v2"'),
                     change(record, token, "deleted", "ev-2", ""))

    assert status == 202
    jobs = rig.queue.take("process_change")
    assert [j.kwargs["events"] for j in jobs] == [
        [{"event_type": "created", "item_id": "ev-1"}], [{"event_type": "modified", "item_id": "ev-1"}],
        [{"event_type": "deleted", "item_id": "ev-2"}]]
    assert len({j.message_id for j in jobs}) == 3


def test_a_post_of_forged_items_only_is_refused_and_changes_nothing(rig: PushRig):
    record, token = graph_record(rig)
    other, _ = graph_record(rig)

    for items in ([change(record, new_callback_token())],  # a guessed clientState
                  [change(record, "short")], [change(record, "")],
                  [change(other, token)]):  # a real clientState with another subscription's id
        status, body = post(rig, "/graph/notifications", *items)
        assert (status, json.loads(body)["code"]) == (403, "FORGED_CALLBACK")

    assert rig.queue.jobs == []
    assert rig.pipeline.store.get_subscription(record.record_id) == record


def test_a_forged_item_beside_genuine_ones_is_ignored_and_counted(rig: PushRig, caplog):
    caplog.set_level(logging.INFO)
    record, token = graph_record(rig)

    status, _ = post(rig, "/graph/notifications", change(record, new_callback_token()), change(record, token))

    assert status == 202
    [job] = rig.queue.take("process_change")
    assert job.kwargs["subscription_id"] == record.record_id
    assert "1 of 2 items match no subscription" in caplog.text


def test_items_of_a_superseded_subscription_are_ignored(rig: PushRig):
    record, token = graph_record(rig, status=SubscriptionStatus.SUPERSEDED)

    status, _ = post(rig, "/graph/notifications", change(record, token))

    assert status == 202
    assert rig.queue.jobs == []


@pytest.mark.parametrize("body", [b"", b"not json", b"[]", b'{"value": []}', b'{"value": [1]}',
                                  b'{"value": [{"changeType": "updated"}]}'])
def test_a_body_that_is_not_a_notification_collection_is_refused(rig: PushRig, body):
    graph_record(rig)

    status, answer = rig.server.post("/graph/notifications", body)

    assert (status, json.loads(answer)["code"]) == (400, "INVALID_MESSAGE")
    assert rig.queue.jobs == []


# Lifecycle notifications ---------------------------------------------------------------------------

@pytest.mark.parametrize("event", ["reauthorizationRequired", "subscriptionRemoved"])
def test_reauthorization_and_removal_enqueue_a_renewal_at_once(rig: PushRig, event):
    record, token = graph_record(rig)

    status, _ = post(rig, "/graph/lifecycle", lifecycle(record, token, event))
    post(rig, "/graph/lifecycle", lifecycle(record, token, event))  # repeated

    assert status == 202
    first, second = rig.queue.take("renew_subscription")
    assert first.message_id == second.message_id
    assert first.kwargs == {"integration_id": record.integration_id, "subscription_id": record.record_id}
    assert rig.pipeline.store.get_subscription(record.record_id).is_stale(rig.pipeline.runtime.clock())


def test_missed_notifications_enqueue_one_calendar_sync(rig: PushRig):
    record, token = graph_record(rig)

    post(rig, "/graph/lifecycle", lifecycle(record, token, "missed"))
    post(rig, "/graph/lifecycle", lifecycle(record, token, "missed"))  # coalesced into the pending sync

    [sync] = rig.queue.take()
    assert (sync.actor_name, sync.kwargs) == ("sync_calendar", {"integration_id": record.integration_id,
                                                                "mailbox": ALICE})


def test_a_forged_lifecycle_notification_is_refused(rig: PushRig):
    record, _ = graph_record(rig)

    forged = lifecycle(record, new_callback_token(), "subscriptionRemoved")
    status, body = post(rig, "/graph/lifecycle", forged)

    assert (status, json.loads(body)["code"]) == (403, "FORGED_CALLBACK")
    assert rig.queue.jobs == []


# Secrets and personal data ---------------------------------------------------------------------------

def test_no_client_state_token_or_mailbox_reaches_the_logs(rig: PushRig, caplog):
    caplog.set_level(logging.DEBUG)
    record, token = graph_record(rig)
    query = urllib.parse.urlencode({"validationToken": VALIDATION})

    rig.server.post(f"/graph/notifications?{query}", b"")
    post(rig, "/graph/notifications", change(record, token), change(record, new_callback_token()))
    for event in ("reauthorizationRequired", "missed", "subscriptionRemoved", "somethingNew"):
        post(rig, "/graph/lifecycle", lifecycle(record, token, event))
    post(rig, "/graph/lifecycle", lifecycle(record, "f" * 43, "missed"))

    # What the callback's own code and its HTTP resolver log (botocore's DEBUG lines are the
    # test's table writes).
    ours = [r for r in caplog.records if not r.name.startswith(("botocore", "boto3", "urllib3"))]
    logs = "".join(r.getMessage() + str(r.__dict__) for r in ours)
    assert record.record_id in logs  # it did log, by record id
    for secret in (token, "f" * 43, VALIDATION, ALICE, "AAMkAGI2-event_1"):
        assert secret not in logs
