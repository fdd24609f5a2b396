"""Notification subscriptions: push, pull and streaming state over the mailbox event logs.

Every change a mailbox sees is appended to that mailbox's ordered event log (event_log.py). A
subscription is a cursor into one mailbox's log with a filter, so a new subscription given an
old watermark replays what came after it, as Exchange does. Nothing here does HTTP or XML:
push delivery lives in infra.ewssim.push.
"""

from __future__ import annotations

import base64
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from infra.ewssim.errors import EwsError
from infra.ewssim.models.backend import Change, EwsBackend
from infra.ewssim.models.clock import SimClock
from infra.ewssim.models.event_log import (
    EVENT_RETENTION,
    Event,
    MailboxLog,
    Notification,
    decode_watermark,
    encode_watermark,
)

__all__ = [
    "EVENT_RETENTION",
    "MAX_EVENTS_PER_NOTIFICATION",
    "Event",
    "Notification",
    "Subscription",
    "SubscriptionKind",
    "SubscriptionStore",
    "decode_watermark",
    "encode_watermark",
    "store_for",
]

# Exchange hands out at most this many events per GetEvents answer or push notification.
MAX_EVENTS_PER_NOTIFICATION = 50
# A streaming subscription with no open connection expires after 30 minutes.
STREAMING_IDLE_TIMEOUT = timedelta(minutes=30)

PendingListener = Callable[[list[str]], None]


class SubscriptionKind(StrEnum):
    PUSH = "push"
    PULL = "pull"
    STREAMING = "streaming"


@dataclass
class Subscription:
    subscription_id: str
    kind: SubscriptionKind
    mailbox: str
    # Folder ids watched; None means SubscribeToAllFolders.
    folder_ids: frozenset[str] | None
    event_types: frozenset[str]
    # The principal whose rights applied at Subscribe; only it may read or end the subscription.
    owner: str
    created: datetime
    last_activity: datetime
    # Sequence number of the last event handed to the client (acknowledged, for push).
    cursor: int
    cursor_watermark: str
    timeout: timedelta | None = None  # pull: idle minutes; streaming: 30 minutes
    url: str = ""  # push callback
    status_frequency: timedelta = field(default=timedelta(minutes=1))  # push keep-alive period

    def watches(self, event: Event) -> bool:
        if event.event_type not in self.event_types:
            return False
        return self.folder_ids is None or bool({event.folder_id, event.old_folder_id} & self.folder_ids)


# Real seconds of quiet after which an open streaming connection gets an envelope with no events, a
# keep-alive: the EWS Managed API expects one at least every 45 s (its HeartbeatFrequencyDefault).
STREAMING_KEEP_ALIVE = 30.0


