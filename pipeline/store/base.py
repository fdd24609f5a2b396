"""ResultsStore: the results table as the pipeline sees it, independent of DynamoDB.

Every method raises RetryableError(STORE_UNAVAILABLE) when the storage cannot be reached, and
the PipelineError documented on it for a failed condition; nothing storage-specific escapes.
Times passed in must be timezone-aware.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pipeline.errors import ErrorCode
from pipeline.store.records import BookingRecord, IntegrationRecord, JobRecord, SubscriptionRecord

__all__ = ["ResultsStore"]


class ResultsStore(ABC):
    """Jobs, bookings, subscriptions and integration settings."""

    # Jobs ---------------------------------------------------------------------------------

    @abstractmethod
    def begin_job(
        self, message_id: str, actor_name: str, integration_id: str | None, mailbox: str | None,
        now: datetime,
    ) -> JobRecord:
        """Claim a job for this delivery: status running, attempts counted, a lease set.

        Takes over a job that is retrying, or running past its lease (its worker died).
        Raises PermanentError(DUPLICATE_DELIVERY) when the job already succeeded or failed, and
        RetryableError(DUPLICATE_DELIVERY, delay_ms=lease left) when another delivery holds it.
        """

    @abstractmethod
    def complete_job(self, message_id: str, result: dict[str, Any], now: datetime) -> JobRecord:
        """Record success. Raises PermanentError(DUPLICATE_DELIVERY) if the job is not running
        (another delivery took it over and finished it): do not record anything else then."""

    @abstractmethod
    def fail_job(
        self, message_id: str, code: ErrorCode, message: str, retryable: bool, now: datetime,
        *, actor_name: str | None = None,
    ) -> JobRecord:
        """Record a failure: status retrying when retryable, else failed.

        Also records a job that never began (for example a message rejected before begin_job,
        with attempts 0 and actor_name as given).
        Raises PermanentError(DUPLICATE_DELIVERY) if the job already succeeded, failed or was
        set retrying by another delivery.
        """

    @abstractmethod
    def get_job(self, message_id: str) -> JobRecord | None:
        """The job's record, or None."""

    # Bookings -----------------------------------------------------------------------------

    @abstractmethod
    def put_booking(self, booking: BookingRecord) -> None:
        """Store where a booking's item is. Invites already recorded are kept (and the record's
        own added); a recorded cancellation is kept, so a redelivered create_event loses nothing."""

    @abstractmethod
    def claim_booking(self, booking: BookingRecord) -> BookingRecord | None:
        """Create the booking's record only if it has none (atomic): None when this call created it,
        else the existing record, unchanged. create_event claims a pending record (no item id,
        claimed_by its message id) before it writes to Exchange, so two jobs never both create."""

    @abstractmethod
    def get_booking(self, integration_id: str, booking_key: str) -> BookingRecord | None:
        """The booking's record, or None."""

    @abstractmethod
    def find_booking_by_item_id(self, integration_id: str, item_id: str) -> BookingRecord | None:
        """The booking whose recorded item id is item_id, or None (also for a pending claim).

        For an item Exchange can no longer show (hard-deleted, or moved where the logon cannot
        read it), the item id is all that is left to find its booking by.
        """

    @abstractmethod
    def update_booking_item(
        self, integration_id: str, booking_key: str, item_id: str, change_key: str, now: datetime
    ) -> BookingRecord:
        """Record the item's new id and change key. Raises PermanentError(BOOKING_NOT_FOUND)."""

    @abstractmethod
    def record_invites_sent(
        self, integration_id: str, booking_key: str, recipients: Sequence[str], now: datetime
    ) -> tuple[str, ...]:
        """Add the recipients (lower-cased) not yet in invites_sent_to; return those this call added.

        Atomic: of two concurrent calls, each recipient is returned to exactly one, so a caller can
        use it to claim recipients before sending to them. Raises PermanentError(BOOKING_NOT_FOUND).
        """

    @abstractmethod
    def mark_booking_cancelled(self, integration_id: str, booking_key: str, now: datetime) -> bool:
        """Mark cancelled; False if it already was. Raises PermanentError(BOOKING_NOT_FOUND)."""

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
        is ignored. Raises PermanentError(SUBSCRIPTION_NOT_FOUND)."""

    @abstractmethod
    def mark_subscription_superseded(self, record_id: str, new_record_id: str, now: datetime) -> bool:
        """Mark an active subscription superseded by new_record_id; False if it was not active
        (another renewal won): the caller should then drop its own new subscription. Raises
        PermanentError(SUBSCRIPTION_NOT_FOUND)."""

    @abstractmethod
    def mark_subscription_dropped(self, record_id: str, now: datetime) -> None:
        """Mark a subscription dropped (Exchange gave up on it, or it lost a renewal race).
        Raises PermanentError(SUBSCRIPTION_NOT_FOUND)."""

    # Integrations -------------------------------------------------------------------------

    @abstractmethod
    def put_integration(
        self, integration_id: str, settings: dict[str, Any], now: datetime | None = None
    ) -> None:
        """Store (replace) an integration's non-secret settings; they must be JSON-serialisable
        (else PermanentError(INVALID_INTEGRATION))."""

    @abstractmethod
    def get_integration_record(self, integration_id: str) -> IntegrationRecord | None:
        """The stored integration with its update time, or None."""

    def get_integration(self, integration_id: str) -> dict[str, Any] | None:
        """The integration's settings, or None."""
        record = self.get_integration_record(integration_id)
        return None if record is None else record.settings
