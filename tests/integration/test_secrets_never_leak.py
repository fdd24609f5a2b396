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
import string
import traceback
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra.ewssim import EwsSimulator, FaultKind
from pipeline.errors import PipelineError
from pipeline.runtimes.runner import Job, run_job
from pipeline.secrets import SecretSource
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
    described: set[int] = set()
    while seen is not None and id(seen) not in described:  # a chain may loop (raise e from e)
        described.add(id(seen))
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


# Issue 9, defect 6: a password in a Secrets Manager payload, redacted only up to its first space --

# Secrets as people and token endpoints make them: spaces, quotes, backslashes, commas, braces and
# non-ASCII text.
AWKWARD_PASSWORDS = (
    'Tr0ub4dor &3, horse "battery" staple}x',  # the password of the report
    'qu0te"d \\ b4ck\\\\slash, {br4ces} & "m0re"',
    "Pässwört mit Ümläut, «Zeichen» {8}",
    'js0n {"pw": "n3st"} in it',
    "t4b\tn3w\nline ünd 🔑 k3y",
)
AWKWARD_CLIENT_SECRET = 'app s3cr3t, "qu0ted" {x}\\y'
AWKWARD_REFRESH_TOKENS = ('0.AAAA refr3sh t0ken, "r0tating" {1}', 'r0tat3d\\t0ken, "tw1ce" }ü{')
AWKWARD_SECRETS = (*AWKWARD_PASSWORDS, AWKWARD_CLIENT_SECRET, *AWKWARD_REFRESH_TOKENS)
FRAGMENT = 4
# Taken out of a text before it is searched: random ids (request ids, signatures, uuids), in which
# four characters of a secret can turn up by chance. No secret above has such a run.
RANDOM_IDS = re.compile(r"[A-Za-z0-9+/=_-]{20,}")
_DECOYS = str.maketrans(
    string.ascii_lowercase + string.ascii_uppercase + string.digits,
    string.ascii_lowercase[13:] + string.ascii_lowercase[:13] + string.ascii_uppercase[13:]
    + string.ascii_uppercase[:13] + string.digits[5:] + string.digits[:5],
)


def decoy(secret: str) -> str:
    """A secret of the same shape with every ASCII letter and digit changed. The same calls made
    with decoys log the same words and punctuation, and nothing of the real secrets."""
    return secret.translate(_DECOYS)


def fragments(secret: str) -> set[str]:
    """Every run of FRAGMENT characters in the secret."""
    return {secret[i:i + FRAGMENT] for i in range(len(secret) - FRAGMENT + 1)}


def readings(text: str) -> list[str]:
    """The text, and the text with one and two levels of backslash escapes undone (a SecretString
    is JSON inside a JSON response body, logged as the repr of bytes); random ids taken out."""
    found = [text]
    for _ in range(2):
        found.append(found[-1].encode("latin-1", "backslashreplace").decode("unicode_escape", "replace"))
    return [RANDOM_IDS.sub(" ", reading) for reading in found]


def found_fragments(secrets: tuple[str, ...], text: str) -> set[str]:
    texts = readings(text)
    return {part for secret in secrets for part in fragments(secret) if any(part in seen for seen in texts)}


def leaked_fragments(secrets: tuple[str, ...], text: str, control: str) -> int:
    """How many fragments of the secrets appear in `text` but not in `control`, the text of the
    same calls made with decoys (there, they are words or punctuation that any run logs)."""
    return len(found_fragments(secrets, text) - found_fragments(secrets, control))


def logged_text(caplog: pytest.LogCaptureFixture) -> str:
    return caplog.text + "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records)


def secret_calls(caplog: pytest.LogCaptureFixture, secret: Callable[[str], str]) -> dict[str, str]:
    """Reads and a write-back of secrets holding the awkward values (or what `secret` makes of
    them), at DEBUG, against Secrets Manager on moto; returns the text of the logs and errors."""
    caplog.clear()
    raised: list[BaseException] = []
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="us-east-1")
        source = SecretSource(boto3_client=client)
        passwords = [secret(password) for password in AWKWARD_PASSWORDS]
        old_token, new_token = (secret(token) for token in AWKWARD_REFRESH_TOKENS)
        # Given secrets holding the passwords, an app's client secret and a user's refresh token
        for number, password in enumerate(passwords):
            put_secret(client, f"ews/awkward/{number}", {"username": smtp("svc"), "password": password,
                                                         "domain": "EXAMPLE"})
        put_secret(client, "ews/awkward/app", {**APP, "client_secret": secret(AWKWARD_CLIENT_SECRET)})
        put_secret(client, "ews/awkward/users/alice", {"refresh_token": old_token})
        # And one whose text is not JSON at all, but a bare password
        client.create_secret(Name="ews/awkward/bare", SecretString=passwords[0])

        # When the pipeline reads each (cached, then forced) and writes a rotated refresh token back
        for number, password in enumerate(passwords):
            assert source.get(f"ews/awkward/{number}").password == password
            assert source.get(f"ews/awkward/{number}", refresh=True).password == password
        assert source.get("ews/awkward/app").client_secret == secret(AWKWARD_CLIENT_SECRET)
        updated = source.update("ews/awkward/users/alice", {"refresh_token": new_token})
        assert updated.refresh_token == new_token
        # And reads and writes that fail
        for failing in (lambda: source.get("ews/awkward/bare"),
                        lambda: source.update("ews/awkward/missing", {"refresh_token": new_token})):
            with pytest.raises(PipelineError) as caught:
                failing()
            raised.append(caught.value)
    assert any(r.name.startswith("botocore") and "PutSecretValue" in r.getMessage() for r in caplog.records)
    return {"logs": logged_text(caplog), "exceptions": "\n".join(describe(error) for error in raised)}


