"""The job record as upstream apps see it: what happened to a message, keyed by its message_id."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, Field

from pipeline.contract.common import ContractModel
from pipeline.errors import ErrorCode

__all__ = ["JobError", "JobItem", "JobOutcome", "JobStatus"]


class JobStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # permanent: will not be retried
    RETRYING = "retrying"  # a transient failure; the queue will deliver the message again

    @property
    def is_final(self) -> bool:
        """True once the job will never run again."""
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED)


class JobError(ContractModel):
    """Why the last attempt failed."""

    code: ErrorCode = Field(description="Stable error code; upstream apps act on this.")
    message: str = Field(description="Human-readable explanation; never contains secrets.")
    retryable: bool = Field(description="True when the failure is transient and will be retried.")


class JobOutcome(ContractModel):
    """The results-table record of one job message."""

    message_id: str = Field(description="The dramatiq message id the job was sent with.")
    actor_name: str = Field(description="The action, e.g. create_event.")
    integration_id: str | None = None
    mailbox: str | None = None
    status: JobStatus
    attempts: int = Field(ge=0, description="Deliveries that started running the job.")
    result: dict[str, Any] | None = Field(
        default=None, description="The action's result (its <action>.result schema) once succeeded."
    )
    error: JobError | None = Field(default=None, description="Set when the last attempt failed.")
    created_at: AwareDatetime = Field(description="First delivery.")
    started_at: AwareDatetime | None = Field(default=None, description="Start of the latest attempt.")
    updated_at: AwareDatetime
    finished_at: AwareDatetime | None = Field(default=None, description="When it succeeded or failed.")
    redrives: int = Field(
        default=0, ge=0, description="Times an operator sent the job again after it had failed."
    )


class JobItem(ContractModel):
    """The results-table item of one job (key `JOB#{message_id}` / `JOB`), attribute by attribute.

    This is what is stored; JobOutcome is the same record decoded (error grouped, result parsed),
    as pipeline.client returns it. schemas/job-record.schema.json is generated from this model.
    """

    pk: str = Field(description="JOB#{message_id}")
    sk: str = Field(description="Always JOB.")
    message_id: str
    actor_name: str
    integration_id: str | None = None
    mailbox: str | None = None
    status: JobStatus
    attempts: int = Field(ge=0)
    created_at: AwareDatetime
    started_at: AwareDatetime | None = None
    updated_at: AwareDatetime
    finished_at: AwareDatetime | None = None
    lease_expires_ms: int | None = Field(
        default=None, description="While running: when another delivery may take over (epoch ms)."
    )
    result: str | None = Field(
        default=None, description="The action's result as JSON text (its <action>.result schema)."
    )
    result_zlib: str | None = Field(
        default=None, description="A large result, zlib-compressed JSON (binary; base64 in JSON).",
        json_schema_extra={"contentEncoding": "base64"},
    )
    error_code: ErrorCode | None = None
    error_message: str | None = None
    error_retryable: bool | None = None
    expires_at: int = Field(description="TTL: when DynamoDB may delete the record (epoch seconds).")
    run_started_at: AwareDatetime | None = Field(
        default=None, description="When the current run's first attempt began (reset by a redrive)."
    )
    redrives: int | None = Field(default=None, ge=0, description="Times the job was redriven.")
