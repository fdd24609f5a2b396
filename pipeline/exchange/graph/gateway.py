"""GraphGateway: the ExchangeGateway over Microsoft Graph, one module per operation family.

Obtain one from GraphConnector.gateway(settings, mailbox). Every call runs through
GraphConnector.run(), which supplies the token and refreshes the secret once on a 401.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from pipeline.errors import ErrorCode, PermanentError
from pipeline.exchange.base import ExchangeGateway
from pipeline.exchange.calendar_items import CalendarSyncPage
from pipeline.exchange.calendars import CalendarFolder, CalendarReading
from pipeline.exchange.graph import (
    availability,
    calendars,
    changes,
    events,
    probes,
    rooms,
    subscriptions,
    sync,
)
from pipeline.exchange.graph.connection import GraphLive
from pipeline.exchange.push import ChangedItem
from pipeline.exchange.targets import resolve_target
from pipeline.exchange.types import (
    CallbackTarget,
    EventChanges,
    EventDraft,
    EventRef,
    EventState,
    MailboxAvailability,
    MailboxTarget,
    NotifyAttendees,
    PushSubscription,
    Room,
    RoomList,
    StampedEvent,
)
from pipeline.integrations import ConnectionMethod, DeleteType, IntegrationSettings

if TYPE_CHECKING:
    from pipeline.exchange.graph.connection import GraphConnector

__all__ = ["GraphGateway"]

T = TypeVar("T")
_UNUSABLE = (ErrorCode.CALENDAR_NOT_FOUND, ErrorCode.ACCESS_DENIED)


class GraphGateway(ExchangeGateway):
    """Bound to one integration and one job mailbox; cheap to create per job."""

    def __init__(self, connector: GraphConnector, settings: IntegrationSettings, mailbox: str | None) -> None:
        self._connector = connector
        self._settings = settings
        self._mailbox = mailbox
        self._target = resolve_target(settings, mailbox)

    # Graph has no SendToNone: a PATCH of an invited meeting sends the update, and a DELETE of
    # an organizer's meeting sends the cancellation (learn.microsoft.com/graph/api/event-update,
    # .../event-delete).
    tells_attendees_of_every_change = True

    @property
    def target(self) -> MailboxTarget:
        return self._target

    def missing_access(self, description: str, *, for_writing: bool) -> str:
        if self._target.connection_method is ConnectionMethod.PERSONAL:
            # A user's own token: the other mailbox's folder permissions apply, as on EWS.
            return super().missing_access(description, for_writing=for_writing)
        # App-only: what the app may reach is its Graph permissions within its scope.
        permission = "Calendars.ReadWrite" if for_writing else "Calendars.Read"
        return (f"the app registration needs the {permission} application permission for the "
                f"{description}: grant admin consent, and include the mailbox in the app's RBAC for "
                "Applications scope or application access policy (docs/graph.md)")

    @property
    def settings(self) -> IntegrationSettings:
        return self._settings

    def run(self, call: Callable[[GraphLive], T]) -> T:
        """Run `call` with a live Graph connection (for the subscription and notification modules)."""
        return self._connector.run(self._settings, self._mailbox, call)

    _run = run

    @contextmanager
    def _in(self, calendar: CalendarFolder | None) -> Iterator[None]:
        try:
            yield
        except PermanentError as refused:
            if calendar is not None and refused.code in _UNUSABLE:
                self._connector.calendars.forget_folder(calendar.folder_id)
            raise

    # check_connection --------------------------------------------------------------------------

    def probe_endpoint(self) -> str:
        return self._settings.graph_url

    def authenticate(self) -> str:
        return self._run(probes.authenticate)

    def probe_mailbox(self) -> None:
        self._run(probes.probe_calendar)

    # Free/busy ---------------------------------------------------------------------------------

    def get_availability(
        self, mailboxes: Sequence[str], start: datetime, end: datetime, *, detailed: bool = False,
        merged_interval_minutes: int | None = None,
    ) -> list[MailboxAvailability]:
        return self._run(lambda live: availability.fetch_availability(
            live, mailboxes, start, end, detailed=detailed, merged_interval_minutes=merged_interval_minutes,
        ))

    # Other calendars ---------------------------------------------------------------------------

    def find_calendar(
        self, owner: str, *, path: Sequence[str] = (), folder_id: str | None = None, for_writing: bool = False
    ) -> CalendarFolder:
        return self._run(
            lambda live: calendars.find_calendar(live, owner, path, folder_id, for_writing=for_writing)
        )

    def read_calendar(
        self, calendar: CalendarFolder, start: datetime, end: datetime, *, detailed: bool = False
    ) -> CalendarReading:
        with self._in(calendar):
            return self._run(
                lambda live: calendars.read_calendar(live, calendar, start, end, detailed=detailed)
            )

    # Events ------------------------------------------------------------------------------------

    def find_event_by_booking_key(
        self, booking_key: str, calendar: CalendarFolder | None = None, *, copy: bool = False
    ) -> EventRef | None:
        with self._in(calendar):
            return self._run(lambda live: events.find_event_by_booking_key(live, booking_key, calendar, copy))

    def find_booking_event(
        self, booking_key: str, calendar: CalendarFolder | None = None
    ) -> StampedEvent | None:
        with self._in(calendar):
            return self._run(lambda live: events.find_booking_event(live, booking_key, calendar))

    def read_event(self, ref: EventRef) -> EventState | None:
        return self._run(lambda live: events.read_event(live, ref))

    def create_event(
        self, draft: EventDraft, calendar: CalendarFolder | None = None, *, invite_marker: str | None = None
    ) -> EventRef:
        with self._in(calendar):
            return self._run(lambda live: events.create_event(live, draft, calendar, invite_marker))

    def send_invitations(self, ref: EventRef, *, marker: str) -> EventRef:
        return self._run(lambda live: events.send_invitations(live, ref, marker))

    def update_event(
        self, ref: EventRef, changes: EventChanges, *, notify: NotifyAttendees, marker: str
    ) -> EventRef:
        return self._run(lambda live: events.update_event(live, ref, changes, notify, marker))

    def cancel_event(
        self, ref: EventRef, *, delete_type: DeleteType, send_cancellations: bool, comment: str | None = None
    ) -> bool:
        return self._run(
            lambda live: events.cancel_event(live, ref, delete_type, send_cancellations, comment)
        )

    # Rooms -------------------------------------------------------------------------------------

    def list_room_lists(self) -> list[RoomList]:
        return self._run(rooms.fetch_room_lists)

    def list_rooms(self, room_list: str) -> list[Room]:
        return self._run(lambda live: rooms.fetch_rooms(live, room_list))

    # Notifications -----------------------------------------------------------------------------

    def subscribe_push(
        self,
        callback: CallbackTarget,
        status_frequency_minutes: int,
        watermark: str | None = None,
        *,
        now: datetime | None = None,
    ) -> PushSubscription:
        """POST /subscriptions (pipeline/exchange/graph/subscriptions.py)."""
        return self._run(lambda live: subscriptions.subscribe_push(
            live, callback, status_frequency_minutes, watermark, now=now))

    def renew_push(self, subscription_id: str, *, now: datetime | None = None) -> PushSubscription:
        return self._run(lambda live: subscriptions.renew_subscription(live, subscription_id, now=now))

    def end_push(self, subscription_id: str) -> None:
        self._run(lambda live: subscriptions.delete_subscription(live, subscription_id))

    def read_changed_items(self, item_ids: Sequence[str]) -> list[ChangedItem | None]:
        return self._run(lambda live: changes.read_changed_items(live, item_ids))

    def calendar_folder_id(self) -> str:
        return self._run(changes.calendar_folder_id)

    # Calendar sync -----------------------------------------------------------------------------

    def sync_calendar(self, sync_state: str | None, max_changes: int = 100) -> CalendarSyncPage:
        return self._run(lambda live: sync.sync_calendar(live, sync_state, max_changes))
