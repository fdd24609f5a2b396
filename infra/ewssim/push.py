"""Push notifications as Exchange sends them: SendNotification POSTs to subscribers' callbacks.

Timing, and why it is split in two:

* A change in a watched folder is delivered promptly, by one background worker thread per
  simulator fed through a queue, never on the request thread that made the change (so a slow
  callback cannot slow CreateItem, as on a real server).
* Everything Exchange does *later* runs in simulated time: StatusEvent keep-alives every
  StatusFrequency minutes, and retries of a failed delivery after 30 s, then 60 s, 120 s, ...
  (doubling). They run only when the clock is advanced (``backend.clock.advance(...)``), which
  keeps tests fast and deterministic. A retry whose time passes during one advance runs with
  that scheduled time; when the next retry would fall beyond StatusFrequency after the first
  failure, the subscription is dropped. A callback answering Unsubscribe drops it at once.
  One advance sends at most one keep-alive per subscription, however far it jumps.

Tests wait for the worker with ``wait_idle()`` and read ``attempts`` for what was sent.
"""

from __future__ import annotations

import logging
import queue
import threading
import urllib.error
import urllib.request
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta

from infra.ewssim.errors import EwsError
from infra.ewssim.models.backend import EwsBackend
from infra.ewssim.models.subscriptions import Subscription, SubscriptionKind, SubscriptionStore, store_for
from infra.ewssim.notification_xml import SubscriptionAnswer, parse_answer, send_notification_body

__all__ = ["DeliveryAttempt", "PushService", "attach"]

log = logging.getLogger(__name__)

FIRST_RETRY_DELAY = timedelta(seconds=30)


@dataclass(frozen=True)
class DeliveryAttempt:
    """One SendNotification POST: where, when (simulated time), and how the callback answered.

    outcome is "ok", "unsubscribe" or "failed"; status is the HTTP status, None when the
    connection itself failed. event_types lists what the notification carried.
    """

    subscription_id: str
    url: str
    at: datetime
    status: int | None
    outcome: str
    event_types: tuple[str, ...]
    error: str = ""


@dataclass
class _PushState:
    """Delivery bookkeeping of one push subscription (the worker thread alone changes it)."""

    next_status: datetime
    retry_at: datetime | None = None
    failing_since: datetime | None = None
    retry_delay: timedelta = FIRST_RETRY_DELAY


# Queue jobs: ("deliver", subscription id) after a change, ("tick", None) after a clock advance.
_Job = tuple[str, str | None]


