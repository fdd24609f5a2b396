"""exchangelib exceptions -> PipelineError, in one place; and keeping secrets out of messages and logs.

Wrap every EWS call in `with ews_errors("GetUserAvailability"):`. Exceptions from outside
exchangelib, requests and oauthlib pass through unchanged: they are bugs, not Exchange answers.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager

import requests.exceptions
import urllib3.exceptions
from exchangelib import errors as ews
from exchangelib.fields import InvalidFieldForVersion
from oauthlib.oauth2.rfc6749.errors import OAuth2Error

from pipeline.errors import ErrorCode, PermanentError, PipelineError, RetryableError
from pipeline.log_privacy.ews_payloads import withhold_ews_payloads
from pipeline.secrets import scrub, scrub_loggers

__all__ = [
    "ews_errors",
    "install_log_scrubbing",
    "is_auth_failure",
    "scrub",
    "to_pipeline_error",
]

_MAX_MESSAGE = 500
_RETRYABLE = {
    ErrorCode.SERVER_BUSY,
    ErrorCode.EWS_UNAVAILABLE,
    ErrorCode.TIMEOUT,
    ErrorCode.CONNECTION_DROPPED,
}

# EWS response codes (exchangelib names its exception classes after them) with a code of their own.
_BY_RESPONSE_CODE: dict[str, ErrorCode] = {
    "ErrorImpersonateUserDenied": ErrorCode.IMPERSONATION_DENIED,
    "ErrorImpersonationDenied": ErrorCode.IMPERSONATION_DENIED,
    "ErrorImpersonationFailed": ErrorCode.IMPERSONATION_DENIED,
    "ErrorNonExistentMailbox": ErrorCode.UNKNOWN_MAILBOX,
    "ErrorMailRecipientNotFound": ErrorCode.UNKNOWN_MAILBOX,
    "ErrorInvalidSmtpAddress": ErrorCode.UNKNOWN_MAILBOX,
    "ErrorAccessDenied": ErrorCode.ACCESS_DENIED,
    "ErrorAccountDisabled": ErrorCode.ACCESS_DENIED,
    "ErrorProxyRequestNotAllowed": ErrorCode.ACCESS_DENIED,
    "ErrorItemNotFound": ErrorCode.ITEM_NOT_FOUND,
    "ErrorIrresolvableConflict": ErrorCode.CONFLICT,
    "ErrorStaleObject": ErrorCode.CONFLICT,
    "ErrorMailboxDataArrayTooBig": ErrorCode.REQUEST_TOO_LARGE,
    "ErrorTimeIntervalTooBig": ErrorCode.REQUEST_TOO_LARGE,
    "ErrorSubscriptionNotFound": ErrorCode.SUBSCRIPTION_NOT_FOUND,
    "ErrorAutoDiscoverFailed": ErrorCode.AUTODISCOVER_FAILED,
    "AutoDiscoverError": ErrorCode.AUTODISCOVER_FAILED,
    # Exchange is up but cannot serve this now: the same request can succeed later.
    "ErrorInternalServerTransientError": ErrorCode.EWS_UNAVAILABLE,
    "ErrorMailboxStoreUnavailable": ErrorCode.EWS_UNAVAILABLE,
    "ErrorMailboxMoveInProgress": ErrorCode.EWS_UNAVAILABLE,
    "ErrorConnectionFailedTransientError": ErrorCode.EWS_UNAVAILABLE,
    "ErrorTooManyObjectsOpened": ErrorCode.EWS_UNAVAILABLE,
    "ErrorExceededConnectionCount": ErrorCode.SERVER_BUSY,
    "ErrorTimeoutExpired": ErrorCode.TIMEOUT,
    "CASError": ErrorCode.EWS_UNAVAILABLE,
    # The request needs a newer EWS schema than the server speaks (exchangelib raises the first
    # after every API version it tried was refused).
    "ErrorInvalidServerVersion": ErrorCode.VERSION_NOT_SUPPORTED,
    "ErrorIncorrectSchemaVersion": ErrorCode.VERSION_NOT_SUPPORTED,
    "ErrorInvalidSchemaVersionForMailboxVersion": ErrorCode.VERSION_NOT_SUPPORTED,
}


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """exc and what it was raised from or during, innermost last (exchangelib re-raises inside except)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _network_code(exc: BaseException) -> ErrorCode | None:
    """TLS_ERROR, TIMEOUT or CONNECTION_DROPPED when a network failure is at the root of exc."""
    for cause in _causes(exc):
        if isinstance(cause, requests.exceptions.SSLError | ssl.SSLError):
            return ErrorCode.TLS_ERROR
        if isinstance(cause, requests.exceptions.Timeout | socket.timeout | TimeoutError):
            return ErrorCode.TIMEOUT
        if isinstance(
            cause,
            requests.exceptions.ConnectionError | requests.exceptions.ChunkedEncodingError | ConnectionError,
        ):
            return ErrorCode.CONNECTION_DROPPED
    return None


