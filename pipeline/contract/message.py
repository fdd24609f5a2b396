"""The queue message envelope: a dramatiq message, so any language can enqueue a job as JSON."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from pipeline.contract.common import ContractModel

__all__ = ["JOBS_QUEUE", "MESSAGE_ID_MAX_LENGTH", "JobMessage"]

# The dramatiq queue every action listens on (the SQS FIFO queue carries it in the message too).
JOBS_QUEUE = "ews-jobs"
# A message id keys the job's record: longer ones are refused (dead-lettered), never truncated.
MESSAGE_ID_MAX_LENGTH = 128


class JobMessage(ContractModel):
    """A dramatiq message carrying one job; kwargs follow the actor's <action>.kwargs schema."""

    # dramatiq adds its own options (retries, pipe targets, ...); the envelope lets them through.
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "queue_name": JOBS_QUEUE,
                    "actor_name": "send_invite",
                    "args": [],
                    "kwargs": {
                        "integration_id": "acme-onprem",
                        "mailbox": "alice@example.com",
                        "booking_key": "interview-8841:slot-2",
                    },
                    "options": {},
                    "message_id": "0f9f5c1e-5d0b-4f6e-9a43-3c1f4b7f2a10",
                    "message_timestamp": 1793700000000,
                }
            ]
        }
    )

    queue_name: str = Field(min_length=1, description=f"The queue the actors listen on: {JOBS_QUEUE!r}.")
    actor_name: str = Field(description="The action to run (one of the published action names).")
    args: list[Any] = Field(max_length=0, description="Always empty: jobs take keyword arguments only.")
    kwargs: dict[str, Any] = Field(description="The action's kwargs (see <actor_name>.kwargs.schema.json).")
    options: dict[str, Any] = Field(default_factory=dict, description="dramatiq message options.")
    message_id: str = Field(
        min_length=1, max_length=MESSAGE_ID_MAX_LENGTH,
        description="Unique per job; the results table's key (a UUID).",
    )
    message_timestamp: int = Field(ge=0, description="Enqueue time, milliseconds since the Unix epoch.")
