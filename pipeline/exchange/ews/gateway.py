"""EwsGateway: the ExchangeGateway over EWS, composing one module per EWS operation family.

Obtain one from EwsConnector.gateway(settings, mailbox). Every call runs through
EwsConnector.run(), which maps exchangelib errors and refreshes the secret once on a 401.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TypeVar

from pipeline.errors import ErrorCode, PermanentError
from pipeline.exchange.base import ExchangeGateway
from pipeline.exchange.calendar_items import CalendarSyncPage
from pipeline.exchange.calendars import CalendarFolder, CalendarReading
from pipeline.exchange.ews import (
    availability,
    calendar_view,
    changes,
    events,
    folders,
    probes,
    rooms,
    subscriptions,
    sync,
)
from pipeline.exchange.ews.connection import EwsConnector, LiveConnection
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
from pipeline.integrations import DeleteType, IntegrationSettings

__all__ = ["EwsGateway"]

T = TypeVar("T")
_UNUSABLE = (ErrorCode.CALENDAR_NOT_FOUND, ErrorCode.ACCESS_DENIED)


class EwsGateway(ExchangeGateway):
    """Bound to one integration and one job mailbox; cheap to create per job (connections are pooled)."""

    def __init__(self, connector: EwsConnector, settings: IntegrationSettings, mailbox: str | None) -> None:
        self._connector = connector
        self._settings = settings
        self._mailbox = mailbox
        self._target = resolve_target(settings, mailbox)

    @property
    def target(self) -> MailboxTarget:
        return self._target

    @property
    def settings(self) -> IntegrationSettings:
        return self._settings

    def _run(self, operation: str, call: Callable[[LiveConnection], T]) -> T:
        return self._connector.run(self._settings, self._mailbox, operation, call)

    @contextmanager
    def _in(self, calendar: CalendarFolder | None) -> Iterator[None]:
        """A calendar found before that an operation cannot find or use is looked up afresh next time."""
        try:
            yield
        except PermanentError as refused:
            if calendar is not None and refused.code in _UNUSABLE:
                self._connector.calendars.forget_folder(calendar.folder_id)
            raise

    # check_connection --------------------------------------------------------------------------

    def probe_endpoint(self) -> str:
        return self._connector.endpoint(self._settings, self._mailbox)

    def authenticate(self) -> str:
        return self._run("ConvertId", probes.authenticate)

    def probe_mailbox(self) -> None:
        self._run("GetFolder", probes.probe_calendar)

    # Free/busy ---------------------------------------------------------------------------------

    def get_availability(
        self,
        mailboxes: Sequence[str],
        start: datetime,
        end: datetime,
        *,
        detailed: bool = False,
        merged_interval_minutes: int | None = None,
    ) -> list[MailboxAvailability]:
        return self._run(
            "GetUserAvailability",
            lambda live: availability.fetch_availability(
                live,
                mailboxes,
                start,
                end,
                detailed=detailed,
                merged_interval_minutes=merged_interval_minutes,
                max_workers=self._connector.max_connections,
            ),
        )

    # Other calendars ---------------------------------------------------------------------------

    def find_calendar(
        self, owner: str, *, path: Sequence[str] = (), folder_id: str | None = None, for_writing: bool = False
    ) -> CalendarFolder:
        cache = self._connector.calendars
        return self._run(
            folders.lookup_operation(path, folder_id),
            lambda live: folders.find_calendar(live, cache, owner, path, folder_id, for_writing=for_writing),
        )

    def read_calendar(
        self, calendar: CalendarFolder, start: datetime, end: datetime, *, detailed: bool = False
    ) -> CalendarReading:
        with self._in(calendar):
            return self._run(
                "FindItem",
                lambda live: calendar_view.read_calendar(live, calendar, start, end, detailed=detailed),
            )

    # Events ------------------------------------------------------------------------------------

    def find_event_by_booking_key(
        self, booking_key: str, calendar: CalendarFolder | None = None, *, copy: bool = False
    ) -> EventRef | None:
        with self._in(calendar):
            return self._run(
                "FindItem", lambda live: events.find_event_by_booking_key(live, booking_key, calendar, copy)
            )

    def find_booking_event(
        self, booking_key: str, calendar: CalendarFolder | None = None
    ) -> StampedEvent | None:
        with self._in(calendar):
            return self._run("FindItem", lambda live: events.find_booking_event(live, booking_key, calendar))

    def read_event(self, ref: EventRef) -> EventState | None:
        return self._run("GetItem", lambda live: events.read_event(live, ref))

    def create_event(
        self, draft: EventDraft, calendar: CalendarFolder | None = None, *, invite_marker: str | None = None
    ) -> EventRef:
        with self._in(calendar):
            return self._run(
                "CreateItem", lambda live: events.create_event(live, draft, calendar, invite_marker)
            )

    def send_invitations(self, ref: EventRef, *, marker: str) -> EventRef:
        return self._run("UpdateItem", lambda live: events.send_invitations(live, ref, marker))

    def update_event(
        self, ref: EventRef, changes: EventChanges, *, notify: NotifyAttendees, marker: str
    ) -> EventRef:
        return self._run("UpdateItem", lambda live: events.update_event(live, ref, changes, notify, marker))

    def cancel_event(
        self, ref: EventRef, *, delete_type: DeleteType, send_cancellations: bool, comment: str | None = None
    ) -> bool:
        del comment  # DeleteItem carries no text: Exchange sends its own cancellation notice
        return self._run(
            "DeleteItem", lambda live: events.cancel_event(live, ref, delete_type, send_cancellations)
        )

    # Rooms -------------------------------------------------------------------------------------

    def list_room_lists(self) -> list[RoomList]:
        return self._run("GetRoomLists", rooms.fetch_room_lists)

    def list_rooms(self, room_list: str) -> list[Room]:
        return self._run("GetRooms", lambda live: rooms.fetch_rooms(live, room_list))

    # Notifications -----------------------------------------------------------------------------

    def subscribe_push(
        self,
        callback: CallbackTarget,
        status_frequency_minutes: int,
        watermark: str | None = None,
        *,
        now: datetime | None = None,
    ) -> PushSubscription:
        url = subscriptions.callback_url(callback)

        def subscribe(live: LiveConnection) -> PushSubscription:
            return subscriptions.subscribe_push(live, url, status_frequency_minutes, watermark)

        return self._run("Subscribe", subscribe)

    def read_changed_items(self, item_ids: Sequence[str]) -> list[ChangedItem | None]:
        return self._run("GetItem", lambda live: changes.read_changed_items(live, item_ids))

    def calendar_folder_id(self) -> str:
        return self._run("GetFolder", changes.calendar_folder_id)

    # Calendar sync -----------------------------------------------------------------------------

    def sync_calendar(self, sync_state: str | None, max_changes: int = 100) -> CalendarSyncPage:
        return self._run("SyncFolderItems", lambda live: sync.sync_calendar(live, sync_state, max_changes))
