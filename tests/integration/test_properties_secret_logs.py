"""Property: whatever a password or refresh token holds, reading or writing it back logs none of it.

Secrets Manager on moto, every logger at DEBUG (botocore logs each request and response body).
Each secret is any text with three markers in it, at its start, in its middle and at its end: a
log that showed any part of the payload would show a marker, whichever characters (spaces,
quotes, backslashes, braces, non-ASCII) stopped a pattern before them. The fixed awkward secrets
and their every four characters are tests/integration/test_secrets_never_leak.py's.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from pipeline.errors import PipelineError
from pipeline.secrets import SecretSource
from tests.integration.ews_support import put_secret
from tests.integration.test_secrets_never_leak import CHATTY_LOGGERS, describe, logged_text, readings

PROPERTIES = settings(max_examples=40, deadline=None, database=None,
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
secret_texts = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30)


@pytest.fixture
def source(caplog: pytest.LogCaptureFixture) -> Iterator[tuple[SecretSource, Any]]:
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="us-east-1")
        secrets = SecretSource(boto3_client=client)
        for name in CHATTY_LOGGERS:
            caplog.set_level(logging.DEBUG, logger=name)
        yield secrets, client


def marked(start: str, end: str) -> tuple[str, list[str]]:
    """start and end joined between markers (new ones each time), and the markers."""
    markers = [f"Mk{uuid.uuid4().hex[:12]}" for _ in range(3)]
    return f"{markers[0]}{start}{markers[1]}{end}{markers[2]}", markers


@PROPERTIES
@given(secret_texts, secret_texts, secret_texts, secret_texts)
def test_no_part_of_any_secret_reaches_the_logs_or_errors(
    source: tuple[SecretSource, Any], caplog: pytest.LogCaptureFixture,
    password_start: str, password_end: str, token_start: str, token_end: str,
) -> None:
    secrets, client = source
    caplog.clear()
    password, password_markers = marked(password_start, password_end)
    token, token_markers = marked(token_start, token_end)
    name = f"ews/properties/{uuid.uuid4().hex}"

    # Given a secret holding the password and a refresh token, written by anyone
    put_secret(client, name, {"username": "svc@example.com", "password": password, "refresh_token": token})
    # When the pipeline reads it, writes a rotated token back, and fails to write one elsewhere
    assert secrets.get(name, refresh=True).password == password
    assert secrets.update(name, {"refresh_token": token[::-1]}).refresh_token == token[::-1]
    with pytest.raises(PipelineError) as caught:
        secrets.update(f"{name}/missing", {"refresh_token": token})

    # Then no marker (nor one reversed) is in any log record or the error
    assert any("PutSecretValue" in r.getMessage() for r in caplog.records)  # botocore did log
    texts = readings(logged_text(caplog)) + readings(describe(caught.value))
    markers = [*password_markers, *token_markers]
    shown = sum(marker in text or marker[::-1] in text for marker in markers for text in texts)
    assert shown == 0, f"{shown} marker(s) of the secrets were logged"
