"""exchangelib exceptions -> pipeline error codes, and secrets scrubbed from messages and logs.

The exceptions are exchangelib's own classes, built as exchangelib builds them (raised inside an
except block where it chains them); nothing is mocked.
"""

from __future__ import annotations

import json
import logging

import pytest
import requests
from exchangelib import errors as ews
from oauthlib.oauth2.rfc6749.errors import InvalidClientError

from pipeline.errors import ErrorCode, PermanentError, RetryableError
from pipeline.exchange.ews.errors import (
    ews_errors,
    is_auth_failure,
    to_pipeline_error,
)
from pipeline.secrets import SecretScrubbingFilter, scrub


def reraised(outer: BaseException, inner: BaseException) -> BaseException:
    """outer raised while handling inner, as exchangelib does (implicit __context__)."""
    try:
        try:
            raise inner
        except BaseException:
            raise outer  # noqa: B904 - the implicit chain is the point
    except BaseException as exc:
        return exc


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (ews.ErrorImpersonateUserDenied("no"), ErrorCode.IMPERSONATION_DENIED),
        (ews.ErrorImpersonationDenied("no"), ErrorCode.IMPERSONATION_DENIED),
        (ews.ErrorNonExistentMailbox("x"), ErrorCode.UNKNOWN_MAILBOX),
        (ews.ErrorMailRecipientNotFound("x"), ErrorCode.UNKNOWN_MAILBOX),
        (ews.ErrorAccessDenied("x"), ErrorCode.ACCESS_DENIED),
        (ews.ErrorItemNotFound("x"), ErrorCode.ITEM_NOT_FOUND),
        (ews.ErrorIrresolvableConflict("x"), ErrorCode.CONFLICT),
        (ews.ErrorMailboxDataArrayTooBig("x"), ErrorCode.REQUEST_TOO_LARGE),
        (ews.ErrorTimeIntervalTooBig("x"), ErrorCode.REQUEST_TOO_LARGE),
        (ews.ErrorSubscriptionNotFound("x"), ErrorCode.SUBSCRIPTION_NOT_FOUND),
        (ews.AutoDiscoverFailed("x"), ErrorCode.AUTODISCOVER_FAILED),
        (ews.UnauthorizedError("Invalid credentials for https://x"), ErrorCode.AUTH_FAILED),
        (InvalidClientError(description="AADSTS7000215"), ErrorCode.AUTH_FAILED),
        (ews.ErrorInvalidRequest("x"), ErrorCode.EWS_ERROR),
        (ews.RedirectError("https://elsewhere.example.com/EWS/Exchange.asmx"), ErrorCode.EWS_ERROR),
    ],
)
def test_permanent_codes(exc: Exception, code: ErrorCode) -> None:
    mapped = to_pipeline_error(exc, "Op")
    assert isinstance(mapped, PermanentError)
    assert mapped.code is code
    assert mapped.message.startswith("Op: ")


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (ews.ErrorInternalServerTransientError("x"), ErrorCode.EWS_UNAVAILABLE),
        (ews.ErrorMailboxStoreUnavailable("x"), ErrorCode.EWS_UNAVAILABLE),
        (ews.MalformedResponseError("Unknown failure in response. Code: 502"), ErrorCode.EWS_UNAVAILABLE),
        (ews.ErrorTimeoutExpired("server side"), ErrorCode.TIMEOUT),
    ],
)
def test_transient_codes(exc: Exception, code: ErrorCode) -> None:
    mapped = to_pipeline_error(exc)
    assert isinstance(mapped, RetryableError)
    assert mapped.code is code


def test_server_busy_carries_back_off_in_milliseconds() -> None:
    mapped = to_pipeline_error(ews.ErrorServerBusy("busy", back_off=1.5))
    assert isinstance(mapped, RetryableError)
    assert (mapped.code, mapped.delay_ms) == (ErrorCode.SERVER_BUSY, 1500)


