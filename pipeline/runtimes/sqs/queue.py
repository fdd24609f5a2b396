"""One SQS FIFO queue and its dead-letter queue, as the broker uses them (boto3 calls only)."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypedDict

from botocore.exceptions import ClientError

__all__ = ["FifoQueue", "ReceivedMessage", "dead_letter_queue_name", "fifo_queue_name"]

# SQS limits: 10 entries per batch call, 20 s of long polling.
MAX_BATCH = 10
MAX_WAIT_TIME_SECONDS = 20
# Dead letters are kept as long as SQS allows (14 days) so that operators can redrive them.
DLQ_RETENTION_SECONDS = 14 * 24 * 3600


class ReceivedMessage(TypedDict):
    """The parts of an SQS ReceiveMessage entry the broker reads."""

    message_id: str
    receipt_handle: str
    body: str
    group_id: str
    receive_count: int


def fifo_queue_name(name: str) -> str:
    """SQS requires FIFO queue names to end in `.fifo`; add it when it is missing."""
    return name if name.endswith(".fifo") else f"{name}.fifo"


def dead_letter_queue_name(name: str) -> str:
    """`jobs.fifo` -> `jobs-dlq.fifo` (a FIFO queue's dead-letter queue must be FIFO too)."""
    return fifo_queue_name(name).removesuffix(".fifo") + "-dlq.fifo"


class FifoQueue:
    """A FIFO queue addressed by URL or name; the URL and the dead-letter queue resolve lazily.

    Resolving lazily keeps construction free of network calls, so a client process can build the
    broker at import time and a missing queue fails on first use with SQS's own error. Given
    `connect` instead of a client, the boto3 client is made on first use too: a Lambda container
    whose jobs send nothing never makes one (1 MiB of its peak memory).
    """

    def __init__(
        self,
        client: Any,
        queue: str,
        *,
        create: bool = False,
        visibility_timeout: int = 120,
        max_receive_count: int = 10,
        connect: Callable[[], Any] | None = None,
    ) -> None:
        if client is None and connect is None:
            raise ValueError("FifoQueue needs a client or a way to connect one")
        self._client = client
        self._connect = connect
        self._client_lock = threading.Lock()
        is_url = queue.startswith(("http://", "https://"))
        self.name = queue.rstrip("/").rsplit("/", 1)[-1] if is_url else fifo_queue_name(queue)
        if not self.name.endswith(".fifo"):
            raise ValueError(f"SQS queue {queue!r} is not a FIFO queue (its name must end in .fifo)")
        self._url: str | None = queue if is_url else None
        self._dlq_url: str | None = None
        self._dlq_resolved = False
        self._create = create
        self._visibility_timeout = visibility_timeout
        self._max_receive_count = max_receive_count
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The boto3 SQS client (made now, on first use, when the queue was given `connect`)."""
        if self._client is None:
            with self._client_lock:
                if self._client is None and self._connect is not None:
                    self._client = self._connect()
        return self._client

    @property
    def url(self) -> str:
        """The queue's URL, creating the queue and its dead-letter queue first if asked to."""
        if self._url is None:
            with self._lock:
                if self._url is None:
                    self._url = self._create_queues() if self._create else self._lookup(self.name)
        return self._url

    @property
    def dead_letter_url(self) -> str | None:
        """The URL of the queue named by this queue's RedrivePolicy, or None without one."""
        if not self._dlq_resolved:
            attributes = self.attributes("RedrivePolicy")
            policy = attributes.get("RedrivePolicy")
            if policy:
                arn = json.loads(policy)["deadLetterTargetArn"]
                *_, account, name = arn.split(":")
                self._dlq_url = self.client.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)[
                    "QueueUrl"
                ]
            self._dlq_resolved = True
        return self._dlq_url

    def _lookup(self, name: str) -> str:
        url: str = self.client.get_queue_url(QueueName=name)["QueueUrl"]
        return url

    def _create_queues(self) -> str:
        # For local runs and tests; in production the SAM template creates both queues.
        dlq_url = self._create_queue(
            dead_letter_queue_name(self.name), {"MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS)}
        )
        dlq_arn = self.client.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(self._max_receive_count)}
        return self._create_queue(
            self.name,
            {"VisibilityTimeout": str(self._visibility_timeout), "RedrivePolicy": json.dumps(redrive)},
        )

    def _create_queue(self, name: str, attributes: dict[str, str]) -> str:
        try:
            url: str = self.client.create_queue(
                QueueName=name,
                Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "false", **attributes},
            )["QueueUrl"]
        except ClientError as exc:
            # It exists with other attributes (made by the template or an earlier run): use it as is.
            if _error_code(exc) not in ("QueueAlreadyExists", "QueueNameExists"):
                raise
            url = self._lookup(name)
        return url

    def attributes(self, *names: str) -> dict[str, str]:
        """Queue attributes by name."""
        response = self.client.get_queue_attributes(QueueUrl=self.url, AttributeNames=list(names))
        attributes: dict[str, str] = response.get("Attributes", {})
        return attributes

    def send(self, body: str, *, group_id: str, deduplication_id: str, url: str | None = None) -> None:
        """Send one message to this queue (or to `url`, e.g. the dead-letter queue)."""
        self.client.send_message(
            QueueUrl=url or self.url,
            MessageBody=body,
            MessageGroupId=group_id,
            MessageDeduplicationId=deduplication_id,
        )

    def receive(self, max_messages: int, *, wait_seconds: int, visibility_timeout: int,
                url: str | None = None) -> list[ReceivedMessage]:
        """Receive up to `max_messages` (at most 10), long polling up to `wait_seconds` (at most 20)."""
        response = self.client.receive_message(
            QueueUrl=url or self.url,
            MaxNumberOfMessages=max(1, min(max_messages, MAX_BATCH)),
            WaitTimeSeconds=max(0, min(wait_seconds, MAX_WAIT_TIME_SECONDS)),
            VisibilityTimeout=visibility_timeout,
            MessageSystemAttributeNames=["ApproximateReceiveCount", "MessageGroupId"],
            # If a receive is lost on the wire, botocore's retry carries the same attempt id, so
            # SQS returns the same messages instead of hiding them until their timeout lapses.
            ReceiveRequestAttemptId=uuid.uuid4().hex,
        )
        return [
            ReceivedMessage(
                message_id=entry["MessageId"],
                receipt_handle=entry["ReceiptHandle"],
                body=entry["Body"],
                group_id=entry.get("Attributes", {}).get("MessageGroupId", ""),
                receive_count=int(entry.get("Attributes", {}).get("ApproximateReceiveCount", "1")),
            )
            for entry in response.get("Messages", [])
        ]

    def delete(self, receipt_handle: str) -> None:
        """Delete one received message."""
        self.client.delete_message(QueueUrl=self.url, ReceiptHandle=receipt_handle)

    def delete_batch(self, receipt_handles: Iterable[str], *, url: str | None = None) -> None:
        """Delete received messages, ten per call."""
        for chunk in _chunks(list(receipt_handles)):
            self.client.delete_message_batch(
                QueueUrl=url or self.url,
                Entries=[{"Id": str(i), "ReceiptHandle": handle} for i, handle in enumerate(chunk)],
            )

    def change_visibility(self, receipt_handle: str, timeout_seconds: int) -> None:
        """Set one received message's visibility timeout, counted from now."""
        self.client.change_message_visibility(
            QueueUrl=self.url, ReceiptHandle=receipt_handle, VisibilityTimeout=timeout_seconds
        )

    def change_visibility_batch(self, receipt_handles: Iterable[str], timeout_seconds: int) -> list[str]:
        """Set the visibility timeout of many messages, ten per call; returns the handles that failed."""
        failed: list[str] = []
        for chunk in _chunks(list(receipt_handles)):
            response = self.client.change_message_visibility_batch(
                QueueUrl=self.url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": timeout_seconds}
                    for i, handle in enumerate(chunk)
                ],
            )
            failed.extend(chunk[int(entry["Id"])] for entry in response.get("Failed", []))
        return failed

    def drain(self, *, url: str | None = None) -> int:
        """Receive and delete every visible message; returns how many were deleted.

        PurgeQueue would also drop in-flight messages, but real SQS allows it once a minute.
        """
        deleted = 0
        while batch := self.receive(MAX_BATCH, wait_seconds=0, visibility_timeout=30, url=url):
            self.delete_batch((m["receipt_handle"] for m in batch), url=url)
            deleted += len(batch)
        return deleted


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), MAX_BATCH):
        yield items[start : start + MAX_BATCH]


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
