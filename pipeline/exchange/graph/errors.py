"""Graph answers and transport failures -> PipelineError, with the same ErrorCode values as EWS.

Graph errors are OData bodies, `{"error": {"code": "...", "message": "...", "innerError": {...}}}`
(learn.microsoft.com/graph/errors). The code, not the message, decides: Graph's messages may
quote addresses or ids, so a PipelineError carries the operation, the HTTP status and the code
only, never Graph's text, a mailbox, a subject or a token.

- 401 (InvalidAuthenticationToken): AUTH_FAILED; the connector refreshes the secret and the
  token once before it gives up (connection.py), as EwsConnector does.
- 403 ErrorAccessDenied (an application access policy or RBAC for Applications scope leaves the
  mailbox out: "Access to OData is disabled"), Authorization_RequestDenied (an app role is
  missing): ACCESS_DENIED, permanent.
- 404 ErrorItemNotFound: ITEM_NOT_FOUND (the gateway answers None where EWS does);
  ErrorInvalidUser, MailboxNotEnabledForRESTAPI, ResourceNotFound on a user: UNKNOWN_MAILBOX.
- 409/412 (ErrorIrresolvableConflict, a change key that is not current): CONFLICT.
- 410 (SyncStateNotFound, resyncRequired): SYNC_STATE_INVALID.
- 429 and 503/504, with Retry-After (learn.microsoft.com/graph/throttling: "wait the number of
  seconds specified in the Retry-After header"): retryable, with Retry-After as the minimum
  delay; other 5xx: EWS_UNAVAILABLE.
- connection failures and timeouts: TLS_ERROR (permanent), TIMEOUT, CONNECTION_DROPPED, as EWS.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Mapping
from typing import Any

import requests.exceptions

from pipeline.errors import ErrorCode, PermanentError, PipelineError, RetryableError

__all__ = [
    "GraphUnauthorized",
    "error_code_of",
    "from_answer",
    "from_transport",
    "retry_after_ms",
]

_BY_CODE: dict[str, ErrorCode] = {
    "ErrorAccessDenied": ErrorCode.ACCESS_DENIED,
    "AccessDenied": ErrorCode.ACCESS_DENIED,
    "Authorization_RequestDenied": ErrorCode.ACCESS_DENIED,
    "ErrorAccountDisabled": ErrorCode.ACCESS_DENIED,
    "ErrorItemNotFound": ErrorCode.ITEM_NOT_FOUND,
    "ErrorInvalidUser": ErrorCode.UNKNOWN_MAILBOX,
    "ErrorNonExistentMailbox": ErrorCode.UNKNOWN_MAILBOX,
    "MailboxNotEnabledForRESTAPI": ErrorCode.UNKNOWN_MAILBOX,
    "ResourceNotFound": ErrorCode.UNKNOWN_MAILBOX,
    "Request_ResourceNotFound": ErrorCode.UNKNOWN_MAILBOX,
    "ErrorIrresolvableConflict": ErrorCode.CONFLICT,
    "ErrorStaleObject": ErrorCode.CONFLICT,
    "SyncStateNotFound": ErrorCode.SYNC_STATE_INVALID,
    "SyncStateInvalid": ErrorCode.SYNC_STATE_INVALID,
    "resyncRequired": ErrorCode.SYNC_STATE_INVALID,
    "ErrorInvalidIdMalformed": ErrorCode.EWS_ERROR,  # as EWS: exchangelib's ErrorInvalidIdMalformed
    "ErrorMailboxStoreUnavailable": ErrorCode.EWS_UNAVAILABLE,
    "ErrorMailboxMoveInProgress": ErrorCode.EWS_UNAVAILABLE,
}
_BY_STATUS: dict[int, ErrorCode] = {
    403: ErrorCode.ACCESS_DENIED,
    409: ErrorCode.CONFLICT,
    410: ErrorCode.SYNC_STATE_INVALID,
    412: ErrorCode.CONFLICT,
    413: ErrorCode.REQUEST_TOO_LARGE,
    429: ErrorCode.SERVER_BUSY,
    503: ErrorCode.EWS_UNAVAILABLE,
    504: ErrorCode.EWS_UNAVAILABLE,
}
_RETRYABLE = {
    ErrorCode.SERVER_BUSY, ErrorCode.EWS_UNAVAILABLE, ErrorCode.TIMEOUT, ErrorCode.CONNECTION_DROPPED,
}
# Without a Retry-After, a throttled request waits at least this long (Graph's usual advice).
_DEFAULT_BUSY_MS = 1_000


class GraphUnauthorized(PermanentError):
    """HTTP 401: the token was refused. The connector refreshes once before it reports AUTH_FAILED."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.AUTH_FAILED, message)


def error_code_of(body: Any) -> str:
    """The OData error code of an answer's body ("" when there is none)."""
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping):
            return str(error.get("code") or "")
    return ""


def retry_after_ms(headers: Mapping[str, str]) -> int | None:
    """Retry-After in milliseconds (delta-seconds, as Graph sends it); None without a usable value."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return int(seconds * 1000) if seconds >= 0 else None


def from_answer(operation: str, status: int, body: Any, headers: Mapping[str, str]) -> PipelineError:
    """The PipelineError for a Graph answer that is not a success."""
    code = error_code_of(body)
    said = f"{operation}: HTTP {status}" + (f" {code}" if code else "")
    if status == 401:
        return GraphUnauthorized(said)
    mapped = _BY_CODE.get(code) or _BY_STATUS.get(status)
    if mapped is None:
        mapped = ErrorCode.EWS_UNAVAILABLE if status >= 500 else ErrorCode.EWS_ERROR
    if mapped in _RETRYABLE:
        delay = retry_after_ms(headers)
        if delay is None and mapped is ErrorCode.SERVER_BUSY:
            delay = _DEFAULT_BUSY_MS
        return RetryableError(mapped, said + (f" (retry after {delay} ms)" if delay else ""), delay)
    return PermanentError(mapped, said)


def from_transport(operation: str, exc: BaseException) -> PipelineError:
    """A request that got no answer: TLS_ERROR, TIMEOUT or CONNECTION_DROPPED (as EWS's errors.py)."""
    cause: BaseException | None = exc
    seen: set[int] = set()
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, requests.exceptions.SSLError | ssl.SSLError):
            return PermanentError(ErrorCode.TLS_ERROR, f"{operation}: TLS failed ({type(cause).__name__})")
        if isinstance(cause, requests.exceptions.Timeout | socket.timeout | TimeoutError):
            return RetryableError(ErrorCode.TIMEOUT,
                                  f"{operation}: no answer in time ({type(cause).__name__})")
        cause = cause.__cause__ or cause.__context__
    return RetryableError(ErrorCode.CONNECTION_DROPPED,
                          f"{operation}: the connection failed ({type(exc).__name__})")
