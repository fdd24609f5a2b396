"""moto's SQS with its messages indexed: a call costs what its batch costs, not what the queue holds.

moto keeps a queue's messages in one list and scans it on every call: ReceiveMessage walks every
message and, for each one it returns, rebuilds the queue's attributes (three more scans);
SendMessage scans for de-duplication and rebuilds the attributes three times; DeleteMessage and
ChangeMessageVisibility search the list by receipt handle. With a thousand messages queued, a
receive cost about 200 ms of CPU and a send 60 ms, so a FIFO queue under load (the chaos
benchmark's) spent its time scanning the messages of groups that were in flight anyway.

`index_moto_sqs()` keeps each queue's messages in an infra.moto_sqs_index.QueueIndex instead, in
the process it runs in: a receive takes the oldest deliverable messages across the groups with
nothing in flight (as moto's scan does) in O(batch x log groups), and sends, deletes and
visibility changes cost O(1) or O(log n). Every queue call holds one lock, so a receive is atomic
(moto's is not: two concurrent receives could return one message twice), and a long poll
(WaitTimeSeconds) waits on the queue and wakes when a message arrives or a group unblocks.

The semantics are moto's, with three differences, each towards what SQS documents:
- a message group is blocked while any of its messages is in flight, and when it unblocks its
  oldest message comes first (moto could hand out a released message behind a later in-flight one);
- de-duplication holds for 5 minutes after a send even if the first message was deleted (moto
  forgets a deleted message's id); a move to the dead-letter queue is never de-duplicated;
- a message past the queue's retention period is dropped when met (moto left it in flight for good).
tests/integration/test_moto_sqs.py runs the same sequences against moto's own; bench/moto_sqs.py
measures both.
"""

from __future__ import annotations

import copy
import string
import threading
from typing import Any

from moto.core.utils import unix_time, unix_time_millis
from moto.moto_api._internal import mock_random
from moto.sqs import models
from moto.sqs.exceptions import InvalidParameterValue, ReceiptHandleIsInvalid
from moto.sqs.models import DEDUPLICATION_TIME_IN_SECONDS, Message, Queue, SQSBackend

from infra.moto_sqs_index import QueueIndex, Verdict

__all__ = ["index_moto_sqs", "queue_index", "restore_moto_sqs"]

_LOCK = threading.RLock()
_MARK = "_ews_pipeline_indexed"
# SQS's limit on a message's total visibility timeout, counted from when it was sent.
MAX_TOTAL_VISIBILITY_MS = 43_200 * 1000
# A long poll checks the clock at least this often (a visibility timeout may lapse meanwhile).
LONG_POLL_SLICE_S = 1.0
_ORIGINAL: dict[tuple[Any, str], Any] = {}


def index_moto_sqs() -> None:
    """Keep moto's SQS messages indexed in this process (idempotent). Call it before any queue
    is made: a queue made before keeps its messages where the index does not look."""
    if getattr(Queue, _MARK, False):
        return
    patches: dict[tuple[type, str], Any] = {
        (Queue, "_messages"): property(_all_messages, _replace_messages),
        (Queue, "_pending_messages"): property(_pending, _clear_pending),
        (Queue, "messages"): property(_visible_messages),
        (Queue, "approximate_number_of_messages"): property(_count("visible_count")),
        (Queue, "approximate_number_of_messages_delayed"): property(_count("delayed_count")),
        (Queue, "approximate_number_of_messages_not_visible"): property(_count("not_visible")),
        (Queue, "add_message"): _add_message,
        (Queue, "delete_message"): _delete_message,
        (Queue, "wait_for_messages"): _wait_for_messages,
        (SQSBackend, "receive_message"): _receive_message,
        (SQSBackend, "change_message_visibility"): _change_message_visibility,
        (SQSBackend, "purge_queue"): _locked_purge,
    }
    for (owner, name), value in patches.items():
        _ORIGINAL[(owner, name)] = owner.__dict__.get(name)
        setattr(owner, name, value)
    _ORIGINAL[(models, "generate_receipt_handle")] = models.generate_receipt_handle
    models.generate_receipt_handle = _receipt_handle
    setattr(Queue, _MARK, True)