def _connect_failure(exc: BaseException) -> tuple[ErrorCode, str] | None:
    """When no connection to the server could be made: CONNECTION_DROPPED (refused, unreachable, an
    unknown name) or TIMEOUT (no answer within the connect timeout), and what to say; else None."""
    causes = list(_causes(exc))
    # urllib3 raises NewConnectionError (a ConnectTimeoutError) when connecting fails at once.
    failed = next((c for c in reversed(causes) if isinstance(c, urllib3.exceptions.ConnectTimeoutError)),
                  None)
    if failed is None:
        return None
    pool = next((c.pool for c in causes if isinstance(c, urllib3.exceptions.MaxRetryError)), None)
    server = f"{pool.host}:{pool.port}" if pool is not None else "the server"
    if isinstance(failed, urllib3.exceptions.NewConnectionError):
        why = next((c.strerror for c in reversed(causes) if isinstance(c, OSError) and c.strerror), None)
        return ErrorCode.CONNECTION_DROPPED, f"cannot connect to {server}" + (f" ({why})" if why else "")
    # urllib3 raises it with the connection, whose timeout is the connect timeout it waited.
    waited = getattr(failed.args[0], "timeout", None) if failed.args else None
    within = f"{waited:g} s" if isinstance(waited, int | float) else "the connect timeout"
    return ErrorCode.TIMEOUT, (f"cannot connect to {server}: no answer within {within} "
                               "(PIPELINE_EWS_CONNECT_TIMEOUT)")


def is_auth_failure(exc: BaseException) -> bool:
    """The server or the token endpoint refused the credentials (HTTP 401 or an OAuth error)."""
    return isinstance(exc, ews.UnauthorizedError | OAuth2Error)


def _text(exc: BaseException) -> str:
    text = scrub(str(exc)).strip() or type(exc).__name__
    return text[:_MAX_MESSAGE] + "..." if len(text) > _MAX_MESSAGE else text


def _message(operation: str, exc: BaseException) -> str:
    return f"{operation}: {type(exc).__name__}: {_text(exc)}"


def _is_version_gap(exc: BaseException) -> bool:
    """exchangelib refused, before sending anything, an operation or a field that the server's
    version lacks (NotImplementedError from a service's supported_from, InvalidFieldForVersion)."""
    if isinstance(exc, InvalidFieldForVersion):
        return True
    if not isinstance(exc, NotImplementedError):
        return False
    frame = exc.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    # Only exchangelib's own refusal, which says what is supported from which version: a
    # NotImplementedError elsewhere, or a bare one (an abstract method), is a bug.
    raised_by = str(frame.tb_frame.f_globals.get("__name__", "")) if frame is not None else ""
    return raised_by.startswith("exchangelib") and "support" in str(exc)


