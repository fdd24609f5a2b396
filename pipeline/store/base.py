"""ResultsStore: the results table as the pipeline sees it, independent of DynamoDB.

Every method raises RetryableError(STORE_UNAVAILABLE) when the storage cannot be reached, and
the PipelineError documented on it for a failed condition; nothing storage-specific escapes.
Times passed in must be timezone-aware.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from pipeline.contract.booking import BookingItem
from pipeline.errors import ErrorCode, PermanentError
from pipeline.events.models import PipelineEvent
from pipeline.store.records import (
    BookingChanges,
    BookingRecord,
    BookingState,
    CalendarSyncRecord,
    IntegrationRecord,
    JobCompletion,
    JobRecord,
    SubscriptionRecord,
)

__all__ = ["JobFinished", "ResultsStore"]


class JobFinished(PermanentError):
    """begin_job's DUPLICATE_DELIVERY for a job that already succeeded, with its record (whose
    result a redelivered pipeline step hands on, without reading it again)."""

    def __init__(self, record: JobRecord) -> None:
        super().__init__(ErrorCode.DUPLICATE_DELIVERY,
                         f"job {record.message_id} already {record.status.value}")
        self.record = record


class ResultsStore(ABC):
    """Jobs, bookings, subscriptions and integration settings."""

    # Jobs ---------------------------------------------------------------------------------

    @abstractmethod
    def begin_job(
        self, message_id: str, actor_name: str, integration_id: str | None, mailbox: str | None,
        now: datetime,
    ) -> JobRecord:
        """Claim a job for this delivery: status running, attempts counted, a lease set.

        Takes over a job that is retrying, or running past its lease (its worker died). A job
        that failed for good is begun again as a new run (a redrive: attempts start over,
        run_started_at is now, redrives counts up).
        Raises JobFinished (a PermanentError(DUPLICATE_DELIVERY) carrying the record) when the
        job already succeeded, and RetryableError(DUPLICATE_DELIVERY, delay_ms=lease left) when
        another delivery holds it. One conditional write on the common path, and one more for a
        redelivery (the failed write returns the record it decides on).
        """

    @abstractmethod
    def complete_job(self, message_id: str, result: dict[str, Any], now: datetime) -> JobRecord:
        """Record success. Raises PermanentError(DUPLICATE_DELIVERY) if the job is not running
        (another delivery took it over and finished it): do not record anything else then.

        The methods that take `completes` (a JobCompletion) record it in their own transaction
        instead, with the same condition and error; nothing is written when it fails."""

    @abstractmethod
    def fail_job(
        self, message_id: str, code: ErrorCode, message: str, retryable: bool, now: datetime,
        *, actor_name: str | None = None, events: Sequence[PipelineEvent] = (),
    ) -> JobRecord:
        """Record a failure: status retrying when retryable, else failed.

        Also records a job that never began (for example a message rejected before begin_job,
        with attempts 0 and actor_name as given).
        `events` (the job.failed event) are written in the same transaction.
        Raises PermanentError(DUPLICATE_DELIVERY) if the job already succeeded, failed or was
        set retrying by another delivery.
        """

    @abstractmethod
    def get_job(self, message_id: str) -> JobRecord | None:
        """The job's record, or None."""

    # Bookings -----------------------------------------------------------------------------

    @abstractmethod
    def put_booking(self, booking: BookingRecord, events: Sequence[PipelineEvent] = (), *,
                    completes: JobCompletion | None = None) -> None:
        """Store where a booking's item is, with `events` (and `completes`) in the same write.
        Invites already recorded (and the record's own added), a recorded cancellation, the
        state, times and responses are kept, so a redelivered create_event loses nothing; the
        record's state is set only where none is (a pending claim has none)."""

    @abstractmethod
    def claim_booking(self, booking: BookingRecord) -> BookingRecord | None:
        """Create the booking's record only if it has none (atomic): None when this call created it,
        else the existing record, unchanged. create_event claims a pending record (no item id,
        claimed_by its message id) before it writes to Exchange, so two jobs never both create.
        A pending claim is stored without a state (read back as booked): put_booking sets it."""

    @abstractmethod
    def get_booking(self, integration_id: str, booking_key: str) -> BookingRecord | None:
        """The booking's record, or None."""

    @abstractmethod
    def get_booking_item(self, integration_id: str, booking_key: str) -> BookingItem | None:
        """The booking's stored item as published (schemas/booking-record.schema.json), or None."""

    @abstractmethod
    def find_booking_by_item_id(self, integration_id: str, item_id: str) -> BookingRecord | None:
        """The booking whose recorded item id is item_id, or None (also for a pending claim).

        For an item Exchange can no longer show (hard-deleted, or moved where the logon cannot
        read it), the item id is all that is left to find its booking by.
        """

    @abstractmethod
    def update_booking(
        self, integration_id: str, booking_key: str, changes: BookingChanges, now: datetime,
        events: Sequence[PipelineEvent] = (), *, completes: JobCompletion | None = None,
    ) -> None:
        """Set the fields `changes` names, with `events` (and `completes`) in the same transaction
        (all or nothing). Raises PermanentError(BOOKING_NOT_FOUND)."""

    @abstractmethod
    def record_invites_sent(
        self, integration_id: str, booking_key: str, recipients: Sequence[str], now: datetime, *,
        item: tuple[str, str] | None = None,
        events: Callable[[tuple[str, ...]], Sequence[PipelineEvent]] | None = None,
        seen: BookingRecord | None = None, completes: JobCompletion | None = None,
    ) -> tuple[str, ...]:
        """Add the recipients (lower-cased) not yet in invites_sent_to; return those this call added.

        Atomic: of two concurrent calls, each recipient is returned to exactly one, so a caller can
        use it to claim recipients before sending to them. The same write moves a booked booking
        to invited, records `item` (item id, change key) when given, stores the events that
        `events` makes from the recipients added, and records `completes` (also when no recipient
        is new). `seen`, the booking as the caller read it, saves the first read; the record is
        read again only when it changed since. Raises PermanentError(BOOKING_NOT_FOUND).
        """

    @abstractmethod
    def mark_booking_cancelled(
        self, integration_id: str, booking_key: str, now: datetime, *,
        state: BookingState = BookingState.CANCELLED, events: Sequence[PipelineEvent] = (),
    ) -> bool:
        """Mark cancelled (state cancelled or deleted_in_exchange), with `events`; False (and
        nothing written) if it already was. Raises PermanentError(BOOKING_NOT_FOUND)."""

    # Subscriptions ------------------------------------------------------------------------

    @abstractmethod
    def put_subscription(self, subscription: SubscriptionRecord) -> None:
        """Store a new subscription record. Raises PermanentError(CONFLICT) if record_id is taken."""

    @abstractmethod
    def get_subscription(self, record_id: str) -> SubscriptionRecord | None:
        """The subscription with this record id, or None."""

    @abstractmethod
    def find_subscription_by_token_hash(self, token_hash: str) -> SubscriptionRecord | None:
        """The subscription whose callback token hashes to token_hash, or None."""

    @abstractmethod
    def list_active_subscriptions(self) -> list[SubscriptionRecord]:
        """Every active subscription, least recently heard from first (for the renewal schedule)."""

    @abstractmethod
    def record_notification(
        self, record_id: str, seen_at: datetime, watermark: str | None = None
    ) -> None:
        """Note a notification or keep-alive (and its watermark); an older one than the last seen
        is ignored, and so is every one once a renewal is requested (the renewal resumes from the
        last good watermark). Raises PermanentError(SUBSCRIPTION_NOT_FOUND)."""

    @abstractmethod
    def mark_subscription_for_renewal(self, record_id: str, now: datetime) -> None:
        """Request a renewal: set renewal_requested_at (a repeat keeps the first time), which makes
        the subscription stale at once and freezes its watermark and last_seen_at. Raises
        PermanentError(SUBSCRIPTION_NOT_FOUND)."""

    @abstractmethod
    def record_subscription_extended(self, record_id: str, expires_at: datetime, now: datetime) -> bool:
        """A subscription renewed in place (Graph): set expires_at and clear renewal_requested_at.
        False when the record is no longer active (nothing changed). Raises
        PermanentError(SUBSCRIPTION_NOT_FOUND)."""

    @abstractmethod
    def mark_subscription_superseded(self, record_id: str, new_record_id: str, now: datetime) -> bool:
        """Mark an active subscription superseded by new_record_id; False if it was not active
        (another renewal won): the caller should then drop its own new subscription. Raises
        PermanentError(SUBSCRIPTION_NOT_FOUND)."""

    @abstractmethod
    def mark_subscription_dropped(self, record_id: str, now: datetime) -> None:
        """Mark a subscription dropped (Exchange gave up on it, or it lost a renewal race).
        Raises PermanentError(SUBSCRIPTION_NOT_FOUND)."""

    # Calendar sync -------------------------------------------------------------------------

    @abstractmethod
    def get_calendar_sync(self, integration_id: str, mailbox: str) -> CalendarSyncRecord | None:
        """The mailbox calendar's sync record, or None before its first sync."""

    @abstractmethod
    def request_calendar_sync(
        self, integration_id: str, mailbox: str, now: datetime, expired_before: datetime
    ) -> bool:
        """Note that the calendar needs a sync; True when this call made the request (enqueue the
        sync job then), False when one is pending already (coalesced into it). A request older
        than `expired_before` counts as lost (its job never ran) and is made again."""

    @abstractmethod
    def begin_calendar_sync(self, integration_id: str, mailbox: str) -> CalendarSyncRecord:
        """Clear the pending request as a sync starts, so that a change arriving from now on asks
        for another sync; returns the record (its sync state to resume from)."""

    @abstractmethod
    def save_calendar_sync(
        self, integration_id: str, mailbox: str, sync_state: str | None, now: datetime,
        events: Sequence[PipelineEvent] = (), *, completes: JobCompletion | None = None,
    ) -> None:
        """Record the state to resume from (None: start over), with the events of the page that
        led to it (and `completes`), in one transaction: a page's events exist exactly when its
        state is saved."""

    # Events (the outbox) ------------------------------------------------------------------

    @abstractmethod
    def put_events(self, events: Sequence[PipelineEvent]) -> None:
        """Keep events in the outbox, pending, for facts that change no other record.

        An event already stored (same id) is left as it is. Facts that come with a state change
        are written by that change's own method, in the same transaction.
        """

    @abstractmethod
    def get_event(self, event_id: str) -> tuple[PipelineEvent, bool] | None:
        """The stored event and whether it has been published, or None."""

    @abstractmethod
    def list_pending_events(
        self, limit: int = 100, older_than: datetime | None = None
    ) -> list[PipelineEvent]:
        """Events not yet published, oldest first; only those older than `older_than` if given."""

    @abstractmethod
    def mark_events_failed(self, event_ids: Sequence[str], reason: str, now: datetime) -> None:
        """Take events a sink can never take out of the pending list, keeping them marked failed
        with `reason` (unknown ids are ignored)."""

    @abstractmethod
    def mark_events_published(self, event_ids: Sequence[str], now: datetime) -> None:
        """Note that a sink accepted these events (unknown ids are ignored)."""

    # Integrations -------------------------------------------------------------------------

    @abstractmethod
    def put_integration(
        self, integration_id: str, settings: dict[str, Any], now: datetime | None = None
    ) -> None:
        """Store (replace) an integration's non-secret settings, one version on; they must be
        JSON-serialisable (else PermanentError(INVALID_INTEGRATION))."""

    @abstractmethod
    def get_integration_record(self, integration_id: str) -> IntegrationRecord | None:
        """The stored integration with its update time and version, or None (read now)."""

    def current_integration(self, integration_id: str, now: datetime) -> IntegrationRecord | None:
        """The integration as jobs use it: a store may answer from a copy read shortly before
        `now` (and must drop the copy when it writes the integration itself). This one reads."""
        return self.get_integration_record(integration_id)

    @abstractmethod
    def list_integrations(self) -> list[IntegrationRecord]:
        """Every stored integration, by id (a scan: for operators, not for jobs)."""

    @abstractmethod
    def delete_integration(self, integration_id: str) -> bool:
        """Remove an integration's settings; False when there were none. Its secrets stay."""

    @abstractmethod
    def record_login_form(self, integration_id: str, form: str) -> None:
        """Note on the integration's item which logon name form worked (IntegrationRecord.login_form),
        leaving its settings untouched; nothing happens for an integration not in the table."""

    def get_integration(self, integration_id: str) -> dict[str, Any] | None:
        """The integration's settings, or None."""
        record = self.get_integration_record(integration_id)
        return None if record is None else record.settings
