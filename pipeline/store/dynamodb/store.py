"""DynamoDbStore: ResultsStore over one DynamoDB table, composed of one part per record kind."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.config import DEFAULT_SETTINGS_CACHE_SECONDS
from pipeline.contract.booking import BookingItem
from pipeline.errors import ErrorCode
from pipeline.events.models import PipelineEvent
from pipeline.store.base import ResultsStore
from pipeline.store.dynamodb.bookings import BookingTable
from pipeline.store.dynamodb.calendar_sync import CalendarSyncTable
from pipeline.store.dynamodb.events import EventTable
from pipeline.store.dynamodb.integrations import IntegrationTable
from pipeline.store.dynamodb.jobs import JobTable
from pipeline.store.dynamodb.subscriptions import SubscriptionTable
from pipeline.store.dynamodb.table import TableClient, TransactUpdate
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

__all__ = ["DynamoDbStore"]


class DynamoDbStore(ResultsStore):
    """The results table, through an injected boto3 DynamoDB client (clients are thread-safe,
    so one store serves every worker thread)."""

    def __init__(self, client: Any, table_name: str, *, job_ttl_days: int = 30,
                 job_lease_seconds: int = 360,
                 settings_cache_seconds: float = DEFAULT_SETTINGS_CACHE_SECONDS) -> None:
        table = TableClient(client, table_name)
        self.table_name = table_name
        self._jobs = JobTable(table, ttl=timedelta(days=job_ttl_days),
                              lease=timedelta(seconds=job_lease_seconds))
        self._bookings = BookingTable(table)
        self._subscriptions = SubscriptionTable(table)
        self._integrations = IntegrationTable(table, timedelta(seconds=settings_cache_seconds))
        self._events = EventTable(table)
        self._calendar_syncs = CalendarSyncTable(table)

    # Jobs
    def begin_job(self, message_id: str, actor_name: str, integration_id: str | None,
                  mailbox: str | None, now: datetime) -> JobRecord:
        return self._jobs.begin_job(message_id, actor_name, integration_id, mailbox, now)

    def complete_job(self, message_id: str, result: dict[str, Any], now: datetime) -> JobRecord:
        return self._jobs.complete_job(message_id, result, now)

    def fail_job(self, message_id: str, code: ErrorCode, message: str, retryable: bool,
                 now: datetime, *, actor_name: str | None = None,
                 events: Sequence[PipelineEvent] = ()) -> JobRecord:
        return self._jobs.fail_job(message_id, code, message, retryable, now, actor_name=actor_name,
                                   events=events)

    def get_job(self, message_id: str) -> JobRecord | None:
        return self._jobs.get_job(message_id)

    def _completing(self, completes: JobCompletion | None) -> tuple[TransactUpdate, ...]:
        return () if completes is None else (self._jobs.completion(completes),)

    # Bookings
    def put_booking(self, booking: BookingRecord, events: Sequence[PipelineEvent] = (), *,
                    completes: JobCompletion | None = None) -> None:
        self._bookings.put_booking(booking, events, self._completing(completes))

    def claim_booking(self, booking: BookingRecord) -> BookingRecord | None:
        return self._bookings.claim_booking(booking)

    def get_booking(self, integration_id: str, booking_key: str) -> BookingRecord | None:
        return self._bookings.get_booking(integration_id, booking_key)

    def get_booking_item(self, integration_id: str, booking_key: str) -> BookingItem | None:
        return self._bookings.get_booking_item(integration_id, booking_key)

    def find_booking_by_item_id(self, integration_id: str, item_id: str) -> BookingRecord | None:
        return self._bookings.find_booking_by_item_id(integration_id, item_id)

    def update_booking(self, integration_id: str, booking_key: str, changes: BookingChanges,
                       now: datetime, events: Sequence[PipelineEvent] = (), *,
                       completes: JobCompletion | None = None) -> None:
        self._bookings.update_booking(integration_id, booking_key, changes, now, events,
                                      self._completing(completes))

    def record_invites_sent(
        self, integration_id: str, booking_key: str, recipients: Sequence[str], now: datetime, *,
        item: tuple[str, str] | None = None,
        events: Callable[[tuple[str, ...]], Sequence[PipelineEvent]] | None = None,
        seen: BookingRecord | None = None, completes: JobCompletion | None = None,
    ) -> tuple[str, ...]:
        return self._bookings.record_invites_sent(integration_id, booking_key, recipients, now,
                                                  item=item, events=events, seen=seen,
                                                  also=self._completing(completes))

    def mark_booking_cancelled(self, integration_id: str, booking_key: str, now: datetime, *,
                               state: BookingState = BookingState.CANCELLED,
                               events: Sequence[PipelineEvent] = ()) -> bool:
        return self._bookings.mark_booking_cancelled(integration_id, booking_key, now,
                                                     state=state, events=events)

    # Subscriptions
    def put_subscription(self, subscription: SubscriptionRecord) -> None:
        self._subscriptions.put_subscription(subscription)

    def get_subscription(self, record_id: str) -> SubscriptionRecord | None:
        return self._subscriptions.get_subscription(record_id)

    def find_subscription_by_token_hash(self, token_hash: str) -> SubscriptionRecord | None:
        return self._subscriptions.find_subscription_by_token_hash(token_hash)

    def list_active_subscriptions(self) -> list[SubscriptionRecord]:
        return self._subscriptions.list_active_subscriptions()

    def record_notification(self, record_id: str, seen_at: datetime, watermark: str | None = None) -> None:
        self._subscriptions.record_notification(record_id, seen_at, watermark)

    def mark_subscription_for_renewal(self, record_id: str, now: datetime) -> None:
        self._subscriptions.mark_subscription_for_renewal(record_id, now)

    def record_subscription_extended(self, record_id: str, expires_at: datetime, now: datetime) -> bool:
        return self._subscriptions.record_subscription_extended(record_id, expires_at, now)

    def mark_subscription_superseded(self, record_id: str, new_record_id: str, now: datetime) -> bool:
        return self._subscriptions.mark_subscription_superseded(record_id, new_record_id, now)

    def mark_subscription_dropped(self, record_id: str, now: datetime) -> None:
        self._subscriptions.mark_subscription_dropped(record_id, now)

    # Calendar sync
    def get_calendar_sync(self, integration_id: str, mailbox: str) -> CalendarSyncRecord | None:
        return self._calendar_syncs.get_calendar_sync(integration_id, mailbox)

    def request_calendar_sync(self, integration_id: str, mailbox: str, now: datetime,
                              expired_before: datetime) -> bool:
        return self._calendar_syncs.request_calendar_sync(integration_id, mailbox, now, expired_before)

    def begin_calendar_sync(self, integration_id: str, mailbox: str) -> CalendarSyncRecord:
        return self._calendar_syncs.begin_calendar_sync(integration_id, mailbox)

    def save_calendar_sync(self, integration_id: str, mailbox: str, sync_state: str | None,
                           now: datetime, events: Sequence[PipelineEvent] = (), *,
                           completes: JobCompletion | None = None) -> None:
        self._calendar_syncs.save_calendar_sync(integration_id, mailbox, sync_state, now, events,
                                                self._completing(completes))

    # Events
    def put_events(self, events: Sequence[PipelineEvent]) -> None:
        self._events.put_events(events)

    def get_event(self, event_id: str) -> tuple[PipelineEvent, bool] | None:
        return self._events.get_event(event_id)

    def list_pending_events(self, limit: int = 100, older_than: datetime | None = None,
                            ) -> list[PipelineEvent]:
        return self._events.list_pending_events(limit, older_than)

    def mark_events_failed(self, event_ids: Sequence[str], reason: str, now: datetime) -> None:
        self._events.mark_events_failed(event_ids, reason, now)

    def mark_events_published(self, event_ids: Sequence[str], now: datetime) -> None:
        self._events.mark_events_published(event_ids, now)

    # Integrations
    def put_integration(self, integration_id: str, settings: dict[str, Any],
                        now: datetime | None = None) -> None:
        self._integrations.put_integration(integration_id, settings, now or datetime.now(UTC))

    def get_integration_record(self, integration_id: str) -> IntegrationRecord | None:
        return self._integrations.get_integration_record(integration_id)

    def current_integration(self, integration_id: str, now: datetime) -> IntegrationRecord | None:
        """The integration as read at most settings_cache_seconds before `now`, or now: one read
        per integration every few seconds per process, whatever the number of jobs."""
        return self._integrations.current_integration(integration_id, now)

    def list_integrations(self) -> list[IntegrationRecord]:
        return self._integrations.list_integrations()

    def delete_integration(self, integration_id: str) -> bool:
        return self._integrations.delete_integration(integration_id)

    def record_login_form(self, integration_id: str, form: str) -> None:
        self._integrations.record_login_form(integration_id, form)
