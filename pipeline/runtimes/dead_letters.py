"""Dead-lettered jobs on every broker: list them, and move them back to the jobs queue (redrive).

Where each broker keeps them: SQS in the jobs queue's dead-letter queue (its RedrivePolicy),
Redis in dramatiq's `<namespace>:<queue>.XQ` sorted set (bodies in `.XQ.msgs`), RabbitMQ in the
`<queue>.XQ` queue. A redriven job is a new delivery of the same message id, which the pipeline
runs as a new run of a failed job (ResultsStore.begin_job), keeping its effects exactly-once; the
copy is sent before the dead letter is removed, so nothing is lost.
"""

from __future__ import annotations

import dataclasses
import uuid
from abc import ABC, abstractmethod
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import dramatiq
from dramatiq.common import q_name, xq_name
from dramatiq.errors import DecodeError

from pipeline.contract.message import JOBS_QUEUE
from pipeline.runtimes.broker_check import BrokerUnavailable

__all__ = ["DeadLetter", "DeadLetters", "dead_letters_for"]

# Options a broker sets on a delivery; a redriven message starts without them.
_DELIVERY_OPTIONS = ("redis_message_id", "retries", "traceback", "dead_letter")


@dataclass(frozen=True)
class DeadLetter:
    """One dead-lettered message, as operators need to see it (its kwargs are not shown)."""

    message_id: str
    actor_name: str | None  # None: not a dramatiq message (it cannot be redriven)
    integration_id: str | None = None
    mailbox: str | None = None
    dead_lettered_at: datetime | None = None


class DeadLetters(ABC):
    """The dead letters of one jobs queue on one broker."""

    @abstractmethod
    def peek(self) -> list[DeadLetter]:
        """Every dead letter, oldest first, left where it is."""

    @abstractmethod
    def redrive(self, message_ids: Collection[str] | None) -> list[str]:
        """Move the named dead letters (all with None) back to the jobs queue; the ids moved."""


def dead_letters_for(broker: dramatiq.Broker, queue_name: str = JOBS_QUEUE) -> DeadLetters:
    """The dead letters of `queue_name` on this broker."""
    kind = type(broker).__name__
    if kind == "SqsFifoBroker":
        return _SqsDeadLetters(broker)
    if kind == "RedisBroker":
        return _RedisDeadLetters(broker, queue_name)
    if kind == "RabbitmqBroker":
        return _RabbitmqDeadLetters(broker, queue_name)
    raise BrokerUnavailable(f"{kind} keeps no dead letters: use redis://, amqp:// or sqs://")


def _decode(body: bytes | str) -> dramatiq.Message[Any] | None:
    try:
        return dramatiq.Message.decode(body.encode() if isinstance(body, str) else body)
    except DecodeError:
        return None


def _describe(message: dramatiq.Message[Any] | None, fallback_id: str,
              at: datetime | None = None) -> DeadLetter:
    if message is None:
        return DeadLetter(message_id=fallback_id, actor_name=None, dead_lettered_at=at)
    kwargs = message.kwargs if isinstance(message.kwargs, dict) else {}
    return DeadLetter(message_id=message.message_id, actor_name=message.actor_name,
                      integration_id=kwargs.get("integration_id"), mailbox=kwargs.get("mailbox"),
                      dead_lettered_at=at)


def _fresh(message: dramatiq.Message[Any]) -> dramatiq.Message[Any]:
    options = {k: v for k, v in message.options.items() if k not in _DELIVERY_OPTIONS}
    return dataclasses.replace(message, queue_name=q_name(message.queue_name), options=options)


def _wanted(message: dramatiq.Message[Any] | None, message_ids: Collection[str] | None) -> bool:
    return message is not None and (message_ids is None or message.message_id in message_ids)