def restore_moto_sqs() -> None:
    """Undo index_moto_sqs (tests and benchmarks that compare with moto's own). Queues made while
    it was on must not be used after."""
    if not getattr(Queue, _MARK, False):
        return
    for (owner, name), original in _ORIGINAL.items():
        if original is None:
            delattr(owner, name)
        else:
            setattr(owner, name, original)
    _ORIGINAL.clear()
    delattr(Queue, _MARK)


def queue_index(queue: Queue) -> QueueIndex:
    """The index of one of moto's queues (made on first use)."""
    index: QueueIndex | None = queue.__dict__.get("_ews_index")
    if index is None:
        index = QueueIndex(lambda: bool(queue.fifo_queue), _LOCK)
        queue.__dict__["_ews_index"] = index
    return index


# -- Queue: storage and counts --------------------------------------------------------------------

def _all_messages(queue: Queue) -> list[Message]:
    with _LOCK:
        return [entry.message for entry in queue_index(queue).present.values()]


def _replace_messages(queue: Queue, messages: list[Message]) -> None:
    # Queue.__init__ and PurgeQueue assign `_messages = []`.
    with _LOCK:
        index = queue_index(queue)
        index.reset()
        now = unix_time_millis()
        for message in messages:
            index.insert(message, now)


def _pending(queue: Queue) -> set[Message]:
    with _LOCK:
        return {entry.message for entry in queue_index(queue).pending}


def _clear_pending(queue: Queue, pending: set[Message]) -> None:
    if pending:
        raise ValueError("the indexed queue tracks messages in flight itself")


def _visible_messages(queue: Queue) -> list[Message]:
    with _LOCK:
        index = queue_index(queue)
        index.advance(unix_time_millis())
        return [entry.message for entry in index.present.values()
                if entry not in index.pending and not entry.waiting]


def _count(kind: str) -> Any:
    def count(queue: Queue) -> int:
        with _LOCK:
            index = queue_index(queue)
            index.advance(unix_time_millis())
            return len(index.pending) if kind == "not_visible" else int(getattr(index, kind))

    return count


def _wait_for_messages(queue: Queue, timeout: int) -> None:
    with _LOCK:
        queue_index(queue).changed.wait(timeout)


def _add_message(queue: Queue, message: Message) -> None:
    """SendMessage's last step: de-duplicate (FIFO), index, feed Lambda event source mappings."""
    with _LOCK:
        index = queue_index(queue)
        if (queue.fifo_queue and message.deduplication_id
                and index.is_duplicate(message.deduplication_id, float(message.sent_timestamp or 0),
                                       DEDUPLICATION_TIME_IN_SECONDS * 1000)):
            return
        index.insert(message, unix_time_millis())
    _feed_event_source_mappings(queue)


def _delete_message(queue: Queue, receipt_handle: str) -> None:
    with _LOCK:
        if receipt_handle in queue.deleted_messages:
            return  # deleted before: SQS accepts a repeated delete
        index = queue_index(queue)
        entry = index.by_handle.get(receipt_handle)
        if entry is None:
            raise ReceiptHandleIsInvalid()
        index.remove(entry)
        queue.deleted_messages.update(h for h in entry.message.all_receipt_handles if h is not None)


