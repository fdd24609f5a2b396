"""No AWS session token or request signature appears in botocore's DEBUG logs, for any client.

A Lambda function's credentials come with a session token, sent with every request as the
`X-Amz-Security-Token` header. botocore logs each signed request at DEBUG, headers included, and
the canonical request it signed, the token among its headers. The clients run against moto, and
their real records are searched.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from moto import mock_aws

from pipeline.aws_clients import aws_client
from pipeline.config import PipelineConfig
from pipeline.log_privacy.aws_credentials import AwsCredentialFilter
from pipeline.runtimes.sqs.connection import sqs_client_for

SESSION_TOKEN = "IQoJb3JpZ2luX2VjEXAMPLEsessionTOKEN/with+base64=="
ACCESS_KEY = "ASIAEXAMPLEACCESSKEY"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.fixture
def session_credentials(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield


def logged(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(record.getMessage() for record in caplog.records)


def test_signed_requests_are_logged_without_the_session_token(
    session_credentials: None, caplog: pytest.LogCaptureFixture
) -> None:
    config = PipelineConfig.from_env({"PIPELINE_TABLE": "results", "AWS_REGION": "us-east-1"})
    caplog.set_level(logging.DEBUG)

    aws_client("dynamodb", config).list_tables()
    aws_client("secretsmanager", config).list_secrets()
    sqs_client_for(None, "us-east-1").list_queues()

    text = logged(caplog)
    # The records are there, with what they are for: the request line and the signed headers.
    assert text.count("Sending http request") >= 3
    assert text.count("CanonicalRequest") >= 3
    assert "x-amz-security-token:<withheld>" in text
    assert "'X-Amz-Security-Token': '<withheld>'" in text
    assert SESSION_TOKEN not in text
    assert SECRET_KEY not in text


def test_a_record_the_filter_cannot_read_is_withheld_not_dropped() -> None:
    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no")

    class Exploding(tuple[object, ...]):
        def __iter__(self) -> Iterator[object]:
            raise RuntimeError("no")

    record = logging.LogRecord("botocore.endpoint", logging.DEBUG, __file__, 1, "Sending http request: %s",
                               Exploding((Unprintable(),)), None)
    assert AwsCredentialFilter().filter(record)
    assert "could not be checked" in record.getMessage()
