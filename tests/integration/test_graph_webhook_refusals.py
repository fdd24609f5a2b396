"""Forged and malformed Graph webhook POSTs get the documented refusal, and nothing of them is logged.

The callback Lambda over HTTP (tests/integration/callback_support.py), every logger at DEBUG.
Refusals (handlers/callbacks.py): INVALID_MESSAGE 400, PAYLOAD_TOO_LARGE 413, FORGED_CALLBACK 403.
"""

from __future__ import annotations

import json
import logging
import urllib.parse
import uuid

import pytest

from pipeline.exchange.graph.notifications import MAX_BODY_BYTES
from tests.integration.callback_support import PushRig, rig
from tests.integration.pipeline_support import pipeline
from tests.integration.test_graph_callbacks import change, graph_record, lifecycle

__all__ = ["pipeline", "rig"]  # the fixtures, re-exported for pytest

MARKER = f"Mk{uuid.uuid4().hex[:16]}"  # in every body below: a log that quoted a body would show it
NESTED = b'{"value": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}"


def refusal(answer: bytes) -> str:
    return str(json.loads(answer)["code"])


@pytest.mark.parametrize(("body", "status", "code"), [
    (f"not json {MARKER}".encode(), 400, "INVALID_MESSAGE"),
    (json.dumps({"value": {"clientState": MARKER}}).encode(), 400, "INVALID_MESSAGE"),
    (json.dumps({"value": [{"subscriptionId": 7, "clientState": MARKER}]}).encode(), 400, "INVALID_MESSAGE"),
    (NESTED, 400, "INVALID_MESSAGE"),
    (json.dumps({"value": [{"x": MARKER * (MAX_BODY_BYTES // len(MARKER))}]}).encode(), 413,
     "PAYLOAD_TOO_LARGE"),
], ids=["not-json", "value-not-a-list", "subscription-id-not-a-string", "nested-100k-deep", "over-1-MiB"])
@pytest.mark.parametrize("path", ["/graph/notifications", "/graph/lifecycle"])
def test_a_malformed_body_is_refused_with_its_code_and_not_logged(
    rig: PushRig, caplog: pytest.LogCaptureFixture, path: str, body: bytes, status: int, code: str
) -> None:
    caplog.set_level(logging.DEBUG)

    answered, answer = rig.server.post(path, body)

    assert (answered, refusal(answer)) == (status, code)
    assert rig.queue.jobs == []
    assert MARKER not in caplog.text and not any(MARKER in str(r.__dict__) for r in caplog.records)


def test_items_without_a_client_state_are_forged_and_neither_body_nor_states_are_logged(
    rig: PushRig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    record, token = graph_record(rig)
    missing = change(record, token, item_id=f"ev-{MARKER}")
    del missing["clientState"]
    missing_lifecycle = lifecycle(record, token, "missed")
    del missing_lifecycle["clientState"]
    guessed = change(record, f"{MARKER}-{'x' * 30}", item_id=f"ev-{MARKER}")

    answers = [
        rig.server.post("/graph/notifications", json.dumps({"value": [missing]}).encode()),
        rig.server.post("/graph/lifecycle", json.dumps({"value": [missing_lifecycle]}).encode()),
        rig.server.post("/graph/notifications", json.dumps({"value": [guessed]}).encode()),
        # beside a genuine item: accepted, the forged one ignored
        rig.server.post("/graph/notifications",
                        json.dumps({"value": [missing, change(record, token)]}).encode()),
    ]

    assert [(status, refusal(body) if body else "") for status, body in answers] == [
        (403, "FORGED_CALLBACK"), (403, "FORGED_CALLBACK"), (403, "FORGED_CALLBACK"), (202, "")]
    [job] = rig.queue.take("process_change")
    assert job.kwargs["subscription_id"] == record.record_id
    logged = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    assert MARKER not in logged and token not in logged


def test_the_validation_token_is_echoed_but_never_logged(
    rig: PushRig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = f"Validation: Testing client application reachability {MARKER}"
    query = urllib.parse.urlencode({"validationToken": token})

    for path in ("/graph/notifications", "/graph/lifecycle"):
        status, body = rig.server.post(f"{path}?{query}", b"")
        assert (status, body.decode()) == (200, token)
    markup = urllib.parse.urlencode({"validationToken": "<" + MARKER})
    refused, answer = rig.server.post(f"/graph/notifications?{markup}", b"")

    assert (refused, refusal(answer)) == (400, "INVALID_MESSAGE")
    assert MARKER not in caplog.text and not any(MARKER in str(r.__dict__) for r in caplog.records)