def _feed_event_source_mappings(queue: Queue) -> None:
    """As moto's add_message: hand new messages to enabled Lambda event source mappings."""
    for arn, esm in list(queue.lambda_event_source_mappings.items()):
        if not esm.enabled:
            continue
        backend = models.sqs_backends[queue.account_id][queue.region]
        messages = backend.receive_message(queue.name, esm.batch_size,
                                           queue.receive_message_wait_time_seconds,  # type: ignore[attr-defined]
                                           queue.visibility_timeout)  # type: ignore[attr-defined]
        from moto.awslambda.utils import get_backend

        if get_backend(queue.account_id, queue.region).send_sqs_batch(arn, messages, queue.queue_arn):
            for message in messages:
                backend.delete_message(queue.name, message.receipt_handle)  # type: ignore[arg-type]
        else:
            for message in messages:
                backend.change_message_visibility(queue.name, message.receipt_handle,  # type: ignore[arg-type]
                                                  visibility_timeout=0)


# -- SQSBackend ---------------------------------------------------------------------------------------

def _receive_message(backend: SQSBackend, queue_name: str, count: int, wait_seconds_timeout: int,
                     visibility_timeout: int,
                     message_attribute_names: list[str] | None = None) -> list[Message]:
    queue = backend.get_queue(queue_name)
    names = message_attribute_names or []
    deadline = unix_time() + wait_seconds_timeout
    moved_to: Queue | None = None
    with _LOCK:
        index = queue_index(queue)
        while True:
            now = unix_time_millis()
            index.advance(now)
            delivered, dead = index.receive(count, visibility_timeout, _judge(queue))
            for message in dead:
                dlq = queue.dead_letter_queue
                assert dlq is not None
                queue_index(dlq).insert(message, now)  # never de-duplicated
                moved_to = dlq
            if delivered or wait_seconds_timeout <= 0 or (left := deadline - unix_time()) <= 0:
                break
            wait = min(left, LONG_POLL_SLICE_S)
            if (change := index.next_change()) is not None:
                wait = min(wait, max(0.0, (change - now) / 1000) + 0.001)
            index.changed.wait(wait)
    if moved_to is not None:
        _feed_event_source_mappings(moved_to)
    result = []
    for message in delivered:
        # A copy, so that filtering the attributes to those asked for leaves the message's own.
        shown = copy.copy(message)
        models._filter_message_attributes(shown, names)
        result.append(shown)
    return result


def _judge(queue: Queue) -> Any:
    policy = queue.redrive_policy if queue.dead_letter_queue is not None else None
    max_receives = policy["maxReceiveCount"] if policy else None
    retention_s = int(queue.message_retention_period)  # type: ignore[attr-defined]
    now_s = unix_time()

    def judge(message: Message) -> Verdict:
        if retention_s + (message.sent_timestamp or 0) / 1000 <= now_s:
            return Verdict.DROP
        if max_receives is not None and message.approximate_receive_count >= max_receives:
            return Verdict.DEAD_LETTER
        return Verdict.DELIVER

    return judge


def _change_message_visibility(backend: SQSBackend, queue_name: str, receipt_handle: str,
                               visibility_timeout: int) -> None:
    queue = backend.get_queue(queue_name)
    with _LOCK:
        index = queue_index(queue)
        entry = index.by_handle.get(receipt_handle)
        if entry is None:
            raise ReceiptHandleIsInvalid
        message = entry.message
        if unix_time_millis() + int(visibility_timeout) * 1000 - (message.sent_timestamp or 0) \
                > MAX_TOTAL_VISIBILITY_MS:
            raise InvalidParameterValue(
                f"Value {visibility_timeout} for parameter VisibilityTimeout is invalid. Reason: Total "
                "VisibilityTimeout for the message is beyond the limit [43200 seconds]")
        message.change_visibility(visibility_timeout)
        if message.visible:
            index.show(entry)
        else:
            index.hide(entry)  # in flight again, or for the first time (moto would not block its group)


def _locked_purge(backend: SQSBackend, queue_name: str) -> None:
    with _LOCK:
        _ORIGINAL[(SQSBackend, "purge_queue")](backend, queue_name)


def _receipt_handle() -> str:
    """moto's receipt handle (185 lowercase letters), in one call to its random source."""
    return "".join(mock_random.choices(string.ascii_lowercase, k=185))