class _SqsDeadLetters(DeadLetters):
    def __init__(self, broker: Any) -> None:
        self.queue = broker.queue
        self.client = broker.client
        dlq = self.queue.dead_letter_url
        if dlq is None:
            raise BrokerUnavailable(f"SQS queue {self.queue.name} has no dead-letter queue (RedrivePolicy)")
        self.dlq: str = dlq

    def _receive_all(self) -> list[Any]:
        received: list[Any] = []
        seen: set[str] = set()
        while batch := self.queue.receive(10, wait_seconds=0, visibility_timeout=30, url=self.dlq):
            fresh = [m for m in batch if m["message_id"] not in seen]
            if not fresh:
                break
            seen.update(m["message_id"] for m in fresh)
            received += fresh
        return received

    def _release(self, received: list[Any]) -> None:
        for entry in received:
            self.client.change_message_visibility(QueueUrl=self.dlq, ReceiptHandle=entry["receipt_handle"],
                                                  VisibilityTimeout=0)

    def peek(self) -> list[DeadLetter]:
        received = self._receive_all()
        self._release(received)
        return [_describe(_decode(m["body"]), m["message_id"]) for m in received]

    def redrive(self, message_ids: Collection[str] | None) -> list[str]:
        from pipeline.runtimes.sqs import message_group_id

        moved: list[str] = []
        kept: list[Any] = []
        for entry in self._receive_all():
            message = _decode(entry["body"])
            if message is None or not _wanted(message, message_ids):
                kept.append(entry)
                continue
            fresh = _fresh(message)
            # A new de-duplication id: SQS would drop a copy of a message sent in the last 5 minutes.
            self.queue.send(fresh.encode().decode(), group_id=entry["group_id"] or message_group_id(fresh),
                            deduplication_id=f"redrive-{uuid.uuid4().hex}")
            self.client.delete_message(QueueUrl=self.dlq, ReceiptHandle=entry["receipt_handle"])
            moved.append(message.message_id)
        self._release(kept)
        return moved


class _RedisDeadLetters(DeadLetters):
    def __init__(self, broker: Any, queue_name: str) -> None:
        self.broker = broker
        self.client = broker.client
        self.queue_name = queue_name
        self.xq = f"{broker.namespace}:{xq_name(queue_name)}"
        self.bodies = f"{self.xq}.msgs"

    def _entries(self) -> list[tuple[str, dramatiq.Message[Any] | None, datetime]]:
        entries = []
        for key, score in self.client.zrange(self.xq, 0, -1, withscores=True):
            redis_id = key.decode() if isinstance(key, bytes) else str(key)
            body = self.client.hget(self.bodies, redis_id)
            if body is not None:
                at = datetime.fromtimestamp(score / 1000, UTC)
                entries.append((redis_id, _decode(body), at))
        return entries

    def peek(self) -> list[DeadLetter]:
        return [_describe(message, redis_id, at) for redis_id, message, at in self._entries()]

    def redrive(self, message_ids: Collection[str] | None) -> list[str]:
        self.broker.declare_queue(self.queue_name)
        moved: list[str] = []
        for redis_id, message, _ in self._entries():
            if message is None or not _wanted(message, message_ids):
                continue
            self.broker.enqueue(_fresh(message))
            self.client.zrem(self.xq, redis_id)
            self.client.hdel(self.bodies, redis_id)
            moved.append(message.message_id)
        return moved


class _RabbitmqDeadLetters(DeadLetters):
    def __init__(self, broker: Any, queue_name: str) -> None:
        self.broker = broker
        self.queue_name = queue_name
        broker.declare_queue(queue_name, ensure=True)
        self.xq = xq_name(queue_name)

    def _take_all(self) -> list[tuple[int, dramatiq.Message[Any] | None]]:
        taken: list[tuple[int, dramatiq.Message[Any] | None]] = []
        channel = self.broker.channel
        while True:
            method, _, body = channel.basic_get(self.xq, auto_ack=False)
            if method is None:
                return taken
            taken.append((method.delivery_tag, _decode(body)))

    def peek(self) -> list[DeadLetter]:
        taken = self._take_all()
        if taken:
            self.broker.channel.basic_nack(delivery_tag=0, multiple=True, requeue=True)
        return [_describe(message, f"delivery-{tag}") for tag, message in taken]

    def redrive(self, message_ids: Collection[str] | None) -> list[str]:
        moved: list[str] = []
        channel = self.broker.channel
        for tag, message in self._take_all():
            if message is None or not _wanted(message, message_ids):
                channel.basic_nack(delivery_tag=tag, requeue=True)
                continue
            self.broker.enqueue(_fresh(message))
            channel.basic_ack(delivery_tag=tag)
            moved.append(message.message_id)
        return moved
