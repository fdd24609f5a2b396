"""What the results table holds, as frozen values; the store's interface speaks only these."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pipeline.contract.booking import AttendeeClass, AttendeeResponseEntry, BookingCopy, BookingState
from pipeline.contract.outcome import JobError, JobOutcome, JobStatus
from pipeline.errors import ErrorCode

__all__ = [
    "RENEW_BEFORE_EXPIRY",
    "BookingChanges",
    "BookingRecord",
    "BookingState",
    "CalendarSyncRecord",
    "IntegrationRecord",
    "JobCompletion",
    "JobRecord",
    "JobStatus",
    "SubscriptionRecord",
    "SubscriptionStatus",
]


@dataclass(frozen=True)
class JobRecord:
    """One job message's outcome so far."""

    message_id: str
    actor_name: str
    integration_id: str | None
    mailbox: str | None
    status: JobStatus
    attempts: int
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    lease_expires_at: datetime | None = None  # while running: when another delivery may take over
    result: dict[str, Any] | None = None
    error_code: ErrorCode | None = None
    error_message: str | None = None
    error_retryable: bool | None = None
    expires_at: int | None = None  # the table's TTL attribute, epoch seconds
    # When this run's first attempt began: its retry window counts from here. A redrive (an
    # operator sending a failed job again) starts a new run.
    run_started_at: datetime | None = None
    redrives: int = 0

    @property
    def first_attempt_at(self) -> datetime:
        return self.run_started_at or self.created_at

    def to_outcome(self) -> JobOutcome:
        """The record as published to upstream apps."""
        error = None
        if self.error_code is not None:
            error = JobError(
                code=self.error_code,
                message=self.error_message or "",
                retryable=bool(self.error_retryable),
            )
        return JobOutcome(
            message_id=self.message_id,
            actor_name=self.actor_name,
            integration_id=self.integration_id,
            mailbox=self.mailbox,
            status=self.status,
            attempts=self.attempts,
            result=self.result,
            error=error,
            created_at=self.created_at,
            started_at=self.started_at,
            updated_at=self.updated_at,
            finished_at=self.finished_at,
            redrives=self.redrives,
        )


@dataclass(frozen=True)
class JobCompletion:
    """A job's success, to record in the same transaction as its action's last write (the store
    methods that take `completes`), so that finishing the job costs no call of its own."""

    message_id: str
    result: dict[str, Any]
    now: datetime


@dataclass(frozen=True)
class BookingRecord:
    """Where a booking's event lives in Exchange, and which invitations went out."""

    integration_id: str
    booking_key: str
    mailbox: str  # the person the booking is for (organiser)
    calendar_mailbox: str  # whose calendar holds the item (a service mailbox or the person's)
    item_id: str
    change_key: str
    updated_at: datetime
    invites_sent_to: tuple[str, ...] = ()
    cancelled: bool = False
    # Everyone the event invites (required, optional, rooms), lower-cased: whom send_invite reaches.
    attendees: tuple[str, ...] = ()
    # The create_event job that claimed the booking before writing to Exchange (see claim_booking).
    claimed_by: str | None = None
    state: BookingState = BookingState.BOOKED
    # The time as booked (or as confirmed since), and as Exchange holds it now.
    booked_start: datetime | None = None
    booked_end: datetime | None = None
    start: datetime | None = None
    end: datetime | None = None
    # False while a move made in Exchange awaits the app's decision (neither locked nor auto-confirmed).
    time_confirmed: bool = True
    responses: Mapping[str, AttendeeResponseEntry] = field(default_factory=dict)
    attendee_classes: Mapping[str, AttendeeClass] = field(default_factory=dict)
    # The booking calendar's folder id when it is not calendar_mailbox's default calendar.
    calendar_folder_id: str | None = None
    # Copies of the booking in the additional booking calendars (docs/calendars.md).
    copies: tuple[BookingCopy, ...] = ()
    # The concurrency counter of invites_sent_to as read (0: none recorded yet), so that the
    # write recording more invitations needs no second read (ResultsStore.record_invites_sent).
    invites_version: int = 0

    @property
    def pending(self) -> bool:
        """Claimed by a create_event job that has not recorded the item yet (it may not exist)."""
        return not self.item_id


