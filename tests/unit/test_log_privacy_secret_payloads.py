"""SecretPayloadFilter on records shaped like botocore's: payloads withheld whole, never the record.

Real botocore records of real Secrets Manager calls (moto) are tests/integration/
test_secrets_never_leak.py's; these are the shapes around them.
"""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace
from typing import Any

import pytest

from pipeline.log_privacy.secret_payloads import SecretPayloadFilter

PASSWORD = 'Tr0ub4dor &3, horse "battery" staple}x'
SECRET_BODY = json.dumps({"Name": "s", "SecretString": json.dumps({"password": PASSWORD})}).encode()


def filtered(msg: Any, *args: Any, name: str = "botocore.parsers") -> logging.LogRecord:
    record = logging.LogRecord(name, logging.DEBUG, __file__, 1, msg, args or None, None)
    assert SecretPayloadFilter().filter(record)  # never dropped
    return record


def operation(service: str) -> SimpleNamespace:
    return SimpleNamespace(name="Op", service_model=SimpleNamespace(service_name=service))


@pytest.mark.parametrize("body", [
    SECRET_BODY,
    SECRET_BODY.decode(),
    SECRET_BODY[:-5],  # not JSON any more, still naming the field
    json.dumps({"SecretValues": [{"SecretString": PASSWORD}]}).encode(),  # BatchGetSecretValue
    ('{"Secret\\u0053tring": ' + json.dumps(PASSWORD) + "}").encode(),  # the name escaped: read as JSON
])
def test_a_response_body_naming_a_secret_value_is_withheld(body: Any) -> None:
    record = filtered("Response body:\n%r", body)
    assert "battery" not in record.getMessage() and "withheld" in record.getMessage()


def test_other_bodies_are_left_as_they_are() -> None:
    body = b'{"Item": {"pk": {"S": "JOB#1"}}}'
    assert filtered("Response body:\n%r", body).getMessage() == f"Response body:\n{body!r}"


def test_a_secrets_manager_request_is_withheld_whatever_its_body() -> None:
    request = {"url_path": "/", "body": b'{"SecretId": "s", "SecretString": "x"}', "headers": {}}
    record = filtered("Making request for %s with params: %s", operation("secretsmanager"), request,
                      name="botocore.endpoint")
    assert '"x"' not in record.getMessage() and "url_path" in record.getMessage()

    prepared = SimpleNamespace(method="POST", url="https://secretsmanager", body=b"anything",
                               headers={"X-Amz-Target": b"secretsmanager.PutSecretValue"})
    record = filtered("Sending http request: %s", prepared, name="botocore.endpoint")
    assert "anything" not in record.getMessage() and "secretsmanager.PutSecretValue" in record.getMessage()


def test_another_services_request_is_left_alone() -> None:
    request = {"url_path": "/", "body": b'{"TableName": "t"}'}
    record = filtered("Making request for %s with params: %s", operation("dynamodb"), request,
                      name="botocore.endpoint")
    assert '"TableName": "t"' in record.getMessage()


def test_a_mapping_argument_and_a_formatted_message_are_withheld_whole() -> None:
    assert "battery" not in filtered("%(body)s", {"body": SECRET_BODY}).getMessage()
    assert "battery" not in filtered(f"Response body: {SECRET_BODY!r}").getMessage()


def test_a_record_that_cannot_be_checked_is_withheld() -> None:
    class Hostile:
        @property
        def service_model(self) -> Any:
            raise RuntimeError("boom")

    record = filtered("Making request for %s with params: %s", Hostile(), SECRET_BODY)
    assert "battery" not in record.getMessage() and "could not be checked" in record.getMessage()