def _version_message(operation: str, exc: BaseException) -> str:
    return f"{operation} is not supported by this server version ({type(exc).__name__}: {_text(exc)})"


def _make(code: ErrorCode, message: str, delay_ms: int | None = None) -> PipelineError:
    if code in _RETRYABLE:
        return RetryableError(code, message, delay_ms)
    return PermanentError(code, message)


def to_pipeline_error(exc: BaseException, operation: str = "EWS") -> PipelineError | None:
    """The PipelineError for an Exchange-side failure, or None when exc is not one (a bug)."""
    if isinstance(exc, PipelineError):
        return exc
    message = _message(operation, exc)
    if is_auth_failure(exc):
        return PermanentError(ErrorCode.AUTH_FAILED, message)
    network = _network_code(exc)
    unreachable = _connect_failure(exc) if network is not ErrorCode.TLS_ERROR else None
    if unreachable is not None:
        # Nothing was sent: the server is down, or the URL or a firewall is wrong. Said plainly,
        # not as exchangelib's ErrorTimeoutExpired around urllib3's "Max retries exceeded".
        unreachable_code, why = unreachable
        return _make(unreachable_code, f"{operation}: {why}")
    if network is not None:
        # exchangelib turns dropped connections and timeouts into ErrorTimeoutExpired/ErrorServerBusy
        # with a made-up back-off; the root cause is what upstream can act on.
        return _make(network, message)
    if isinstance(exc, ews.ErrorServerBusy):
        if any(isinstance(c, ews.ErrorInternalServerTransientError) for c in _causes(exc)):
            return _make(ErrorCode.EWS_UNAVAILABLE, message)  # HTTP 503 and friends, re-raised as busy
        delay = int(exc.back_off * 1000) if exc.back_off else None
        return _make(ErrorCode.SERVER_BUSY, message, delay)
    if isinstance(exc, ews.RateLimitError):
        return _make(ErrorCode.SERVER_BUSY, message, int(exc.wait * 1000) if exc.wait else None)
    if _is_version_gap(exc):
        return PermanentError(ErrorCode.VERSION_NOT_SUPPORTED, _version_message(operation, exc))
    for klass in type(exc).__mro__:
        code = _BY_RESPONSE_CODE.get(klass.__name__)
        if code is ErrorCode.VERSION_NOT_SUPPORTED:
            return PermanentError(code, _version_message(operation, exc))
        if code is not None:
            return _make(code, message)
    if isinstance(exc, ews.ResponseMessageError | ews.RedirectError):
        return _make(ErrorCode.EWS_ERROR, message)  # an EWS answer we have no better code for
    if isinstance(exc, ews.TransportError):
        return _make(ErrorCode.EWS_UNAVAILABLE, message)  # malformed or unexpected HTTP answer (5xx pages)
    if isinstance(exc, ews.EWSError | requests.exceptions.RequestException):
        return _make(ErrorCode.EWS_ERROR, message)
    return None


@contextmanager
def ews_errors(operation: str) -> Iterator[None]:
    """Turn any Exchange failure inside the block into the matching PipelineError (chained)."""
    try:
        yield
    except Exception as exc:
        mapped = to_pipeline_error(exc, operation)
        if mapped is None or mapped is exc:
            raise
        raise mapped from exc


# Logger filters see only their own logger's records, so name each module that logs requests.
_CHATTY_LOGGERS = (
    "exchangelib.util",
    "exchangelib.util.xml",
    "exchangelib.protocol",
    "exchangelib.services.common",
    "exchangelib.transport",
    "requests_oauthlib.oauth2_session",
)


def install_log_scrubbing() -> None:
    """exchangelib logs request headers (Authorization) and oauthlib its tokens at DEBUG: redact them;
    and SOAP bodies, mailboxes, attendees and subjects: withhold them (log_privacy.ews_payloads)."""
    withhold_ews_payloads()
    scrub_loggers(_CHATTY_LOGGERS)
