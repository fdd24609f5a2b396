"""No password, client secret, bearer token or Basic header value appears in logs, errors or the table.

A realistic mix of jobs (successes, wrong credentials for every auth type, bad input, a busy
server) runs with every logger at DEBUG; then the captured logs, the raised exceptions (their
str, repr and formatted tracebacks, causes included) and a full scan of the results table are
searched for every secret the run used.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import traceback
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from infra.ewssim import EwsSimulator, FaultKind
from pipeline.errors import PipelineError
from pipeline.runtimes.runner import Job, run_job
from tests.integration.ews_support import put_secret
from tests.integration.pipeline_support import METHOD_AUTH_PAIRS, PipelineHarness, pipeline
from tests.seed import APP, PASSWORDS, smtp

__all__ = ["pipeline"]  # the fixture, re-exported for pytest

MONDAY = datetime(2030, 1, 7, tzinfo=UTC)
WRONG_PASSWORD = "wrong-Secret-7"
WRONG_CLIENT_SECRET = "wrong-app-Secret-8"
CHATTY_LOGGERS = ("", "exchangelib", "urllib3", "requests", "requests_oauthlib", "oauthlib", "botocore",
                  "boto3", "aws_lambda_powertools", "spnego", "requests_ntlm", "pipeline", "dramatiq")
# A bearer or Basic credential that was not redacted: the scheme followed by a token-like value.
UNREDACTED_AUTH_HEADER = re.compile(r"(?i)\b(bearer|basic)\s+(?!\*)[A-Za-z0-9+/=._~-]{12,}")


@pytest.fixture(autouse=True)
def _local_oauth(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


def forbidden_strings() -> list[str]:
    """Every secret of the run, and the Basic header values built from the passwords."""
    passwords = [*PASSWORDS.values(), WRONG_PASSWORD]
    users = [*PASSWORDS, "svc"]
    basic_values = [
        base64.b64encode(f"{login}:{password}".encode()).decode()
        for password in passwords
        for user in users
        for login in (user, smtp(user), f"EXAMPLE\\{user}")
    ]
    return [*passwords, APP["client_secret"], WRONG_CLIENT_SECRET, *basic_values]


def window(hours: int = 24) -> dict[str, str]:
    return {"start": MONDAY.isoformat(), "end": (MONDAY + timedelta(hours=hours)).isoformat()}


def wrong_credentials(pipeline: PipelineHarness, method: str, auth: str) -> str:
    """An integration whose secret holds a wrong password (or client secret); returns its id."""
    integration_id = pipeline.install(method, auth, integration_id=f"wrong-{method}-{auth}")
    if auth == "oauth2":
        name, value = f"ews/{integration_id}/service", {**APP, "client_secret": WRONG_CLIENT_SECRET}
    elif method == "personal":
        name = f"ews/{integration_id}/users/{smtp('alice')}"
        value = {"username": smtp("alice"), "password": WRONG_PASSWORD}
    else:
        name, value = f"ews/{integration_id}/service", {"username": smtp("svc"), "password": WRONG_PASSWORD}
    put_secret(pipeline.secrets_client, name, value)
    return integration_id


def run_mix(pipeline: PipelineHarness, sim: EwsSimulator) -> list[BaseException]:
    """Run the jobs; returns the exceptions run_job raised."""
    alice_and_bob = {"mailboxes": [smtp("alice"), smtp("bob")], "view": "detailed", **window()}
    jobs: list[tuple[str, dict[str, Any]]] = []
    for method, auth in METHOD_AUTH_PAIRS:
        integration_id = pipeline.install(method, auth)
        jobs += [
            ("fetch_free_busy", {"integration_id": integration_id, **alice_and_bob}),
            ("check_connection", {"integration_id": integration_id, "mailbox": smtp("alice")}),
            ("list_rooms", {"integration_id": integration_id, "room_list": smtp("building-1")}),
        ]
    jobs.append(("create_event", {"integration_id": "delegate-basic", "mailbox": smtp("alice"),
                                  "booking_key": "leak-test:1", "subject": "Interview", **window(1)}))
    # Wrong credentials for every auth type, each refused again after one refresh.
    for method, auth in (("delegate", "basic"), ("dedicated", "ntlm"), ("personal", "basic"),
                         ("impersonation", "oauth2")):
        integration_id = wrong_credentials(pipeline, method, auth)
        jobs += [
            ("check_connection", {"integration_id": integration_id, "mailbox": smtp("alice")}),
            ("fetch_free_busy", {"integration_id": integration_id, **alice_and_bob}),
        ]
    # Bad input that carries a secret where it does not belong.
    jobs.append(("list_rooms", {"integration_id": "delegate-basic", "password": PASSWORDS["svc"]}))
    jobs.append(("fetch_free_busy", {"integration_id": "delegate-basic", "mailboxes": [PASSWORDS["alice"]],
                                     **window(0)}))

    raised: list[BaseException] = []
    for actor_name, kwargs in jobs:
        try:
            run_job(pipeline.runtime, Job(str(uuid.uuid4()), actor_name, kwargs))
        except PipelineError as error:
            raised.append(error)
    # And a busy server, on a warm connection.
    sim.faults.fail(FaultKind.SERVER_BUSY, operation="GetRoomLists", count=1, back_off_ms=1000)
    try:
        run_job(pipeline.runtime, Job(str(uuid.uuid4()), "list_rooms", {"integration_id": "dedicated-ntlm"}))
    except PipelineError as error:
        raised.append(error)
    return raised


def describe(error: BaseException) -> str:
    """Everything a worker could print about an exception: str, repr and traceback, causes included."""
    parts = ["".join(traceback.format_exception(error))]
    seen: BaseException | None = error
    while seen is not None:
        parts += [str(seen), repr(seen), repr(vars(seen))]
        seen = seen.__cause__ or seen.__context__
    return "\n".join(parts)


def scan_table(pipeline: PipelineHarness) -> str:
    config = pipeline.runtime.config
    client = boto3.client("dynamodb", region_name=config.aws_region)
    items = [item for page in client.get_paginator("scan").paginate(TableName=config.table_name)
             for item in page["Items"]]
    assert items, "the table should hold the job records"
    return json.dumps(items)


def test_secrets_never_appear_in_logs_errors_or_the_table(
    pipeline: PipelineHarness, sim: EwsSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    for name in CHATTY_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)

    raised = run_mix(pipeline, sim)

    codes = {getattr(error, "code", None) for error in raised}
    assert {"AUTH_FAILED", "INVALID_KWARGS", "SERVER_BUSY"} <= codes  # the failures really happened
    assert any("exchangelib" in record.name for record in caplog.records)  # DEBUG logs were captured
    logs = caplog.text + "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records)
    places = {
        "logs": logs,
        "exceptions": "\n".join(describe(error) for error in raised),
        "table": scan_table(pipeline),
    }
    # Only counts reach the assertions: a failing run must not print the secrets it found.
    for place, text in places.items():
        leaked = sum(secret in text for secret in forbidden_strings())
        assert leaked == 0, f"{place} contain {leaked} secret(s)"
        unredacted = len(UNREDACTED_AUTH_HEADER.findall(text))
        assert unredacted == 0, f"{place} contain {unredacted} unredacted Authorization value(s)"
