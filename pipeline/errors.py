"""Every failure the pipeline reports: a stable code, a clear message, and whether to retry.

Upstream apps act on `code`; the codes are part of the public contract and never change meaning.
Messages must never contain secrets: build them from identifiers, never from credentials.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "ErrorCode",
    "PermanentError",
    "PipelineError",
    "RetryableError",
]


class ErrorCode(StrEnum):
    # The message itself
    INVALID_MESSAGE = "INVALID_MESSAGE"  # not a decodable dramatiq message
    UNKNOWN_ACTOR = "UNKNOWN_ACTOR"
    INVALID_KWARGS = "INVALID_KWARGS"  # kwargs fail the action's model
    DUPLICATE_DELIVERY = "DUPLICATE_DELIVERY"  # another delivery of this message holds the job
    # Configuration and identity
    UNKNOWN_INTEGRATION = "UNKNOWN_INTEGRATION"
    INVALID_INTEGRATION = "INVALID_INTEGRATION"
    SECRET_NOT_FOUND = "SECRET_NOT_FOUND"
    UNKNOWN_MAILBOX = "UNKNOWN_MAILBOX"
    AUTH_FAILED = "AUTH_FAILED"  # wrong credentials even after one secret refresh
    ACCESS_DENIED = "ACCESS_DENIED"
    IMPERSONATION_DENIED = "IMPERSONATION_DENIED"
    AUTODISCOVER_FAILED = "AUTODISCOVER_FAILED"
    TLS_ERROR = "TLS_ERROR"
    VERSION_NOT_SUPPORTED = "VERSION_NOT_SUPPORTED"  # the server version does not support this operation
    # Items
    ITEM_NOT_FOUND = "ITEM_NOT_FOUND"
    CALENDAR_NOT_FOUND = "CALENDAR_NOT_FOUND"  # a configured calendar is not there (or not visible)
    BOOKING_NOT_FOUND = "BOOKING_NOT_FOUND"
    CONFLICT = "CONFLICT"  # stale change key
    REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"
    SUBSCRIPTION_NOT_FOUND = "SUBSCRIPTION_NOT_FOUND"
    TEMPLATE_ERROR = "TEMPLATE_ERROR"  # an integration's subject/body template does not render
    FORGED_CALLBACK = "FORGED_CALLBACK"  # a push callback whose token matches no subscription
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    SYNC_STATE_INVALID = "SYNC_STATE_INVALID"  # Exchange refused a calendar sync state (resync from scratch)
    # Transient
    SERVER_BUSY = "SERVER_BUSY"
    EWS_UNAVAILABLE = "EWS_UNAVAILABLE"  # HTTP 5xx / 503
    TIMEOUT = "TIMEOUT"
    CONNECTION_DROPPED = "CONNECTION_DROPPED"
    STORE_UNAVAILABLE = "STORE_UNAVAILABLE"
    # Anything else EWS said that we have no better code for
    EWS_ERROR = "EWS_ERROR"
    INTERNAL = "INTERNAL"


class PipelineError(Exception):
    """Root of every pipeline failure."""

    retryable: bool = False

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class PermanentError(PipelineError):
    """Recorded as failed and never retried: retrying cannot change the outcome."""

    retryable = False


class RetryableError(PipelineError):
    """Transient: retry after `delay_ms` (the server's BackOffMilliseconds when it gave one)."""

    retryable = True

    def __init__(self, code: ErrorCode, message: str, delay_ms: int | None = None) -> None:
        super().__init__(code, message)
        self.delay_ms = delay_ms
