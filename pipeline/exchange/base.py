"""ExchangeGateway: the domain operations the actions use, whatever speaks to Exchange underneath.

A gateway is bound to one integration and one job mailbox (its `target`): actions obtain it with
`context.gateway(integration_id, mailbox)` and call the methods below. Every method raises only
PipelineError subclasses. EWS implements this in `ews/gateway.py`; a Microsoft Graph backend
would be a second implementation.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from datetime import datetime

from pipeline.errors import ErrorCode, PermanentError
from pipeline.exchange.calendar_items import CalendarSyncPage
from pipeline.exchange.calendars import CalendarFolder, CalendarReading
from pipeline.exchange.push import ChangedItem
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
from pipeline.integrations import DeleteType

__all__ = ["READ_PERMISSION", "WRITE_PERMISSION", "ExchangeGateway"]

# The calendar folder permissions a logon needs in another mailbox's calendar.
READ_PERMISSION = "Reviewer"  # to read busy time
WRITE_PERMISSION = "Editor or Delegate"  # to write bookings


class ExchangeGateway(abc.ABC):
    @property
    @abc.abstractmethod
    def target(self) -> MailboxTarget:
        """Whose calendar this gateway writes to, and as whom it acts."""

    # Whether the backend itself tells an invited meeting's attendees of every change and of its
    # deletion, whatever the job asks (Graph does; EWS sends only what SendMeetingInvitationsOr
    # Cancellations says). The actions report `notified` from this, so the app hears what happened.
    tells_attendees_of_every_change: bool = False

    def missing_access(self, description: str, *, for_writing: bool) -> str:
        """What this logon lacks on a calendar it may not read (or write), for ACCESS_DENIED's
        message: on EWS, a folder permission of the acting account."""
        if for_writing:
            return (f"{self.target.acting_as} needs the {WRITE_PERMISSION} permission on the {description} "
                    "to write bookings there")
        return (f"{self.target.acting_as} needs the {READ_PERMISSION} permission (or higher) on the "
                f"{description} to read its busy time")

    # check_connection ----------------------------------------------------------------------

    @abc.abstractmethod
    def probe_endpoint(self) -> str:
        """Resolve the service endpoint (URL or autodiscover) and return it; no credentials checked yet."""

    @abc.abstractmethod
    def authenticate(self) -> str:
        """Prove the credentials work; return the server's version (e.g. "15.2.1118.7")."""

    @abc.abstractmethod
    def probe_mailbox(self) -> None:
        """Prove the connection method works for the target mailbox (reads its calendar folder)."""

    # Free/busy -----------------------------------------------------------------------------

    @abc.abstractmethod
    def get_availability(
        self,
        mailboxes: Sequence[str],
        start: datetime,
        end: datetime,
        *,
        detailed: bool = False,
        merged_interval_minutes: int | None = None,
    ) -> list[MailboxAvailability]:
        """Free/busy for every mailbox over [start, end), one entry per mailbox in input order.

        Any number of mailboxes and any window length: the implementation batches and chunks.
        `detailed` asks for subject/location where the permission allows (the caller decides
        whether to show them); `merged_interval_minutes` also asks for the merged digit string.
        A mailbox-level failure (unknown mailbox, no permission) is reported in its entry's
        error_code rather than raised.
        """

    # Other calendars (implemented in ews/folders.py and ews/calendar_view.py) ------------------

    @abc.abstractmethod
    def find_calendar(
        self, owner: str, *, path: Sequence[str] = (), folder_id: str | None = None, for_writing: bool = False
    ) -> CalendarFolder:
        """The calendar folder at `path` (folder names from the top of the mailbox; a first name
        "Calendar" is the default calendar) or with `folder_id`, in owner's mailbox, with what this
        logon may do in it. Cached per process while it allows reading (or, `for_writing`,
        writing); a lookup costs a request per folder name below the start, or one for an id.

        Raises PermanentError: CALENDAR_NOT_FOUND (no such folder in sight, or not a calendar),
        ACCESS_DENIED, UNKNOWN_MAILBOX.
        """

    @abc.abstractmethod
    def read_calendar(
        self, calendar: CalendarFolder, start: datetime, end: datetime, *, detailed: bool = False
    ) -> CalendarReading:
        """Busy intervals of the calendar's items overlapping [start, end) (FindItem CalendarView:
        one request per 42 days, more for a chunk of over 1,000 items). `detailed` asks for
        subject and location."""

    # Events (implemented in ews/events.py) --------------------------------------------------
    # One EWS request each. The actions combine them into exactly-once effects (see
    # pipeline/actions/create_event.py and send_invite.py).

    @abc.abstractmethod
    def find_event_by_booking_key(
        self, booking_key: str, calendar: CalendarFolder | None = None, *, copy: bool = False
    ) -> EventRef | None:
        """The event stamped with `booking_key` in the target calendar (or `calendar`), or None;
        with `copy`, the copy of that booking there."""

    @abc.abstractmethod
    def find_booking_event(
        self, booking_key: str, calendar: CalendarFolder | None = None
    ) -> StampedEvent | None:
        """find_event_by_booking_key's FindItem, which also reads the event's InvitesSent stamp:
        whether the request that created it sent the invitations (what a redelivered
        create_event asks)."""

    @abc.abstractmethod
    def read_event(self, ref: EventRef) -> EventState | None:
        """The event as it is now, with its stamps; None when it no longer exists."""

    @abc.abstractmethod
    def create_event(
        self, draft: EventDraft, calendar: CalendarFolder | None = None, *, invite_marker: str | None = None
    ) -> EventRef:
        """Save `draft` into the target calendar (or `calendar`), stamped with its booking key (and
        as a copy, for draft.is_copy), without sending invitations.

        With `invite_marker` the same request also sends the meeting requests to all its attendees
        and stamps the item InvitesSent = invite_marker, as send_invitations does: saved and sent
        come together or not at all, so the stamp found later proves the invitations went out.
        """

    @abc.abstractmethod
    def send_invitations(self, ref: EventRef, *, marker: str) -> EventRef:
        """Send the meeting requests of a saved event to all its attendees, stamping it `marker`.

        A compare-and-swap on ref.change_key: raises PermanentError(CONFLICT) when the item has
        changed since (for example an earlier attempt already sent them), so it never sends twice
        for one version of the item. Returns the new change key.
        """

    @abc.abstractmethod
    def update_event(
        self, ref: EventRef, changes: EventChanges, *, notify: NotifyAttendees, marker: str
    ) -> EventRef:
        """Apply `changes` (last writer wins on the changed fields), stamping the item `marker`."""

    @abc.abstractmethod
    def cancel_event(
        self, ref: EventRef, *, delete_type: DeleteType, send_cancellations: bool, comment: str | None = None
    ) -> bool:
        """Delete the event (cancelling it with the attendees when asked); False if it was already gone.

        `comment` is the cancellation's text where the backend can send one (Graph's cancel);
        EWS DeleteItem carries none and ignores it."""

    # Rooms -----------------------------------------------------------------------------------

    @abc.abstractmethod
    def list_room_lists(self) -> list[RoomList]:
        """The organisation's room lists (without their rooms)."""

    @abc.abstractmethod
    def list_rooms(self, room_list: str) -> list[Room]:
        """The rooms in the room list with this address."""

    # Notifications (implemented in ews/subscriptions.py and ews/changes.py) -------------------

    @abc.abstractmethod
    def subscribe_push(
        self,
        callback: CallbackTarget,
        status_frequency_minutes: int,
        watermark: str | None = None,
        *,
        now: datetime | None = None,
    ) -> PushSubscription:
        """Push-subscribe to the target calendar, calling back to `callback`; resume from
        `watermark` when given (EWS).

        One request (on Graph, the service's validation handshake against the callback comes
        with it). `now` (the pipeline's clock; the real time when None) dates a subscription that
        expires: PushSubscription.expires_at says when (Graph), None where subscriptions live on
        keep-alives (EWS, which ignores `now`). Raises pipeline.exchange.push.WatermarkRejected
        when Exchange cannot resume from the watermark (older than 30 days, or not this mailbox's).
        """

    def renew_push(self, subscription_id: str, *, now: datetime | None = None) -> PushSubscription:
        """Extend the subscription in place to the backend's longest lifetime (one request); the
        subscription with its new expires_at.

        Only backends whose subscriptions expire have this (Graph: PATCH expirationDateTime).
        Raises PermanentError(SUBSCRIPTION_NOT_FOUND) when the service no longer has the
        subscription (removed, or expired): subscribe again then. EWS subscriptions are renewed
        by subscribing again from their watermark (renew_subscription does that), so here they
        raise PermanentError(INTERNAL).
        """
        raise PermanentError(
            ErrorCode.INTERNAL, "this backend renews a subscription by subscribing again from its watermark"
        )

    def end_push(self, subscription_id: str) -> None:
        """End a subscription the pipeline no longer wants (one request where the backend has
        one: Graph DELETE). EWS has no such call: the callback's Unsubscribe answer ends a push
        subscription, so this does nothing there."""
        return None

    @abc.abstractmethod
    def read_changed_items(self, item_ids: Sequence[str]) -> list[ChangedItem | None]:
        """The items a notification named, with their booking stamps, in input order (one request);
        None for an item that no longer exists."""

    @abc.abstractmethod
    def calendar_folder_id(self) -> str:
        """The target calendar's folder id (tells an item moved out of it from one still in it)."""

    # Calendar sync (implemented in ews/sync.py) -------------------------------------------------

    @abc.abstractmethod
    def sync_calendar(self, sync_state: str | None, max_changes: int = 100) -> CalendarSyncPage:
        """One page of the changes to the target calendar since `sync_state` (one request).

        Without a sync state the pages list every item of the calendar; with one, only what was
        created, updated or deleted since. Store the page's sync_state and call again while
        includes_last_item is False. `max_changes` (1-512) bounds the changes per page.
        Raises PermanentError(SYNC_STATE_INVALID) when Exchange refuses the state: sync again
        from the start (sync_state=None).
        """