@dataclass(frozen=True)
class BookingChanges:
    """Fields of a booking record to set; None leaves one as it is (see ResultsStore.update_booking)."""

    item_id: str | None = None
    change_key: str | None = None
    attendees: tuple[str, ...] | None = None
    attendee_classes: Mapping[str, AttendeeClass] | None = None
    state: BookingState | None = None
    booked_start: datetime | None = None
    booked_end: datetime | None = None
    start: datetime | None = None
    end: datetime | None = None
    time_confirmed: bool | None = None
    responses: Mapping[str, AttendeeResponseEntry] | None = None
    copies: tuple[BookingCopy, ...] | None = None


# A subscription that expires is renewed this long before it does: the renewal schedule runs every
# few minutes and gives each subscription one renewal job an hour, so a renewal failing for most of
# a day still does not lose it.
RENEW_BEFORE_EXPIRY = timedelta(days=1)


class SubscriptionStatus(StrEnum):
    ACTIVE = "active"
    SUPERSEDED = "superseded"  # renewed: a newer record replaces it
    DROPPED = "dropped"  # Exchange gave up on it, or it lost a renewal race


@dataclass(frozen=True)
class SubscriptionRecord:
    """One push subscription. record_id is ours; subscription_id is the one Exchange gave."""

    record_id: str
    subscription_id: str
    integration_id: str
    mailbox: str
    token_hash: str  # hash of the callback URL's token; the token itself is never stored
    watermark: str
    status_frequency_minutes: int
    created_at: datetime
    last_seen_at: datetime  # last notification or keep-alive (creation time until the first)
    status: SubscriptionStatus = SubscriptionStatus.ACTIVE
    superseded_by: str | None = None  # record_id of the replacement
    # When Exchange first reported that it lost events (ErrorReadEventsFailed): from then on the
    # subscription is stale however recently it was heard from, and its watermark stays the last
    # good one, for the renewal to resume from.
    renewal_requested_at: datetime | None = None
    # Which API the subscription lives in (an ExchangeBackend value). Items written before Graph
    # came have neither attribute: they read as EWS subscriptions that never expire.
    backend: str = "ews"
    # When the service drops the subscription unless it is renewed (Graph); None for EWS, whose
    # subscriptions live as long as their keep-alives are answered.
    expires_at: datetime | None = None

    def stale_at(self) -> datetime:
        """When the subscription is due for renewal: for one that expires (Graph), a day before it
        does (RENEW_BEFORE_EXPIRY; Graph sends no keep-alives, so silence says nothing); otherwise
        when silence makes it stale, twice its status frequency after last_seen_at."""
        if self.expires_at is not None:
            return self.expires_at - RENEW_BEFORE_EXPIRY
        return self.last_seen_at + timedelta(minutes=2 * self.status_frequency_minutes)

    def is_stale(self, now: datetime) -> bool:
        """True when due for renewal (stale_at has passed), or a renewal was requested."""
        # A requested renewal counts whatever `now` says: the callback's clock and the renewal
        # job's are different machines', and a few milliseconds of skew must not skip it.
        return self.renewal_requested_at is not None or now >= self.stale_at()


@dataclass(frozen=True)
class CalendarSyncRecord:
    """Where a mailbox calendar's sync stands: the state to resume from, and a pending request."""

    integration_id: str
    mailbox: str
    sync_state: str | None = None  # None: the next sync starts from scratch (all existing items)
    synced_at: datetime | None = None
    # Set while a sync has been asked for and not begun: later requests are coalesced into it.
    requested_at: datetime | None = None


@dataclass(frozen=True)
class IntegrationRecord:
    """An integration's non-secret settings, as stored (pipeline.integrations gives them a model)."""

    integration_id: str
    settings: dict[str, Any] = field(default_factory=dict)
    updated_at: datetime | None = None
    # The logon name form that last worked for the integration's secrets ("username" or "domain",
    # see pipeline.exchange.ews.logins); None until a fallback was needed. Replacing the settings
    # forgets it.
    login_form: str | None = None
    # Counts the replacements of the settings (each put_integration adds one; 0 for an item
    # written before versions were kept): which edit a process's cached copy is.
    version: int = 0