def test_http_503_reraised_as_busy_is_unavailable() -> None:
    # exchangelib: 503 -> ErrorInternalServerTransientError -> (fail fast) ErrorServerBusy(back_off=10)
    exc = reraised(
        ews.ErrorServerBusy("Reraised", back_off=10), ews.ErrorInternalServerTransientError("HTTP 503")
    )
    mapped = to_pipeline_error(exc)
    assert isinstance(mapped, RetryableError)
    assert (mapped.code, mapped.delay_ms) == (ErrorCode.EWS_UNAVAILABLE, None)


@pytest.mark.parametrize(
    ("root", "code"),
    [
        (requests.exceptions.ConnectionError("reset by peer"), ErrorCode.CONNECTION_DROPPED),
        (requests.exceptions.ReadTimeout("read timed out"), ErrorCode.TIMEOUT),
        (requests.exceptions.SSLError("CERTIFICATE_VERIFY_FAILED"), ErrorCode.TLS_ERROR),
    ],
)
def test_network_roots_win_over_exchangelib_wrappers(root: Exception, code: ErrorCode) -> None:
    wrapped = reraised(ews.ErrorTimeoutExpired(f"Reraised from {root!r}"), root)
    busy = reraised(ews.ErrorServerBusy("Reraised", back_off=10), wrapped)
    assert to_pipeline_error(busy).code is code  # type: ignore[union-attr]
    tls = reraised(ews.TransportError(str(root)), root)
    assert to_pipeline_error(tls).code is code  # type: ignore[union-attr]


def test_bugs_pass_through() -> None:
    assert to_pipeline_error(KeyError("x")) is None
    with pytest.raises(KeyError), ews_errors("Op"):
        raise KeyError("x")


def test_context_manager_chains() -> None:
    with pytest.raises(PermanentError) as caught, ews_errors("GetFolder"):
        raise ews.ErrorAccessDenied("nope")
    assert isinstance(caught.value.__cause__, ews.ErrorAccessDenied)
    assert caught.value.code is ErrorCode.ACCESS_DENIED


def test_is_auth_failure() -> None:
    assert is_auth_failure(ews.UnauthorizedError("x"))
    assert not is_auth_failure(ews.ErrorAccessDenied("x"))


@pytest.mark.parametrize(
    "text",
    [
        "{'Authorization': 'Basic YWxpY2U6c2VjcmV0LXB3'}",
        "Authorization: Bearer eyJ0eXAiOiJKV1QiLCJhbGciOi",
        "body was grant_type=client_credentials&client_secret=s3cr3t-Value&client_id=app",
        "Obtained token {'access_token': 'tok-123456789', 'token_type': 'Bearer'}",
        "password=hunter2-Secret",
        # botocore's debug log of a GetSecretValue response: JSON inside JSON
        "Response body: "
        + json.dumps({"SecretString": json.dumps({"username": "u", "password": "hunter2-Secret"})}),
    ],
)
def test_scrub(text: str) -> None:
    cleaned = scrub(text)
    for secret in (
        "YWxpY2U6c2VjcmV0LXB3",
        "eyJ0eXAiOiJKV1QiLCJhbGciOi",
        "s3cr3t-Value",
        "tok-123456789",
        "hunter2-Secret",
    ):
        assert secret not in cleaned
    assert "***" in cleaned


def test_messages_are_scrubbed() -> None:
    mapped = to_pipeline_error(ews.TransportError("headers {'Authorization': 'Basic YWxpY2U6c2VjcmV0'}"))
    assert mapped is not None and "YWxpY2U6c2VjcmV0" not in str(mapped)


def test_log_filter_redacts_formatted_records() -> None:
    record = logging.LogRecord(
        "exchangelib.util",
        logging.DEBUG,
        __file__,
        1,
        "Request headers: %s",
        ({"Authorization": "Basic YWxpY2U6c2VjcmV0"},),
        None,
    )
    assert SecretScrubbingFilter().filter(record)
    assert "YWxpY2U6c2VjcmV0" not in record.getMessage()
