"""Job records: claimed by one delivery at a time through conditional writes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from pipeline.errors import ErrorCode, PermanentError, RetryableError
from pipeline.events.models import PipelineEvent
from pipeline.store.base import JobFinished
from pipeline.store.dynamodb.events import event_items
from pipeline.store.dynamodb.items import encode_result, epoch_ms, iso, job_from_item
from pipeline.store.dynamodb.keys import TTL_ATTRIBUTE, job_key
from pipeline.store.dynamodb.table import ConditionFailed, Item, TableClient, TransactUpdate
from pipeline.store.records import JobCompletion, JobRecord, JobStatus

__all__ = ["JobTable"]

# How many times begin_job looks at a record that other deliveries keep changing before it lets
# this delivery retry later.
_BEGIN_ATTEMPTS = 4


def _lease_ms(item: Item) -> int | None:
    """When a running job's lease ends (epoch ms); None for a record without one."""
    lease: int | None = item.get("lease_expires_ms")
    return lease


def _not_running(message_id: str, current: Item | None) -> PermanentError:
    """The error for a job another delivery took over (`current`: its record as it is now)."""
    state = "missing" if current is None else current.get("status", "missing")
    return PermanentError(ErrorCode.DUPLICATE_DELIVERY,
                          f"job {message_id} is {state}, not running: another delivery took it over")