class SubscriptionStore:
    """All subscriptions and event logs of one simulated organisation; thread-safe."""

    def __init__(
        self,
        clock: SimClock,
        streaming_max_wait: float | None = None,
        streaming_keep_alive: float = STREAMING_KEEP_ALIVE,
    ) -> None:
        self.clock = clock
        # Real seconds a streaming connection stays open at most; None: its ConnectionTimeout, as in
        # Exchange (simulated time, so that advancing the clock ends it too).
        self.streaming_max_wait = streaming_max_wait
        # Real seconds without events after which an open connection gets an empty envelope.
        self.streaming_keep_alive = streaming_keep_alive
        # A condition, so that GetStreamingEvents can wait for the next event or clock advance.
        self._cond = threading.Condition(threading.RLock())
        self._logs: dict[str, MailboxLog] = {}
        self._subs: dict[str, Subscription] = {}
        self._pending_listeners: list[PendingListener] = []

    # Feeding and listening -------------------------------------------------------------------

    def on_pending(self, listener: PendingListener) -> None:
        """Call listener(push subscription ids) whenever push subscriptions have new events."""
        self._pending_listeners.append(listener)

    def record(self, change: Change) -> None:
        """Append a backend change to its mailbox's log and wake whoever waits for it."""
        with self._cond:
            log = self._log(change.mailbox)
            now = self.clock.now()
            log.prune(now)
            event = log.append(change, now)
            push_ids = [
                s.subscription_id for s in self._subs.values()
                if s.kind is SubscriptionKind.PUSH and s.mailbox == event.mailbox and s.watches(event)
            ]
            self._cond.notify_all()
        self._announce(push_ids)

    def wake(self, _now: datetime | None = None) -> None:
        """Wake streaming waiters (after a clock advance) so they re-check their deadline."""
        with self._cond:
            self._cond.notify_all()

    def _announce(self, push_ids: list[str]) -> None:
        if push_ids:
            for listener in list(self._pending_listeners):
                listener(push_ids)

    def _log(self, mailbox: str) -> MailboxLog:
        log = self._logs.get(mailbox)
        if log is None:
            log = self._logs[mailbox] = MailboxLog(mailbox)
        return log

    # Subscribe and unsubscribe ---------------------------------------------------------------

    def subscribe(
        self,
        kind: SubscriptionKind,
        mailbox: str,
        folder_ids: frozenset[str] | None,
        event_types: Iterable[str],
        owner: str,
        *,
        watermark: str | None = None,
        timeout: timedelta | None = None,
        url: str = "",
        status_frequency: timedelta = timedelta(minutes=1),
    ) -> Subscription:
        """Create a subscription starting now, or after `watermark` (its events are replayed)."""
        with self._cond:
            now = self.clock.now()
            log = self._log(mailbox)
            log.prune(now)
            cursor = log.last_seq if watermark is None else self._resume_point(log, watermark, now)
            subscription = Subscription(
                subscription_id=base64.b64encode(uuid.uuid4().bytes + mailbox.encode()[:16]).decode(),
                kind=kind,
                mailbox=mailbox,
                folder_ids=folder_ids,
                event_types=frozenset(event_types),
                owner=owner.lower(),
                created=now,
                last_activity=now,
                cursor=cursor,
                cursor_watermark=watermark or encode_watermark(mailbox, cursor, now),
                timeout=STREAMING_IDLE_TIMEOUT if kind is SubscriptionKind.STREAMING else timeout,
                url=url,
                status_frequency=status_frequency,
            )
            self._subs[subscription.subscription_id] = subscription
            replay = kind is SubscriptionKind.PUSH and any(subscription.watches(e) for e in log.after(cursor))
        if replay:
            self._announce([subscription.subscription_id])
        return subscription

    @staticmethod
    def _resume_point(log: MailboxLog, watermark: str, now: datetime) -> int:
        position = decode_watermark(watermark)
        if position.mailbox != log.mailbox or position.seq > log.last_seq:
            raise EwsError("ErrorInvalidWatermark", "The watermark was never issued for this mailbox.")
        if position.seq < log.horizon or now - position.issued > EVENT_RETENTION:
            raise EwsError("ErrorInvalidWatermark", "The watermark is older than 30 days.")
        return position.seq

    def unsubscribe(self, subscription_id: str, caller: str) -> None:
        """End a pull or streaming subscription (push ones end only by answering Unsubscribe)."""
        with self._cond:
            subscription = self.get(subscription_id, caller)
            if subscription.kind is SubscriptionKind.PUSH:
                raise EwsError("ErrorInvalidSubscription", "Push subscriptions end by answering Unsubscribe.")
            del self._subs[subscription_id]
            self._cond.notify_all()

    def drop(self, subscription_id: str) -> None:
        """Forget a subscription (push retries ran out, or the callback said Unsubscribe)."""
        with self._cond:
            self._subs.pop(subscription_id, None)

    # Reading ---------------------------------------------------------------------------------

    def find(self, subscription_id: str) -> Subscription | None:
        """The live subscription with this id, or None if unknown or expired."""
        with self._cond:
            subscription = self._subs.get(subscription_id)
            if subscription is not None and self._expired(subscription):
                del self._subs[subscription_id]
                return None
            return subscription

    def get(self, subscription_id: str, caller: str) -> Subscription:
        """A live subscription its owner asks about; ErrorSubscriptionNotFound or ...AccessDenied."""
        subscription = self.find(subscription_id)
        if subscription is None:
            raise EwsError("ErrorSubscriptionNotFound", f"No subscription with id {subscription_id}.")
        if subscription.owner != caller.lower():
            raise EwsError("ErrorSubscriptionAccessDenied", "The subscription belongs to another account.")
        return subscription

    def subscriptions(self, kind: SubscriptionKind | None = None) -> list[Subscription]:
        """Live subscriptions, optionally of one kind (for the control surface and tests)."""
        with self._cond:
            for subscription_id in [s.subscription_id for s in self._subs.values() if self._expired(s)]:
                del self._subs[subscription_id]
            return [s for s in self._subs.values() if kind is None or s.kind is kind]

    def _expired(self, subscription: Subscription) -> bool:
        if subscription.timeout is None:
            return False
        return self.clock.now() - subscription.last_activity > subscription.timeout

    def peek(self, subscription: Subscription, limit: int = MAX_EVENTS_PER_NOTIFICATION) -> Notification:
        """The next notification for a subscription, without moving its cursor."""
        with self._cond:
            log = self._log(subscription.mailbox)
            log.prune(self.clock.now())
            if subscription.cursor < log.horizon:
                raise EwsError("ErrorExpiredSubscription", "The events after this watermark have expired.")
            matching = [e for e in log.after(subscription.cursor) if subscription.watches(e)]
            events = tuple(matching[:limit])
            # With nothing to report, the status watermark is the head of the log: nothing before it matters.
            head = events[-1].seq if events else log.last_seq
            return Notification(
                subscription_id=subscription.subscription_id,
                previous_watermark=subscription.cursor_watermark,
                events=events,
                more_events=len(matching) > limit,
                status_watermark=encode_watermark(subscription.mailbox, head, self.clock.now()),
            )

    def acknowledge(self, subscription: Subscription, notification: Notification) -> None:
        """Move the cursor past what a notification carried (the client has it now)."""
        with self._cond:
            last = notification.events[-1] if notification.events else None
            if last is not None:
                subscription.cursor, subscription.cursor_watermark = last.seq, last.watermark
            else:
                head = decode_watermark(notification.status_watermark).seq
                subscription.cursor = max(subscription.cursor, head)
                subscription.cursor_watermark = notification.status_watermark
            subscription.last_activity = self.clock.now()

    def get_events(self, subscription_id: str, watermark: str, caller: str) -> Notification:
        """GetEvents for a pull subscription: what happened since the last call; resets idle time.

        The server keeps the cursor itself (exchangelib re-sends the first watermark while
        MoreEvents is true); the client's watermark is only checked.
        """
        subscription = self.get(subscription_id, caller)
        if subscription.kind is not SubscriptionKind.PULL:
            raise EwsError("ErrorInvalidPullSubscriptionId", "GetEvents needs a pull subscription.")
        position = decode_watermark(watermark)
        if position.mailbox != subscription.mailbox:
            raise EwsError("ErrorInvalidWatermark", "The watermark belongs to another mailbox.")
        if self.clock.now() - position.issued > EVENT_RETENTION:
            raise EwsError("ErrorExpiredSubscription", "The watermark is older than 30 days.")
        notification = self.peek(subscription)
        self.acknowledge(subscription, notification)
        return notification

    def stream(
        self, subscription_ids: list[str], caller: str, connection_timeout: timedelta
    ) -> Iterator[list[Notification]]:
        """A streaming connection (GetStreamingEvents): the subscriptions are checked now, then each
        item of the iterator is what to send next on the open connection.

        An item is the notifications with events, as soon as there are any (each acknowledged when
        taken), or an empty list after streaming_keep_alive real seconds of quiet. The iterator ends
        when simulated time passes `connection_timeout` (or after streaming_max_wait real seconds,
        when set), or when a subscription goes (unsubscribed, reset); the caller then closes the
        connection.
        """
        with self._cond:
            subscriptions = [self.get(i, caller) for i in subscription_ids]
            for subscription in subscriptions:
                if subscription.kind is not SubscriptionKind.STREAMING:
                    raise EwsError("ErrorInvalidSubscription", "Only streaming subscriptions can stream.")
                subscription.last_activity = self.clock.now()
        deadline_sim = self.clock.now() + connection_timeout
        max_wait = self.streaming_max_wait
        deadline_real = None if max_wait is None else time.monotonic() + max_wait
        return self._streamed(subscriptions, deadline_sim, deadline_real)

    def _streamed(
        self, subscriptions: list[Subscription], deadline_sim: datetime, deadline_real: float | None
    ) -> Iterator[list[Notification]]:
        while True:
            with self._cond:
                quiet_until = time.monotonic() + self.streaming_keep_alive
                while True:
                    if any(self._subs.get(s.subscription_id) is not s for s in subscriptions):
                        return
                    batch = [n for n in (self.peek(s) for s in subscriptions) if n.events]
                    if batch:
                        for notification in batch:
                            self.acknowledge(self._subs[notification.subscription_id], notification)
                        break
                    now_real = time.monotonic()
                    left_sim = (deadline_sim - self.clock.now()).total_seconds()
                    left_real = None if deadline_real is None else deadline_real - now_real
                    if left_sim <= 0 or (left_real is not None and left_real <= 0):
                        for subscription in subscriptions:
                            subscription.last_activity = self.clock.now()
                        return
                    if now_real >= quiet_until:
                        break  # a keep-alive
                    waits = [left_sim, quiet_until - now_real]
                    self._cond.wait(min(waits if left_real is None else [*waits, left_real]))
            yield batch

    # Lifecycle -------------------------------------------------------------------------------

    def reset(self) -> None:
        with self._cond:
            self._logs.clear()
            self._subs.clear()
            self._cond.notify_all()


_STORES: weakref.WeakKeyDictionary[EwsBackend, SubscriptionStore] = weakref.WeakKeyDictionary()
_STORES_LOCK = threading.Lock()


def store_for(backend: EwsBackend) -> SubscriptionStore:
    """The backend's subscription store, created (and hooked to its change feed) on first use."""
    with _STORES_LOCK:
        store = _STORES.get(backend)
        if store is None:
            store = _STORES[backend] = SubscriptionStore(backend.clock)
            backend.on_change(store.record)
            backend.on_reset(store.reset)
            backend.clock.on_advance(store.wake)
        return store
