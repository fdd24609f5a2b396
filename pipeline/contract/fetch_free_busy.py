"""fetch_free_busy: busy intervals and working hours for many mailboxes over any window."""

from __future__ import annotations

from datetime import time, timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, ConfigDict, Field, model_validator

from pipeline.contract.common import (
    ContractModel,
    EmailAddress,
    ErrorDetail,
    JobKwargs,
    check_end_after_start,
)

__all__ = [
    "MAX_WINDOW",
    "BusyInterval",
    "BusyType",
    "FetchFreeBusyKwargs",
    "FetchFreeBusyResult",
    "MailboxAvailability",
    "WorkingHours",
]

# The action splits the window into EWS-sized chunks (42 days); this only bounds the job itself.
MAX_WINDOW = timedelta(days=366)

BusyType = Literal["busy", "tentative", "oof", "working_elsewhere", "no_data"]
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def _dedupe(addresses: list[str]) -> list[str]:
    # Order is kept so results come back in the order the caller asked.
    return list(dict.fromkeys(addresses))


class FetchFreeBusyKwargs(JobKwargs):
    """Look up when people are busy."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "integration_id": "acme-onprem",
                    "mailboxes": ["alice@example.com", "bob@example.com"],
                    "start": "2026-11-02T00:00:00Z",
                    "end": "2026-11-07T00:00:00Z",
                    "view": "free_busy",
                }
            ]
        }
    )

    mailboxes: Annotated[list[EmailAddress], AfterValidator(_dedupe)] = Field(
        min_length=1,
        max_length=1000,
        description="Mailboxes to look up (1-1000); duplicates are removed, order is kept.",
    )
    mailbox: EmailAddress | None = Field(
        default=None,
        description="Whose own credentials a personal integration acts with (a user of the "
        "booking product; default: the first mailbox looked up); other connection methods use "
        "their service logon and ignore it.",
    )
    start: AwareDatetime = Field(description="Window start (with a UTC offset).")
    end: AwareDatetime = Field(
        description="Window end (with a UTC offset); after start, at most 366 days on."
    )
    view: Literal["free_busy", "detailed"] = Field(
        default="free_busy",
        description="free_busy: intervals only; detailed: also subject and location where the "
        "integration shows titles and the permission allows it.",
    )
    merged_interval_minutes: int | None = Field(
        default=None,
        ge=5,
        le=1440,
        description="When set, also return a merged free/busy string with one digit per interval.",
    )

    @model_validator(mode="after")
    def _window(self) -> FetchFreeBusyKwargs:
        check_end_after_start(self.start, self.end, MAX_WINDOW)
        return self


class BusyInterval(ContractModel):
    """One stretch of time in which a mailbox is not free."""

    start: AwareDatetime
    end: AwareDatetime
    busy_type: BusyType = Field(description="How the time is taken.")
    subject: str | None = Field(default=None, description="Only in the detailed view, where permitted.")
    location: str | None = Field(default=None, description="Only in the detailed view, where permitted.")
    calendar: str | None = Field(
        default=None,
        description="Which of the integration's busy_calendars this stretch comes from, as "
        "configured (\"Calendar/Interviews\", \"team@example.com:Calendar\"); absent for the "
        "mailbox's default calendar.",
    )


class WorkingHours(ContractModel):
    """A mailbox's configured working hours."""

    time_zone: str = Field(description="Time zone the start and end times are in (IANA or Windows name).")
    days: list[Weekday] = Field(description="Working days.")
    start_time: time = Field(description="Start of the working day, local time.")
    end_time: time = Field(description="End of the working day, local time.")


class MailboxAvailability(ContractModel):
    """The availability of one mailbox, or why it could not be read."""

    email: EmailAddress
    error: ErrorDetail | None = Field(
        default=None, description="Set when this mailbox failed (for example UNKNOWN_MAILBOX)."
    )
    working_hours: WorkingHours | None = None
    intervals: list[BusyInterval] = Field(default_factory=list)
    merged_free_busy: str | None = Field(
        default=None,
        description="One digit per merged interval: 0 free, 1 tentative, 2 busy, 3 oof, "
        "4 working elsewhere, 5 no data.",
    )


class FetchFreeBusyResult(ContractModel):
    """Availability for every requested mailbox, in request order."""

    start: AwareDatetime
    end: AwareDatetime
    mailboxes: list[MailboxAvailability]
    calendar_view_requests: int = Field(
        default=0,
        description="FindItem (CalendarView) requests made for busy calendars other than the "
        "default ones: one per distinct calendar per 42 days of the window.",
    )
    folder_lookup_requests: int = Field(
        default=0,
        description="FindFolder/GetFolder requests made to find those calendars (0 once a "
        "worker has found them: they are cached).",
    )