def test_awkward_secrets_read_and_written_back_never_reach_the_logs_or_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    for name in CHATTY_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    control = secret_calls(caplog, decoy)

    places = secret_calls(caplog, lambda secret: secret)

    # No four characters in a row of any secret appear that the same calls with decoys did not log
    for place, text in places.items():
        leaked = leaked_fragments(AWKWARD_SECRETS, text, control[place])  # a count: never the secrets
        assert leaked == 0, f"{place} contain {leaked} fragment(s) of the secrets"



def awkward_jobs(pipeline: PipelineHarness, sim: EwsSimulator, secret: Callable[[str], str],
                 tag: str) -> tuple[list[BaseException], list[str | None]]:
    """check_connection as service accounts whose passwords are the awkward ones (or what `secret`
    makes of them): over NTLM, over Basic, and once with another of them, wrong. Returns the errors
    raised and each job's first failing step's code (None: every step passed)."""
    passwords = [secret(password) for password in AWKWARD_PASSWORDS]
    accounts = [smtp(f"svc-{tag}-{number}") for number in range(len(passwords))]
    sim.backend.seed({"service_accounts": [
        {"smtp": account, "name": f"Service {number}", "password": password, "domain": "EXAMPLE"}
        for number, (account, password) in enumerate(zip(accounts, passwords, strict=True))]})
    # NTLM sends any text (UTF-16), but the simulator's logons file holds no ":" or line break.
    # Basic: the ASCII passwords, and the one with characters outside Latin-1, which Basic cannot
    # send. Latin-1 text is left out there: RFC 7617 gives it no charset; servers differ.
    jobs = [("ntlm", accounts[number], passwords[number]) for number in (0, 1, 2)]
    jobs += [("basic", accounts[number], passwords[number]) for number in (0, 1, 3, 4)]
    jobs.append(("ntlm", accounts[0], passwords[1]))
    raised: list[BaseException] = []
    codes: list[str | None] = []
    for number, (auth, account, password) in enumerate(jobs):
        integration_id = pipeline.install("dedicated", auth, integration_id=f"{tag}-{number}",
                                          service_mailbox=account)
        put_secret(pipeline.secrets_client, f"ews/{integration_id}/service",
                   {"username": account, "password": password})
        message_id = str(uuid.uuid4())
        try:
            run_job(pipeline.runtime, Job(message_id, "check_connection",
                                          {"integration_id": integration_id, "mailbox": account}))
        except PipelineError as error:
            raised.append(error)
        outcome = pipeline.store.get_job(message_id).to_outcome()
        steps = (outcome.result or {}).get("steps", [])
        codes.append(next((step["error_code"] for step in steps if not step["ok"]), None))
    return raised, codes


def test_awkward_passwords_through_jobs_never_reach_the_logs_errors_or_the_table(
    pipeline: PipelineHarness, sim: EwsSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    for name in CHATTY_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    raised, _ = awkward_jobs(pipeline, sim, decoy, "decoy")
    control = {"logs": logged_text(caplog), "exceptions": "\n".join(describe(error) for error in raised),
               "table": scan_table(pipeline)}
    caplog.clear()

    raised, codes = awkward_jobs(pipeline, sim, lambda secret: secret, "real")

    # Every awkward password logs on over NTLM and Basic; a password Basic cannot send is refused
    # before any request; the wrong one is refused by the server.
    assert raised == []
    assert codes == [None, None, None, None, None, None, "INVALID_INTEGRATION", "AUTH_FAILED"]
    places = {"logs": logged_text(caplog), "exceptions": "\n".join(describe(error) for error in raised),
              "table": scan_table(pipeline)}
    for place, text in places.items():
        leaked = leaked_fragments(AWKWARD_PASSWORDS, text, control[place])  # a count: never the secrets
        assert leaked == 0, f"{place} contain {leaked} fragment(s) of the secrets"
