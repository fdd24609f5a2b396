"""sync_calendar: report a mailbox calendar's events that are not bookings to the app."""

from __future__ import annotations

from pydantic import Field

from pipeline.contract.common import ContractModel, MailboxJobKwargs

__all__ = ["SyncCalendarKwargs", "SyncCalendarResult"]


class SyncCalendarKwargs(MailboxJobKwargs):
    """Sync one mailbox's calendar (EWS SyncFolderItems) from its last recorded state."""

    restart: bool = Field(
        default=False,
        description="Forget the recorded sync state and report every existing event again.",
    )
    page_size: int = Field(
        default=50, ge=1, le=90,
        description="Changes asked for per SyncFolderItems request (each page's events are "
        "written in one table transaction with its sync state, which caps it below 100).",
    )
    max_pages: int = Field(
        default=20, ge=1, le=1000,
        description="Pages per job; a job that stops early enqueues nothing but records its "
        "state, and the next sync carries on from there.",
    )


class SyncCalendarResult(ContractModel):
    """What the sync reported."""

    changed: int = Field(ge=0, description="calendar.event_changed events written.")
    deleted: int = Field(ge=0, description="calendar.event_deleted events written.")
    bookings_skipped: int = Field(ge=0, description="Changed items that are the pipeline's own bookings.")
    pages: int = Field(ge=1, description="SyncFolderItems requests made.")
    complete: bool = Field(description="True when the calendar is in sync (the last page was reached).")
    restarted: bool = Field(description="True when the sync started from scratch (first run, restart, "
                            "or Exchange refused the recorded state).")
