"""GraphClient: Graph requests over one pooled requests.Session, per-mailbox concurrency, $batch.

- One `requests.Session` per process, its connection pool sized to the worker's concurrency
  (HTTPAdapter pool_maxsize), so threads never queue for a socket nor open one per request.
- TLS is verified per request (`verify=` on each call): requests lets REQUESTS_CA_BUNDLE override
  a Session's own `verify`, so a session-level setting would be silently replaced.
- At most 4 requests in flight per app per mailbox: Outlook's limit ("4 concurrent requests" per
  app per mailbox, learn.microsoft.com/graph/throttling-limits#outlook-service-limits); a fifth
  waits here instead of drawing 429 MailboxConcurrency. A $batch holds one slot per request it
  carries, up to 4, because Graph runs up to four requests of a batch at once
  (learn.microsoft.com/answers/questions/1660054).
- $batch: at most 20 requests per batch (learn.microsoft.com/graph/json-batching: "Microsoft
  Graph supports batching up to 20 requests"); longer lists go as several batches.
- Every answer that is not a success becomes a PipelineError (errors.py); so does a failure to
  get one. Nothing is retried here: the pipeline's queue retries, honouring Retry-After.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import requests
import requests.adapters

from pipeline.errors import PipelineError
from pipeline.exchange.graph.errors import from_answer, from_transport
from pipeline.observability import observe_ews_call

__all__ = [
    "MAX_BATCH",
    "MAX_PER_MAILBOX",
    "BatchAnswer",
    "BatchRequest",
    "GraphClient",
    "GraphTimeout",
    "MailboxSlots",
    "raise_for_answer",
    "relative_url",
]

MAX_BATCH = 20
MAX_PER_MAILBOX = 4
GraphTimeout = float | tuple[float, float]
_JSON = "application/json"


@dataclass(frozen=True)
class BatchRequest:
    """One request of a $batch: a path relative to the Graph root (e.g. /users/x/events/y)."""

    method: str
    url: str
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchAnswer:
    status: int
    body: Any
    headers: Mapping[str, str]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class MailboxSlots:
    """A counting semaphore per (app, mailbox) that takes several permits at once, all or none
    (two batches each holding half the permits and waiting for the rest would deadlock)."""

    def __init__(self, permits: int = MAX_PER_MAILBOX) -> None:
        self._permits = permits
        self._used: Counter[tuple[str, str]] = Counter()
        self._changed = threading.Condition()

    @contextmanager
    def hold(self, key: tuple[str, str], count: int = 1) -> Iterator[None]:
        count = max(1, min(count, self._permits))
        with self._changed:
            while self._used[key] + count > self._permits:
                self._changed.wait()
            self._used[key] += count
        try:
            yield
        finally:
            with self._changed:
                self._used[key] -= count
                if self._used[key] <= 0:
                    del self._used[key]
                self._changed.notify_all()

    def in_use(self, key: tuple[str, str]) -> int:
        with self._changed:
            return self._used[key]


class GraphClient:
    """Sends Graph requests for every Graph integration of the process; thread-safe."""

    def __init__(self, *, pool_size: int, timeout: GraphTimeout | None, ca_bundle: str | None = None) -> None:
        self.session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=8, pool_maxsize=max(1, pool_size))
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.timeout = timeout
        self._ca_bundle = ca_bundle
        self.slots = MailboxSlots()
        self.counts: Counter[str] = Counter()
        self._count_lock = threading.Lock()

    def verify(self, verify_tls: bool) -> bool | str:
        """What to pass as `verify` on each request: the configured CA bundle, True, or False."""
        if not verify_tls:
            return False
        return self._ca_bundle or True

    def request(
        self,
        method: str,
        url: str,
        *,
        token: str,
        operation: str,
        slot: tuple[str, str],
        verify_tls: bool,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        permits: int = 1,
    ) -> tuple[int, Any, Mapping[str, str]]:
        """One HTTP request; returns (status, JSON body or None, headers) for a 2xx, else raises."""
        sent = {"Authorization": f"Bearer {token}", "Accept": _JSON, **(headers or {})}
        data = None
        if body is not None:
            sent["Content-Type"] = _JSON
            data = json.dumps(body)
        self._count(operation)
        with self.slots.hold(slot, permits), observe_ews_call(f"graph {operation}"):
            reply = self._send(method, url, params=params, data=data, headers=sent, verify=verify_tls,
                               operation=operation)
        answer = _json(reply)
        if not 200 <= reply.status_code < 300:
            raise from_answer(operation, reply.status_code, answer, reply.headers)
        return reply.status_code, answer, reply.headers

    def batch(
        self,
        root: str,
        requests_: Sequence[BatchRequest],
        *,
        token: str,
        operation: str,
        slot: tuple[str, str],
        verify_tls: bool,
    ) -> list[BatchAnswer]:
        """The answers to `requests_` in order, sent as ceil(n / 20) $batch requests.

        Each answer keeps its own status: the caller decides which failures matter.
        """
        answers: list[BatchAnswer] = []
        for start in range(0, len(requests_), MAX_BATCH):
            chunk = requests_[start : start + MAX_BATCH]
            payload = {"requests": [_batch_entry(str(i), r) for i, r in enumerate(chunk)]}
            _status, body, _headers = self.request(
                "POST", f"{root}/$batch", token=token, operation=operation, slot=slot,
                verify_tls=verify_tls, body=payload, permits=len(chunk),
            )
            by_id = {str(r.get("id")): r for r in (body or {}).get("responses", ())}
            for i in range(len(chunk)):
                found = by_id.get(str(i))
                if found is None:
                    answers.append(BatchAnswer(500, None, {}))
                    continue
                answers.append(BatchAnswer(int(found.get("status", 500)), found.get("body"),
                                           dict(found.get("headers") or {})))
        return answers

    def close(self) -> None:
        self.session.close()

    def _send(self, method: str, url: str, *, params: Mapping[str, str] | None, data: str | None,
              headers: Mapping[str, str], verify: bool, operation: str) -> requests.Response:
        try:
            return self.session.request(method, url, params=params, data=data, headers=headers,
                                        timeout=self.timeout, verify=self.verify(verify))
        except requests.RequestException as exc:
            failure = from_transport(operation, exc)
        # Raised outside the handler, so that it keeps no __context__: requests' exception
        # quotes the URL (the mailbox) and holds the request (its Authorization header).
        raise failure

    def _count(self, operation: str) -> None:
        with self._count_lock:
            self.counts[operation] += 1


def relative_url(path: str, params: Mapping[str, str]) -> str:
    """A $batch request's url: the path and its query, percent-encoded."""
    return f"{path}?{urlencode(params, quote_via=quote)}" if params else path


def raise_for_answer(operation: str, answer: BatchAnswer) -> None:
    """Raise the PipelineError an inner answer of a batch stands for (none for a success)."""
    if not answer.ok:
        failure: PipelineError = from_answer(operation, answer.status, answer.body, answer.headers)
        raise failure


def _batch_entry(request_id: str, request: BatchRequest) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": request_id, "method": request.method, "url": request.url}
    headers = dict(request.headers)
    if request.body is not None:
        entry["body"] = request.body
        headers.setdefault("Content-Type", _JSON)
    if headers:
        entry["headers"] = headers
    return entry


def _json(reply: requests.Response) -> Any:
    if not reply.content:
        return None
    try:
        return reply.json()
    except ValueError:
        return None