class PushService:
    """Delivers push notifications for one backend; started lazily, stopped by reset() or stop()."""

    def __init__(self, backend: EwsBackend, store: SubscriptionStore, http_timeout: float = 2.0) -> None:
        self.backend = backend
        self.store = store
        self.http_timeout = http_timeout
        self.attempts: list[DeliveryAttempt] = []
        self._states: dict[str, _PushState] = {}
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._idle = threading.Condition()
        self._unfinished = 0
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()

    # Feeding the worker ----------------------------------------------------------------------

    def on_pending(self, subscription_ids: list[str]) -> None:
        for subscription_id in subscription_ids:
            self._enqueue(("deliver", subscription_id))

    def on_advance(self, _now: datetime) -> None:
        self._enqueue(("tick", None))

    def _enqueue(self, job: _Job) -> None:
        with self._idle:
            self._unfinished += 1
        self._ensure_worker()
        self._queue.put(job)

    def _ensure_worker(self) -> None:
        with self._thread_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="ewssim-push", daemon=True)
                self._thread.start()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every queued delivery has been attempted; False if `timeout` s passed first."""
        with self._idle:
            return self._idle.wait_for(lambda: self._unfinished == 0, timeout)

    def subscriptions(self) -> list[Subscription]:
        """The live push subscriptions."""
        return self.store.subscriptions(SubscriptionKind.PUSH)

    # The worker ------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            try:
                kind, subscription_id = job
                if kind == "deliver" and subscription_id is not None:
                    self._deliver_change(subscription_id)
                else:
                    self._tick()
            except Exception:  # a bug here must not kill delivery for every later test
                log.exception("push delivery job %s failed", job)
            finally:
                with self._idle:
                    self._unfinished -= 1
                    self._idle.notify_all()

    def _state(self, subscription: Subscription) -> _PushState:
        state = self._states.get(subscription.subscription_id)
        if state is None:
            state = _PushState(next_status=subscription.created + subscription.status_frequency)
            self._states[subscription.subscription_id] = state
        return state

    def _deliver_change(self, subscription_id: str) -> None:
        subscription = self.store.find(subscription_id)
        if subscription is None:
            return
        # While retrying, new events wait for the next scheduled retry, which carries them all.
        if self._state(subscription).retry_at is None:
            self._attempt(subscription, self.backend.clock.now(), only_if_pending=True)

    def _tick(self) -> None:
        now = self.backend.clock.now()
        for subscription in self.subscriptions():
            state = self._state(subscription)
            while state.retry_at is not None and state.retry_at <= now:
                if not self._attempt(subscription, state.retry_at):
                    break
            alive = subscription.subscription_id in self._states
            if alive and state.retry_at is None and state.next_status <= now:
                self._attempt(subscription, now)

    def _attempt(self, subscription: Subscription, at: datetime, only_if_pending: bool = False) -> bool:
        """POST the next notification; True while the subscription lives on."""
        try:
            notification = self.store.peek(subscription)
        except EwsError:  # its events fell out of the 30-day log: nothing valid left to send
            return self._drop(subscription, "its watermark expired")
        if only_if_pending and not notification.events:
            return True
        status, outcome, error = self._post(subscription.url, send_notification_body(notification))
        self.attempts.append(DeliveryAttempt(
            subscription.subscription_id, subscription.url, at, status, outcome,
            tuple(e.event_type for e in notification.events) or ("StatusEvent",), error,
        ))
        state = self._state(subscription)
        if outcome == "unsubscribe":
            return self._drop(subscription, "the callback answered Unsubscribe")
        if outcome == "failed":
            return self._schedule_retry(subscription, state, at)
        self.store.acknowledge(subscription, notification)
        state.retry_at = state.failing_since = None
        state.retry_delay = FIRST_RETRY_DELAY
        state.next_status = at + subscription.status_frequency
        if notification.more_events:
            self._enqueue(("deliver", subscription.subscription_id))
        return True

    def _schedule_retry(self, subscription: Subscription, state: _PushState, at: datetime) -> bool:
        if state.failing_since is None:
            state.failing_since, state.retry_delay = at, FIRST_RETRY_DELAY
        else:
            state.retry_delay *= 2
        next_retry = at + state.retry_delay
        if next_retry - state.failing_since > subscription.status_frequency:
            return self._drop(subscription, "retries ran past StatusFrequency")
        state.retry_at = next_retry
        return True

    def _drop(self, subscription: Subscription, reason: str) -> bool:
        log.info("dropping push subscription %s: %s", subscription.subscription_id, reason)
        self.store.drop(subscription.subscription_id)
        self._states.pop(subscription.subscription_id, None)
        return False

    def _post(self, url: str, body: bytes) -> tuple[int | None, str, str]:
        """POST with a short timeout; returns (HTTP status, outcome, error text)."""
        request = urllib.request.Request(
            url, data=body, method="POST", headers={"Content-Type": "text/xml; charset=utf-8"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.http_timeout) as response:
                status, answer = int(response.status), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, "failed", f"HTTP {exc.code}"
        except (OSError, ValueError) as exc:  # refused, reset, timed out, bad URL
            return None, "failed", str(exc)
        if status != 200:
            return status, "failed", f"HTTP {status}"
        verdict = parse_answer(answer)
        if verdict is None:
            return status, "failed", "the answer is not a SendNotificationResult"
        return status, "unsubscribe" if verdict == SubscriptionAnswer.UNSUBSCRIBE else "ok", ""

    # Lifecycle -------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop the worker after the job in hand; queued jobs are discarded."""
        with self._thread_lock:
            thread, self._thread = self._thread, None
        if thread is None:
            return
        self._discard_queued()
        self._queue.put(None)
        thread.join(timeout=self.http_timeout + 5)
        self._discard_queued()

    def _discard_queued(self) -> None:
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return
            if job is not None:
                with self._idle:
                    self._unfinished -= 1
                    self._idle.notify_all()

    def reset(self) -> None:
        """Forget every delivery, so each test starts clean; the worker restarts on demand."""
        self.stop()
        self._states.clear()
        self.attempts.clear()


_SERVICES: weakref.WeakKeyDictionary[EwsBackend, PushService] = weakref.WeakKeyDictionary()
_SERVICES_LOCK = threading.Lock()


def attach(backend: EwsBackend) -> PushService:
    """The backend's push service, created and subscribed to its change feed and clock once."""
    with _SERVICES_LOCK:
        service = _SERVICES.get(backend)
        if service is None:
            store = store_for(backend)
            service = _SERVICES[backend] = PushService(backend, store)
            store.on_pending(service.on_pending)
            backend.clock.on_advance(service.on_advance)
            backend.on_reset(service.reset)
        return service
