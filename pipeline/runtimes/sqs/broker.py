"""SqsFifoBroker: a dramatiq broker on one Amazon SQS FIFO queue with a dead-letter queue."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from dramatiq.broker import Broker, Consumer
from dramatiq.errors import ConnectionClosed, DecodeError, QueueJoinTimeout, QueueNotFound
from dramatiq.message import Message
from dramatiq.middleware import Middleware

from pipeline.runtimes.sqs.connection import parse_sqs_url, sqs_client_for
from pipeline.runtimes.sqs.consumer import SqsConsumer, SqsMessageProxy
from pipeline.runtimes.sqs.grouping import message_group_id
from pipeline.runtimes.sqs.inflight import InFlight
from pipeline.runtimes.sqs.queue import FifoQueue, ReceivedMessage
from pipeline.runtimes.sqs.redelivery import MAX_VISIBILITY_TIMEOUT_S, fifo_middleware, visibility_timeout_for

__all__ = ["SqsFifoBroker"]

logger = logging.getLogger(__name__)

DEFAULT_WAIT_TIME_SECONDS = 20
# Longer than a job may run is not needed: the consumer extends the timeout of the messages it
# holds, so this only bounds how long a hard-killed worker's messages stay hidden.
DEFAULT_VISIBILITY_TIMEOUT_S = 120
DEFAULT_MAX_RECEIVE_COUNT = 10
# SQS FIFO de-duplicates by MessageDeduplicationId within this window.
DEDUPLICATION_WINDOW_S = 300


class SqsFifoBroker(Broker):
    """A dramatiq broker on an SQS FIFO queue: one message group per mailbox, a dead-letter queue.

    Every dramatiq queue name maps onto the one configured FIFO queue (the message body keeps its
    `queue_name`, so workers still route by it). FIFO order only holds within one SQS queue, and a
    mailbox's jobs span actions (create_event then send_invite), so splitting queue names across
    SQS queues would let them overtake each other. It is also the queue the Lambda handler reads,
    so upstream apps send to one place whichever runtime consumes it. Consequences: a worker cannot
    consume a subset of queue names, and `flush`/`join` act on the whole SQS queue.

    Retries are SQS redelivery (see `pipeline.runtimes.sqs.redelivery`): dramatiq's Retries middleware is
    replaced by SqsRedelivery. Acknowledging deletes the message; a retryable failure leaves it
    invisible for its back-off; after maxReceiveCount receives SQS moves it to the dead-letter
    queue. A message the worker rejects without running it (unknown actor, AgeLimit, undecodable
    body, undeclared queue name) is moved to the dead-letter queue at once, because no runner has
    recorded its outcome. Permanent failures are deleted: the runner records them in the table.

    Parameters:
      queue: the queue's URL, or its name (`.fifo` is appended if missing).
      sqs_client: a boto3 SQS client (tests inject one); built from endpoint_url/region if None.
      endpoint_url: SQS endpoint (else AWS_ENDPOINT_URL, else AWS's).
      region: AWS region (else AWS_REGION / AWS_DEFAULT_REGION, else us-east-1).
      middleware: as for any dramatiq broker; Retries is replaced (its back-off bounds are kept).
      wait_time_seconds: long-polling wait, 0-20. A graceful stop waits for a poll to end.
      visibility_timeout: seconds a received message stays hidden, extended while it is held.
      create_queues: create the queue and its `-dlq.fifo` dead-letter queue if missing (local
        runs, tests); in production the SAM template creates them.
      max_receive_count: maxReceiveCount of queues this broker creates; by default the replaced
        Retries' max_retries + 1 (so retries match the other brokers), else 10.
    """

    def __init__(
        self,
        queue: str,
        *,
        sqs_client: Any | None = None,
        endpoint_url: str | None = None,
        region: str | None = None,
        middleware: list[Middleware] | None = None,
        wait_time_seconds: int = DEFAULT_WAIT_TIME_SECONDS,
        visibility_timeout: int = DEFAULT_VISIBILITY_TIMEOUT_S,
        create_queues: bool = False,
        max_receive_count: int | None = None,
    ) -> None:
        fifo, retries = fifo_middleware(middleware)
        super().__init__(middleware=fifo)
        if not 0 <= wait_time_seconds <= 20:
            raise ValueError("wait_time_seconds must be between 0 and 20 (SQS long polling)")
        if not 1 <= visibility_timeout <= MAX_VISIBILITY_TIMEOUT_S:
            raise ValueError(f"visibility_timeout must be between 1 and {MAX_VISIBILITY_TIMEOUT_S} seconds")
        if max_receive_count is None:
            max_receive_count = (
                retries.max_retries + 1 if retries and retries.max_retries else DEFAULT_MAX_RECEIVE_COUNT
            )
        # The boto3 client is made on first use (pipeline.runtimes.sqs.queue.FifoQueue).
        self.queue = FifoQueue(
            sqs_client,
            queue,
            create=create_queues,
            visibility_timeout=visibility_timeout,
            max_receive_count=max_receive_count,
            connect=lambda: sqs_client_for(endpoint_url, region),
        )
        self.queues: set[str] = set()
        self.wait_time_seconds = wait_time_seconds
        self.visibility_timeout = visibility_timeout
        self.in_flight: InFlight[SqsMessageProxy] = InFlight()
        self.poll_lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The boto3 SQS client (made on first use)."""
        return self.queue.client

    @classmethod
    def from_url(
        cls, url: str, *, middleware: list[Middleware] | None = None, **options: Any
    ) -> SqsFifoBroker:
        """A broker from `sqs://QUEUE_NAME?endpoint=URL&region=R&create=1&wait=S&visibility_timeout=S`.

        `max_receive_count` is also read from the query; keyword options override the URL.
        """
        queue, from_query = parse_sqs_url(url)
        return cls(queue, middleware=middleware, **{**from_query, **options})

    # -- the Broker contract -------------------------------------------------------------------

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 30000) -> Consumer:
        """A consumer of the messages for one declared dramatiq queue."""
        if queue_name not in self.queues:
            raise QueueNotFound(queue_name)
        return SqsConsumer(self, queue_name, prefetch, timeout)

    def declare_queue(self, queue_name: str) -> None:
        """Declare a dramatiq queue name; all of them live on the one FIFO queue."""
        if queue_name in self.queues:
            return
        self.emit_before("declare_queue", queue_name)
        self.queues.add(queue_name)
        self.emit_after("declare_queue", queue_name)

    def enqueue(self, message: Message, *, delay: int | None = None) -> Message:
        """Send a message with its mailbox's group id and its message_id as de-duplication id.

        Raises:
          ValueError: for a delay: FIFO queues have no per-message delay, and holding the message
            back locally would let later jobs of its group overtake it.
        """
        if delay:
            raise ValueError(
                "SqsFifoBroker cannot delay a message: SQS FIFO queues have no per-message "
                "DelaySeconds; retries are SQS redelivery instead"
            )
        try:
            body = message.encode().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError("SQS message bodies are text: use a text encoder such as JSON") from exc
        self.emit_before("enqueue", message, delay)
        self._call(
            self.queue.send, body, group_id=message_group_id(message), deduplication_id=message.message_id
        )
        self.emit_after("enqueue", message, delay)
        return message

    def get_declared_queues(self) -> set[str]:
        """The dramatiq queue names declared so far."""
        return self.queues.copy()

    def flush(self, queue_name: str) -> None:
        """Drop every visible message of the FIFO queue (which all queue names share)."""
        self.release(self.in_flight.clear(), include_groups=False)
        self.queue.drain()

    def flush_all(self) -> None:
        """Drop every visible message of the FIFO queue and of its dead-letter queue."""
        self.flush("")
        if (dlq := self.queue.dead_letter_url) is not None:
            self.queue.drain(url=dlq)

    def join(self, queue_name: str, *, interval: int = 100, timeout: int | None = None) -> None:
        """Wait until the FIFO queue holds no message, visible, in flight or delayed (for tests).

        Raises:
          QueueJoinTimeout: when `timeout` milliseconds pass first.
        """
        deadline = None if timeout is None else time.monotonic() + timeout / 1000
        names = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                 "ApproximateNumberOfMessagesDelayed")
        while True:
            attributes = self.queue.attributes(*names)
            if sum(int(attributes.get(name, "0")) for name in names) == 0:
                return
            if deadline is not None and time.monotonic() >= deadline:
                raise QueueJoinTimeout(queue_name)
            time.sleep(interval / 1000)

    # -- used by SqsConsumer -------------------------------------------------------------------

    def receive(self, max_messages: int) -> int:
        """Receive a batch into `in_flight`; returns how many messages arrived."""
        batch = self._call(
            self.queue.receive,
            max_messages,
            wait_seconds=self.wait_time_seconds,
            visibility_timeout=self.visibility_timeout,
        )
        visible_until = time.monotonic() + self.visibility_timeout
        for received in batch:
            proxy = self._proxy(received, visible_until)
            if proxy is None:
                continue
            if proxy.queue_name not in self.queues:
                logger.error("Message %s is for queue %r, which no actor here declares; dead-lettering it.",
                             proxy.message_id, proxy.queue_name)
                self._move_to_dead_letter_queue(received["body"], received)
                continue
            self.in_flight.add(proxy)
        return len(batch)

    def _proxy(self, received: ReceivedMessage, visible_until: float) -> SqsMessageProxy | None:
        try:
            message = Message.decode(received["body"].encode("utf-8"))
        except DecodeError:
            logger.exception("SQS message %s is not a dramatiq message; dead-lettering it.",
                             received["message_id"])
            self._move_to_dead_letter_queue(received["body"], received)
            return None
        # SQS counts receives; dramatiq's `retries` counts earlier attempts (0 on the first run).
        message.options["retries"] = max(received["receive_count"] - 1, 0)
        return SqsMessageProxy(
            message,
            sqs_message_id=received["message_id"],
            receipt_handle=received["receipt_handle"],
            group_id=received["group_id"] or message_group_id(message),
            receive_count=received["receive_count"],
            body=received["body"],
            visible_until=visible_until,
        )

    def delete(self, proxy: SqsMessageProxy) -> None:
        """The job is done (or failed for good): delete it, letting its group's next one run."""
        self._call_on_receipt(self.queue.delete, proxy.receipt_handle)
        self.in_flight.settle(proxy)

    def redeliver_later(self, proxy: SqsMessageProxy, delay_ms: int) -> None:
        """Leave a retryable failure on the queue, invisible for `delay_ms` (within SQS's limit)."""
        held = self.in_flight.release(proxy)
        timeout = visibility_timeout_for(delay_ms, received_seconds_ago=time.monotonic() - proxy.received_at)
        logger.info("Message %s will be redelivered in %d s (receive %d).",
                    proxy.message_id, timeout, proxy.receive_count)
        self._call_on_receipt(self.queue.change_visibility, proxy.receipt_handle, timeout)
        # Its group's later messages go back too, so that SQS hands the retried one out first.
        self._set_visible([m.receipt_handle for m in held])

    def dead_letter(self, proxy: SqsMessageProxy) -> None:
        """Move a rejected message to the dead-letter queue (copy first, so nothing is lost)."""
        received = ReceivedMessage(message_id=proxy.sqs_message_id, receipt_handle=proxy.receipt_handle,
                                   body=proxy.body, group_id=proxy.group_id,
                                   receive_count=proxy.receive_count)
        self._move_to_dead_letter_queue(proxy.body, received)
        self.in_flight.settle(proxy)

    def release(self, proxies: list[SqsMessageProxy], *, include_groups: bool = True) -> None:
        """Make unprocessed messages visible again now (and the group messages held behind them)."""
        handles: list[str] = []
        for proxy in proxies:
            handles.append(proxy.receipt_handle)
            if include_groups:
                handles.extend(m.receipt_handle for m in self.in_flight.release(proxy))
        self._set_visible(handles)

    def extend_visibility(self) -> None:
        """Keep held messages hidden while they wait or run, so SQS does not hand them out twice."""
        now = time.monotonic()
        expiring = self.in_flight.expiring(before=now + self.visibility_timeout / 2)
        if not expiring:
            return
        failed = self._call(
            self.queue.change_visibility_batch, [m.receipt_handle for m in expiring], self.visibility_timeout
        )
        if failed:
            # Past SQS's 12-hour limit or already gone: SQS may deliver these again.
            logger.warning("Could not extend the visibility of %d message(s).", len(failed))
        self.in_flight.extended(expiring, now + self.visibility_timeout)

    # -- helpers -------------------------------------------------------------------------------

    def _move_to_dead_letter_queue(self, body: str, received: ReceivedMessage) -> None:
        dlq = self._call(lambda: self.queue.dead_letter_url)
        if dlq is None:
            # Without a dead-letter queue, keep it rather than lose it; hidden so it does not spin.
            logger.error("Queue %s has no dead-letter queue; message %s stays on it.",
                         self.queue.name, received["message_id"])
            self._call_on_receipt(self.queue.change_visibility, received["receipt_handle"],
                                  visibility_timeout_for(MAX_VISIBILITY_TIMEOUT_S * 1000,
                                                         received_seconds_ago=1))
            return
        # Its SQS message id de-duplicates the copy if this move is repeated after a crash.
        self._call(self.queue.send, body, group_id=received["group_id"] or "dead-letters",
                   deduplication_id=received["message_id"], url=dlq)
        self._call_on_receipt(self.queue.delete, received["receipt_handle"])

    def _set_visible(self, receipt_handles: list[str]) -> None:
        if receipt_handles:
            failed = self._call(self.queue.change_visibility_batch, receipt_handles, 0)
            if failed:
                logger.warning("Could not release %d message(s); they return when their timeout lapses.",
                               len(failed))

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Call SQS; a network failure becomes dramatiq's ConnectionClosed, which workers retry."""
        try:
            return fn(*args, **kwargs)
        except BotoCoreError as exc:
            raise ConnectionClosed(exc) from exc

    def _call_on_receipt(self, fn: Any, receipt_handle: str, *args: Any) -> None:
        """Like _call, for calls on a received message, whose receipt may have expired meanwhile."""
        try:
            self._call(fn, receipt_handle, *args)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code not in ("ReceiptHandleIsInvalid", "InvalidParameterValue", "MessageNotInflight",
                            "AWS.SimpleQueueService.MessageNotInflight"):
                raise
            # The visibility timeout lapsed first: SQS will deliver the message again.
            logger.warning("SQS refused %s for a received message (%s); it will be delivered again.",
                           getattr(fn, "__name__", fn), code)

