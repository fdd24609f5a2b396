"""Graph webhooks as the service sends them: the validation handshake, change notifications,
lifecycle notifications.

- Validation (on create, for notificationUrl and lifecycleNotificationUrl): POST
  `{url}?validationToken=<URL-encoded token>` with Content-Type text/plain; the endpoint must answer
  200, text/plain, the decoded token, within 10 seconds, or the subscription is not created
  (learn.microsoft.com/graph/change-notifications-delivery-webhooks, "notificationUrl
  validation"). Runs on the request thread: Graph answers the POST /subscriptions after it.
- Change notifications: one POST per change, `{"value": [changeNotification]}`, sent by one
  background worker per service (never on the request thread that made the change), with a
  3-second timeout ("Notifications are published using an HTTP client with a 3-second timeout",
  same page, "Throttling"). A 2xx is delivered; anything else is retried, in simulated time when
  the clock is advanced (30 s, then doubling), for up to 4 hours, then dropped (same page:
  "it tries to resend the change notification multiple times, for up to 4 hours").
- Lifecycle notifications: on demand (`send_lifecycle`), POSTed at once to
  lifecycleNotificationUrl; subscriptionRemoved removes the subscription first.

Graph requires https URLs; the simulator also accepts http on a loopback host, where tests run
their callback servers. Tests wait for the worker with `wait_idle()` and read `attempts`.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from infra.ewssim.models.backend import Change, EwsBackend
from infra.graphsim.errors import GraphError
from infra.graphsim.models.subscriptions import (
    GraphSubscription,
    SubscriptionBook,
    graph_time,
    notification_item,
)

__all__ = ["LIFECYCLE_EVENTS", "WebhookAttempt", "Webhooks"]

log = logging.getLogger(__name__)

LIFECYCLE_EVENTS = ("reauthorizationRequired", "subscriptionRemoved", "missed")
VALIDATION_TIMEOUT_S = 10.0
DELIVERY_TIMEOUT_S = 3.0
FIRST_RETRY_DELAY = timedelta(seconds=30)
GIVE_UP_AFTER = timedelta(hours=4)
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class WebhookAttempt:
    """One POST the service made: kind is "validation", "notification" or "lifecycle"; status the
    HTTP status (None when the connection failed); body the JSON sent (None for a validation)."""

    kind: str
    subscription_id: str
    url: str
    at: datetime
    status: int | None
    delivered: bool
    body: dict[str, Any] | None = None
    error: str = ""


@dataclass
class _Pending:
    subscription_id: str
    url: str
    body: dict[str, Any]
    first_failed: datetime | None = None
    retry_at: datetime | None = None
    delay: timedelta = field(default=FIRST_RETRY_DELAY)


class Webhooks:
    """Sends one service's webhooks; its worker starts on demand and stops on reset()."""

    def __init__(self, backend: EwsBackend, book: SubscriptionBook) -> None:
        self.backend = backend
        self.book = book
        self.attempts: list[WebhookAttempt] = []
        self.validation_timeout_s = VALIDATION_TIMEOUT_S
        self.delivery_timeout_s = DELIVERY_TIMEOUT_S
        self._retrying: list[_Pending] = []
        self._queue: queue.Queue[_Pending | str | None] = queue.Queue()
        self._idle = threading.Condition()
        self._unfinished = 0
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()

    # URLs and the handshake ---------------------------------------------------------------------

    @staticmethod
    def check_url(url: Any, name: str) -> str:
        """An absolute https URL (or http on a loopback host); 400 otherwise."""
        parts = urllib.parse.urlsplit(str(url or ""))
        secure = parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK)
        if not parts.netloc or not secure:
            raise GraphError(400, "InvalidRequest",
                             f"The {name} must be an absolute URL using the HTTPS protocol.")
        return str(url)

    def validate(self, url: str, subscription_id: str = "") -> None:
        """Graph's validation request; 400 ValidationError when the endpoint does not echo the token."""
        token = ("Validation: Testing client application reachability for subscription Request-Id: "
                 f"{uuid.uuid4()}")
        target = url + ("&" if "?" in url else "?") + urllib.parse.urlencode({"validationToken": token})
        request = urllib.request.Request(target, data=b"", method="POST",
                                         headers={"Content-Type": "text/plain; charset=utf-8"})
        status: int | None = None
        error = ""
        echoed = False
        try:
            with urllib.request.urlopen(request, timeout=self.validation_timeout_s) as response:
                status = int(response.status)
                content_type = response.headers.get("Content-Type", "")
                echoed = (status == 200 and content_type.lower().startswith("text/plain")
                          and response.read().decode("utf-8", "replace") == token)
        except urllib.error.HTTPError as exc:
            status, error = exc.code, f"HTTP {exc.code}"
        except TimeoutError:
            error = "timed out"
        except (OSError, ValueError) as exc:
            error = type(exc).__name__
        self.attempts.append(WebhookAttempt("validation", subscription_id, url, self.backend.clock.now(),
                                            status, echoed, None, error))
        if error == "timed out":
            raise GraphError(400, "ValidationError", "Subscription validation request timed out.")
        if not echoed:
            raise GraphError(400, "ValidationError", "Subscription validation request failed. Notification "
                             "endpoint must respond with 200 OK to validation request.")

    # Change notifications -----------------------------------------------------------------------

    def on_change(self, change: Change) -> None:
        """The backend's change feed: queue a notification for each subscription that sees it."""
        watching = self.book.watching(change)
        if not watching:
            return
        found = self.backend.locate_item(change.item_id)
        change_key = found[1].change_key if found is not None else None
        principal = self.backend.directory.find(change.mailbox)
        user_id = getattr(principal, "object_id", None) or change.mailbox
        for subscription, kind in watching:
            item = notification_item(subscription, kind, change.item_id, change_key, str(user_id))
            self._enqueue(_Pending(subscription.subscription_id, subscription.notification_url,
                                   {"value": [item]}))

    def on_advance(self, _now: datetime) -> None:
        self._enqueue("tick")

    def _enqueue(self, job: _Pending | str) -> None:
        with self._idle:
            self._unfinished += 1
        with self._thread_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="graphsim-webhooks", daemon=True)
                self._thread.start()
        self._queue.put(job)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every queued delivery has been attempted; False if `timeout` s passed first."""
        with self._idle:
            return self._idle.wait_for(lambda: self._unfinished == 0, timeout)

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            try:
                if isinstance(job, _Pending):
                    self._deliver(job, self.backend.clock.now())
                else:
                    self._retry_due()
            except Exception:  # a bug here must not stop delivery for every later test
                log.exception("graph webhook delivery failed")
            finally:
                with self._idle:
                    self._unfinished -= 1
                    self._idle.notify_all()

    def _deliver(self, pending: _Pending, at: datetime) -> None:
        if self.book.find(pending.subscription_id) is None:
            return  # deleted or expired since
        status, error = self._post(pending.url, pending.body, self.delivery_timeout_s)
        delivered = status is not None and 200 <= status < 300
        self.attempts.append(WebhookAttempt("notification", pending.subscription_id, pending.url, at, status,
                                            delivered, pending.body, error))
        if delivered:
            return
        if pending.first_failed is None:
            pending.first_failed, pending.delay = at, FIRST_RETRY_DELAY
        else:
            pending.delay *= 2
        pending.retry_at = at + pending.delay
        if pending.retry_at - pending.first_failed > GIVE_UP_AFTER:
            log.info("dropping a notification of subscription %s after 4 hours", pending.subscription_id)
            return
        self._retrying.append(pending)

    def _retry_due(self) -> None:
        now = self.backend.clock.now()
        due = [p for p in self._retrying if p.retry_at is not None and p.retry_at <= now]
        self._retrying = [p for p in self._retrying if p not in due]
        for pending in due:
            self._deliver(pending, pending.retry_at or now)

    # Lifecycle ----------------------------------------------------------------------------------

    def send_lifecycle(self, subscription: GraphSubscription, event: str) -> WebhookAttempt:
        """POST one lifecycle notification now; subscriptionRemoved removes the subscription first."""
        if event not in LIFECYCLE_EVENTS:
            raise ValueError(f"unknown lifecycle event {event!r}; one of {LIFECYCLE_EVENTS}")
        if not subscription.lifecycle_url:
            raise ValueError("the subscription has no lifecycleNotificationUrl")
        if event == "subscriptionRemoved":
            self.book.remove(subscription.subscription_id)
        item = {
            "subscriptionId": subscription.subscription_id,
            "subscriptionExpirationDateTime": graph_time(subscription.expires),
            "lifecycleEvent": event,
            "resource": subscription.resource,
            "clientState": subscription.client_state,
            "tenantId": subscription.tenant_id,
        }
        body = {"value": [item]}
        status, error = self._post(subscription.lifecycle_url, body, self.delivery_timeout_s)
        attempt = WebhookAttempt("lifecycle", subscription.subscription_id, subscription.lifecycle_url,
                                 self.backend.clock.now(), status,
                                 status is not None and 200 <= status < 300, body, error)
        self.attempts.append(attempt)
        return attempt

    # HTTP ---------------------------------------------------------------------------------------

    @staticmethod
    def _post(url: str, body: dict[str, Any], timeout: float) -> tuple[int | None, str]:
        request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json; charset=utf-8"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                response.read()
                return int(response.status), ""
        except urllib.error.HTTPError as exc:
            return exc.code, f"HTTP {exc.code}"
        except (OSError, ValueError) as exc:
            return None, type(exc).__name__

    # Lifecycle of the sender ----------------------------------------------------------------------

    def stop(self) -> None:
        with self._thread_lock:
            thread, self._thread = self._thread, None
        if thread is None:
            return
        self._discard_queued()
        self._queue.put(None)
        thread.join(timeout=self.delivery_timeout_s + 5)
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
        self.stop()
        self._retrying.clear()
        self.attempts.clear()
