"""Building blocks shared by every action's kwargs and result models.

The models here are the public contract: upstream apps read their JSON Schema, so every field
carries a description, and validation errors never carry the rejected input (it may hold
personal data or secrets).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

from pipeline.errors import ErrorCode

__all__ = [
    "BOOKING_KEY_PATTERN",
    "INTEGRATION_ID_PATTERN",
    "Attendee",
    "AttendeeRole",
    "BookingKey",
    "ContractModel",
    "EmailAddress",
    "ErrorDetail",
    "JobKwargs",
    "MailboxJobKwargs",
    "SubscriptionRecordId",
    "TimeZoneName",
    "check_end_after_start",
]

INTEGRATION_ID_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
BOOKING_KEY_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"
# Deliberately loose: Exchange decides whether a mailbox exists; this only rejects non-addresses.
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class ContractModel(BaseModel):
    """Base of every contract model: unknown fields are errors and inputs never reach error text.

    Each model's validator is built on its first use (defer_build): a Lambda container builds the
    models of the actions it runs, not of all eleven (1 MiB of its peak memory).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True, defer_build=True)


EmailAddress = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_lower=True, max_length=254, pattern=EMAIL_PATTERN),
    Field(description="SMTP address; surrounding spaces are trimmed and it is lower-cased."),
]

BookingKey = Annotated[
    str,
    StringConstraints(pattern=BOOKING_KEY_PATTERN),
    Field(
        description="The upstream app's idempotency key for one booking; stamped on the Exchange "
        "item so that a redelivered job finds it instead of writing it again.",
        examples=["interview-8841:slot-2"],
    ),
]


SubscriptionRecordId = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,128}$"),
    Field(description="Our record id of a subscription (subscribe_mailbox's subscription_id)."),
]


def _check_time_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise PydanticCustomError("unknown_time_zone", "not an IANA time zone name") from None
    return name


TimeZoneName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64),
    AfterValidator(_check_time_zone),
    Field(description="IANA time zone name.", examples=["Europe/London"]),
]


def check_end_after_start(
    start: datetime | None, end: datetime | None, max_window: timedelta | None = None
) -> None:
    """Raise a value-free validation error unless end > start (and within max_window)."""
    if start is None or end is None:
        return
    if end <= start:
        raise PydanticCustomError("end_not_after_start", "end must be after start")
    if max_window is not None and end - start > max_window:
        raise PydanticCustomError(
            "window_too_long", "end - start must be at most {max_days} days",
            {"max_days": max_window.days},
        )


class AttendeeRole(StrEnum):
    """What a person is to the booking, for the subject and body templates (JRNI's words)."""

    CANDIDATE = "candidate"
    CUSTOMER = "customer"
    INTERVIEWER = "interviewer"
    STAFF = "staff"


class Attendee(ContractModel):
    """A person invited to a meeting."""

    email: EmailAddress
    name: str | None = Field(default=None, max_length=256, description="Display name, if known.")
    role: AttendeeRole | None = Field(
        default=None, description="What the person is to the booking; templates name people by role."
    )
    time_zone: TimeZoneName | None = Field(
        default=None,
        description="The person's own time zone: templates show them the time in it (the job's "
        "time_zone when absent).",
    )


class ErrorDetail(ContractModel):
    """A failure reported inside an otherwise successful result (for example one mailbox of many)."""

    code: ErrorCode = Field(description="Stable error code (see the pipeline's error codes).")
    message: str = Field(description="Human-readable explanation; never contains secrets.")


class JobKwargs(ContractModel):
    """Fields every job carries."""

    integration_id: str = Field(
        pattern=INTEGRATION_ID_PATTERN,
        description="The customer's Exchange connection (integration) this job runs with.",
        examples=["acme-onprem"],
    )


class MailboxJobKwargs(JobKwargs):
    """Fields of a job that acts on one person's calendar."""

    mailbox: EmailAddress = Field(
        description="The person whose calendar the job acts on (the organiser for bookings); "
        "lower-cased.",
        examples=["alice@example.com"],
    )
