"""The dramatiq consumer for SqsFifoBroker and the message proxy it hands to worker threads."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, cast

from dramatiq.broker import Consumer, MessageProxy
from dramatiq.message import Message

if TYPE_CHECKING:
    from pipeline.runtimes.sqs.broker import SqsFifoBroker

__all__ = ["SqsConsumer", "SqsMessageProxy"]

# While the prefetch limit is reached, check this often for a slot (a finished job).
_FULL_PREFETCH_WAIT_S = 0.05


class SqsMessageProxy(MessageProxy):
    """A received message with its SQS receipt, group and receive count."""

    def __init__(
        self,
        message: Message,
        *,
        sqs_message_id: str,
        receipt_handle: str,
        group_id: str,
        receive_count: int,
        body: str,
        visible_until: float,
    ) -> None:
        super().__init__(message)
        self.sqs_message_id = sqs_message_id
        self.receipt_handle = receipt_handle
        self.group_id = group_id
        self.receive_count = receive_count
        self.body = body
        self.received_at = time.monotonic()
        self.visible_until = visible_until
        # Set by SqsRedelivery when the failure is retryable: acknowledging the message then
        # leaves it on the queue, invisible for this long, instead of deleting it.
        self.redeliver_after_ms: int | None = None


class SqsConsumer(Consumer):
    """Hands out one dramatiq queue's share of what the broker receives from the FIFO queue.

    All dramatiq queues share one SQS queue, so the broker keeps the received messages and each
    consumer takes the ones for its queue name; any consumer may poll SQS for all of them.
    """

    def __init__(self, broker: SqsFifoBroker, queue_name: str, prefetch: int, timeout: int) -> None:
        self.broker = broker
        self.queue_name = queue_name
        self.prefetch = max(1, prefetch)
        self.timeout_s = max(timeout, 0) / 1000

    def ack(self, message: MessageProxy) -> None:
        """Delete a processed message, or leave it for redelivery after its back-off."""
        proxy = cast(SqsMessageProxy, message)
        if proxy.redeliver_after_ms is not None:
            self.broker.redeliver_later(proxy, proxy.redeliver_after_ms)
        else:
            self.broker.delete(proxy)

    def nack(self, message: MessageProxy) -> None:
        """Move a message the worker rejected (unknown actor, too old, ...) to the dead-letter queue."""
        self.broker.dead_letter(cast(SqsMessageProxy, message))

    def requeue(self, messages: Iterable[MessageProxy]) -> None:
        """Make unprocessed messages visible again at once (graceful shutdown)."""
        self.broker.release([cast(SqsMessageProxy, m) for m in messages])

    def __next__(self) -> MessageProxy | None:
        """The next message for this queue, polling SQS when none is waiting; None when idle."""
        proxy = self.broker.in_flight.pop_ready(self.queue_name)
        if proxy is not None:
            return proxy
        self.broker.extend_visibility()
        room = self.prefetch - len(self.broker.in_flight)
        if room <= 0:
            time.sleep(min(self.timeout_s, _FULL_PREFETCH_WAIT_S))
            return None
        # One consumer polls at a time; the others wait here and then find their messages ready.
        if not self.broker.poll_lock.acquire(timeout=max(self.timeout_s, 0.01)):
            return None
        try:
            proxy = self.broker.in_flight.pop_ready(self.queue_name)
            if proxy is None and self.broker.receive(room) == 0 and self.broker.wait_time_seconds == 0:
                time.sleep(self.timeout_s)
        finally:
            self.broker.poll_lock.release()
        return proxy or self.broker.in_flight.pop_ready(self.queue_name)

    def close(self) -> None:
        """Release the messages received for this queue but not yet handed to a worker."""
        self.broker.release(self.broker.in_flight.release_ready(self.queue_name), include_groups=False)
