"""Run SQS records as jobs inside Lambda, with the same run_job the dramatiq workers use.

Retries are SQS redelivery and the dead-letter queue, never dramatiq's Retries middleware:
- success: the record is acknowledged and the next message of its dramatiq pipeline is enqueued;
- permanent failure: recorded as failed by run_job and acknowledged, never redelivered;
- transient failure: reported as a batch item failure, with the message hidden for the server's
  BackOffMilliseconds (or an exponential back-off) so that SQS redelivers it no sooner;
- undecodable record: recorded under its SQS message id with INVALID_MESSAGE and copied to the
  dead-letter queue, so that it neither poisons the batch nor is lost.

On a FIFO queue a failed record holds back the later records of its message group (a mailbox's
later jobs) but not the other groups; the held-back records are made visible again at once, so
that the group resumes when the failed record's back-off ends rather than when the batch's
visibility timeout does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import dramatiq
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    SqsFifoPartialProcessor,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError
from dramatiq.broker import MessageProxy
from dramatiq.common import compute_backoff
from dramatiq.middleware import Pipelines

from pipeline.errors import ErrorCode, PermanentError, RetryableError
from pipeline.runtimes.broker import MAX_BACKOFF_MS, MIN_BACKOFF_MS
from pipeline.runtimes.enqueue import broker_enqueue
from pipeline.runtimes.runner import GaveUp, Job, UnrecordableMessage, run_job
from pipeline.runtimes.runtime import Runtime
from pipeline.runtimes.sqs import SqsFifoBroker, visibility_timeout_for

log = logging.getLogger(__name__)

__all__ = ["SqsJobProcessor", "UndecodableRecord"]


class UndecodableRecord(Exception):
    """The record's body is not a dramatiq message."""


@dataclass
class SqsJobProcessor:
    """Handles one SQS record at a time; built once per warm Lambda container."""

    runtime: Runtime
    # The jobs queue (to hide retried records, reach the dead-letter queue and enqueue the next
    # pipeline step); its actors are declared so dramatiq's Pipelines middleware can be reused.
    broker: SqsFifoBroker
    # The queue's RedrivePolicy maxReceiveCount: the receive that reaches it is the last one.
    max_receive_count: int

    def __post_init__(self) -> None:
        # Follow-up jobs an action enqueues (a calendar sync) go onto the same jobs queue.
        self._enqueue = broker_enqueue(self.broker)

    def process_batch(self, event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
        """Run an SQS event's records; the response names the records SQS must deliver again."""
        records: list[dict[str, Any]] = event.get("Records") or []
        fifo = bool(records) and str(records[0].get("eventSourceARN", "")).endswith(".fifo")
        batch = SqsFifoPartialProcessor(skip_group_on_error=True) if fifo else BatchProcessor(EventType.SQS)
        # A batch in which every record failed (a busy server, one mailbox's group) is not an
        # error of the function: Powertools would raise, failing the invocation, so that no
        # record's failure is reported and all of them wait out the batch's visibility timeout.
        batch.raise_on_entire_batch_failure = False
        response = process_partial_response(event, self.handle, batch, context)
        if fifo:
            self._release_held_back(records, response)
        return response

    def handle(self, record: SQSRecord) -> None:
        """Run the record's job; raises only to report a batch item failure (a retry)."""
        receive_count = int(record.attributes.approximate_receive_count or 1)
        try:
            message = self._decode(record)
        except UndecodableRecord as reason:
            self._reject(record, str(reason))
            return
        job = Job(
            message.message_id,
            message.actor_name,
            message.kwargs,
            final_attempt=receive_count >= self.max_receive_count,
            attempt=receive_count,
        )
        try:
            result = run_job(self.runtime, job, enqueue=self._enqueue)
        except UnrecordableMessage as unrecordable:
            self._reject(record, unrecordable.message)
            return
        except GaveUp:
            # Recorded failed (with its job.failed event); kept in the dead-letter queue for a
            # redrive. Acknowledged, not reported: SQS would deliver it again, and a delivery of a
            # failed job is a redrive.
            self._copy_to_dead_letter_queue(record)
            return
        except PermanentError:
            return
        except RetryableError as failure:
            self._hide_for_back_off(record, failure, receive_count)
            raise
        Pipelines().after_process_message(self.broker, MessageProxy(message), result=result)

    def _decode(self, record: SQSRecord) -> dramatiq.Message[Any]:
        try:
            data = record.body.encode()
            fields = dramatiq.get_encoder().decode(data)
            message = dramatiq.Message.decode(data)
        except Exception as exc:
            raise UndecodableRecord(f"the body is not a dramatiq message ({type(exc).__name__})") from exc
        # dramatiq makes up a message_id that is missing (each redelivery would be a new job), and
        # JSON from another language may put anything in any field: run_job relies on these types.
        envelope = (fields.get("message_id"), fields.get("actor_name"))
        if not all(isinstance(value, str) and value for value in envelope) or not isinstance(
            message.kwargs, dict
        ):
            raise UndecodableRecord("the message lacks message_id, actor_name (strings) or a kwargs object")
        if not isinstance(message.options, dict):
            raise UndecodableRecord("the message's options are not an object")
        return message

    def _reject(self, record: SQSRecord, reason: str) -> None:
        log.error("SQS message %s rejected: %s", record.message_id, reason)
        try:
            self.runtime.store.fail_job(
                f"sqs:{record.message_id}", ErrorCode.INVALID_MESSAGE, reason, retryable=False,
                now=self.runtime.clock(),
            )
        except PermanentError as recorded:
            # An earlier delivery recorded it and then failed to copy it to the dead-letter
            # queue; copy it now rather than fail it again until SQS gives up on it.
            if recorded.code is not ErrorCode.DUPLICATE_DELIVERY:
                raise
        self._copy_to_dead_letter_queue(record)

    def _copy_to_dead_letter_queue(self, record: SQSRecord) -> None:
        dead_letter_url = self.broker.queue.dead_letter_url
        if dead_letter_url is not None:
            self.broker.queue.send(
                record.body,
                group_id=record.attributes.message_group_id or "undecodable",
                deduplication_id=record.message_id,
                url=dead_letter_url,
            )

    def _hide_for_back_off(self, record: SQSRecord, failure: RetryableError, receive_count: int) -> None:
        delay_ms = failure.delay_ms  # the retry policy's, set by the runner
        if delay_ms is None:
            _, delay_ms = compute_backoff(receive_count, factor=MIN_BACKOFF_MS, max_backoff=MAX_BACKOFF_MS)
        # The record was received moments ago, when this invocation started.
        timeout = visibility_timeout_for(delay_ms)
        self.broker.queue.change_visibility(record.receipt_handle, timeout)

    def _release_held_back(self, records: list[dict[str, Any]], response: PartialItemFailureResponse) -> None:
        # In each message group, every failed record after the group's first failure was skipped
        # without running. Still hidden, they would keep the whole group from SQS (a group with a
        # message in flight delivers nothing) past the first record's back-off.
        failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
        failed_groups: set[str] = set()
        held_back: list[str] = []
        for record in records:
            if record["messageId"] not in failed:
                continue
            group = str(record.get("attributes", {}).get("MessageGroupId", ""))
            if group in failed_groups:
                held_back.append(record["receiptHandle"])
            failed_groups.add(group)
        if not held_back:
            return
        try:
            refused = self.broker.queue.change_visibility_batch(held_back, 0)
        except (BotoCoreError, ClientError):
            refused = held_back
        if refused:
            # They come back when the batch's visibility timeout lapses instead; nothing is lost.
            log.warning("could not release %d held-back record(s) of a failed message group", len(refused))