class JobTable:
    """The job half of ResultsStore (see its docstrings for the contract)."""

    def __init__(self, table: TableClient, ttl: timedelta, lease: timedelta) -> None:
        self.table = table
        self.job_ttl = ttl
        self.job_lease = lease

    def _expires_at(self, now: datetime) -> int:
        return int((now + self.job_ttl).timestamp())

    def begin_job(self, message_id: str, actor_name: str, integration_id: str | None,
                  mailbox: str | None, now: datetime) -> JobRecord:
        key = job_key(message_id)
        lease_ms = epoch_ms(now + self.job_lease)
        item: dict[str, Any] = {
            **key, "message_id": message_id, "actor_name": actor_name, "status": JobStatus.RUNNING.value,
            "attempts": 1, "created_at": iso(now), "started_at": iso(now), "updated_at": iso(now),
            "run_started_at": iso(now),
            "lease_expires_ms": lease_ms, TTL_ATTRIBUTE: self._expires_at(now),
        }
        item.update({k: v for k, v in (("integration_id", integration_id), ("mailbox", mailbox)) if v})
        try:
            self.table.put(item, condition="attribute_not_exists(pk)", return_old=True)
            return job_from_item(item)
        except ConditionFailed as exists:
            current = exists.old
        # A redelivery. The failed put returned the record as it is, so each way on is one
        # conditional write, decided here and made safe by its condition: another delivery that
        # changes the record meanwhile fails it, and the record it returns is looked at again.
        for _ in range(_BEGIN_ATTEMPTS):
            if current is None:  # gone since (expired): a first delivery again
                try:
                    self.table.put(item, condition="attribute_not_exists(pk)", return_old=True)
                    return job_from_item(item)
                except ConditionFailed as exists:
                    current = exists.old
                    continue
            record = job_from_item(current)
            try:
                if record.status is JobStatus.FAILED:
                    return self._redrive(key, now, lease_ms)
                lease = _lease_ms(current)
                if record.status is JobStatus.RETRYING or (
                    record.status is JobStatus.RUNNING and lease is not None and lease < epoch_ms(now)
                ):
                    return self._take_over(key, now, lease_ms)
            except ConditionFailed as changed:
                current = changed.old
                continue
            if record.status is JobStatus.SUCCEEDED:
                raise JobFinished(record)
            wait_ms = None if lease is None else max(0, lease - epoch_ms(now))
            raise RetryableError(ErrorCode.DUPLICATE_DELIVERY,
                                 f"job {message_id} is being run by another delivery", delay_ms=wait_ms)
        raise RetryableError(ErrorCode.DUPLICATE_DELIVERY,
                             f"job {message_id} kept changing under other deliveries")

    def _take_over(self, key: Mapping[str, str], now: datetime, lease_ms: int) -> JobRecord:
        """Run a retrying job again, or a running one whose lease ran out (its worker died)."""
        return job_from_item(self.table.update(
            key,
            "SET #status = :running, attempts = attempts + :one, started_at = :now, "
            "updated_at = :now, lease_expires_ms = :lease, #ttl = :ttl "
            "REMOVE error_code, error_message, error_retryable",
            condition="#status = :retrying OR (#status = :running AND lease_expires_ms < :now_ms)",
            names={"#status": "status", "#ttl": TTL_ATTRIBUTE},
            values={":running": JobStatus.RUNNING.value, ":retrying": JobStatus.RETRYING.value,
                    ":one": 1, ":now": iso(now), ":lease": lease_ms, ":now_ms": epoch_ms(now),
                    ":ttl": self._expires_at(now)},
            return_old=True,
        ))

    def _redrive(self, key: Mapping[str, str], now: datetime, lease_ms: int) -> JobRecord:
        """An operator sent a job that failed for good again: a new run begins."""
        return job_from_item(self.table.update(
            key,
            "SET #status = :running, attempts = :one, started_at = :now, run_started_at = :now, "
            "updated_at = :now, lease_expires_ms = :lease, #ttl = :ttl "
            "ADD redrives :one REMOVE error_code, error_message, error_retryable, finished_at",
            condition="#status = :failed",
            names={"#status": "status", "#ttl": TTL_ATTRIBUTE},
            values={":running": JobStatus.RUNNING.value, ":failed": JobStatus.FAILED.value,
                    ":one": 1, ":now": iso(now), ":lease": lease_ms, ":ttl": self._expires_at(now)},
            return_old=True,
        ))

    def complete_job(self, message_id: str, result: dict[str, Any], now: datetime) -> JobRecord:
        done = self.completion(JobCompletion(message_id, result, now))
        try:
            return job_from_item(self.table.update(
                done.key, done.expression, condition=done.condition, names=done.names,
                values=done.values, return_old=True,
            ))
        except ConditionFailed as refused:
            raise done.refused(refused.old) from None

    def completion(self, done: JobCompletion) -> TransactUpdate:
        """The job's success as an update to write in another write's transaction; its condition
        (the job is still running) failing raises DUPLICATE_DELIVERY, as complete_job does."""
        encoded = encode_result(done.result)
        # Placeholders for the names too: RESULT is a DynamoDB reserved word.
        assignments = ", ".join(f"#{name} = :{name}" for name in encoded)
        return TransactUpdate(
            key=job_key(done.message_id),
            expression=f"SET #status = :succeeded, {assignments}, updated_at = :now, finished_at = :now "
            "REMOVE lease_expires_ms, error_code, error_message, error_retryable",
            condition="#status = :running",
            names={"#status": "status", **{f"#{name}": name for name in encoded}},
            values={":succeeded": JobStatus.SUCCEEDED.value, ":running": JobStatus.RUNNING.value,
                    ":now": iso(done.now), **{f":{name}": value for name, value in encoded.items()}},
            refused=lambda current: _not_running(done.message_id, current),
        )

    def fail_job(self, message_id: str, code: ErrorCode, message: str, retryable: bool,
                 now: datetime, *, actor_name: str | None = None,
                 events: Sequence[PipelineEvent] = ()) -> JobRecord:
        status = JobStatus.RETRYING if retryable else JobStatus.FAILED
        finished = "" if retryable else ", finished_at = :now"
        expression = (
            "SET #status = :status, error_code = :code, error_message = :message, "
            "error_retryable = :retryable, updated_at = :now" + finished + ", "
            "message_id = if_not_exists(message_id, :message_id), "
            "actor_name = if_not_exists(actor_name, :actor_name), "
            "created_at = if_not_exists(created_at, :now), attempts = if_not_exists(attempts, :zero), "
            "#ttl = if_not_exists(#ttl, :ttl) REMOVE lease_expires_ms"
        )
        condition = "attribute_not_exists(pk) OR #status = :running"
        names = {"#status": "status", "#ttl": TTL_ATTRIBUTE}
        values = {":status": status.value, ":code": code.value, ":message": message,
                  ":retryable": retryable, ":now": iso(now), ":message_id": message_id,
                  ":actor_name": actor_name or "", ":zero": 0, ":ttl": self._expires_at(now),
                  ":running": JobStatus.RUNNING.value}
        try:
            if not events:
                return job_from_item(self.table.update(
                    job_key(message_id), expression, condition=condition, names=names, values=values,
                    return_old=True))
            # The job.failed event and the failure it reports: one transaction, then one read
            # (transactions return no item), only on this rare path.
            self.table.update_and_put(job_key(message_id), expression, event_items(events),
                                      condition=condition, names=names, values=values)
        except ConditionFailed as refused:
            raise _not_running(message_id, refused.old) from None
        record = self.get_job(message_id)
        if record is None:  # written a moment ago, and reads are strongly consistent
            raise _not_running(message_id, None)
        return record

    def get_job(self, message_id: str) -> JobRecord | None:
        item = self.table.get(job_key(message_id))
        return None if item is None else job_from_item(item)
