"""PipelineClient: how a Python upstream app enqueues ews-pipeline jobs with dramatiq's own API.

    client = PipelineClient(broker)
    client.send(client.book({"integration_id": "acme", "mailbox": "alice@example.com", ...}))
    client.send(client.message("cancel_event", {...}))

A booking is one job (`book`: create_event with send_invitations, one CreateItem that creates the
event and invites everyone). An app that holds an event before inviting sends create_event alone
(`message("create_event", ...)`) and later `invite(...)`, or both at once as a pipeline
(`create_then_invite`).

Messages are built by actor name, so the app needs no actors declared and no Runtime: the
workers own the actors. Every kwargs is validated against its action's contract model first, so
a bad job fails in the app, not in the queue. Apps in other languages send the same JSON
(docs/job-messages.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import dramatiq
from pydantic import ValidationError

from pipeline.config import PipelineConfig
from pipeline.contract import (
    ACTIONS,
    CreateEventKwargs,
    JobKwargs,
    describe_validation_error,
)
from pipeline.contract.booking import BookingItem
from pipeline.contract.message import JOBS_QUEUE
from pipeline.contract.outcome import JobOutcome
from pipeline.store.base import ResultsStore
from pipeline.store.factory import get_store

__all__ = ["JOBS_QUEUE", "InvalidJob", "PipelineClient", "ResultsReader"]


class InvalidJob(ValueError):
    """The kwargs fail the action's model; the message names the fields, never their values."""


class PipelineClient:
    """Builds (and optionally sends) job messages on one broker."""

    def __init__(self, broker: dramatiq.Broker, *, queue_name: str = JOBS_QUEUE) -> None:
        self.broker = broker
        self.queue_name = queue_name
        broker.declare_queue(queue_name)

    def message(
        self,
        action: str,
        kwargs: JobKwargs | Mapping[str, Any],
        *,
        message_id: str | None = None,
        **options: Any,
    ) -> dramatiq.Message[Any]:
        """A job message for `action` with validated kwargs (`options` are dramatiq options)."""
        contract = ACTIONS.get(action)
        if contract is None:
            raise InvalidJob(f"unknown action {action!r}; known actions: {', '.join(ACTIONS)}")
        if isinstance(kwargs, JobKwargs):
            if not isinstance(kwargs, contract.kwargs_model):
                expected = contract.kwargs_model.__name__
                raise InvalidJob(f"{action} takes {expected}, not {type(kwargs).__name__}")
            model = kwargs
        else:
            try:
                model = contract.kwargs_model.model_validate(dict(kwargs))
            except ValidationError as exc:
                raise InvalidJob(f"invalid {action} kwargs: {describe_validation_error(exc)}") from None
        return dramatiq.Message(
            queue_name=self.queue_name,
            actor_name=action,
            args=(),
            kwargs=model.model_dump(mode="json", exclude_defaults=True),
            options=dict(options),
            message_id=message_id or str(uuid.uuid4()),
        )

    def book(
        self, kwargs: CreateEventKwargs | Mapping[str, Any], *, message_id: str | None = None
    ) -> dramatiq.Message[Any]:
        """A booking in one job: create_event with send_invitations, whose one CreateItem saves the
        event and sends its invitations. Enqueue it with `send`."""
        if isinstance(kwargs, CreateEventKwargs):
            kwargs = kwargs.model_copy(update={"send_invitations": True})
        else:
            kwargs = {**kwargs, "send_invitations": True}
        return self.message("create_event", kwargs, message_id=message_id)

    def invite(
        self, booking: CreateEventKwargs | Mapping[str, Any], *, message_id: str | None = None,
        **options: Any,
    ) -> dramatiq.Message[Any]:
        """The send_invite job for a held booking, named by its integration_id, mailbox and
        booking_key (create_event's kwargs will do)."""
        fields = booking.model_dump() if isinstance(booking, CreateEventKwargs) else booking
        kwargs = {name: fields.get(name) for name in ("integration_id", "mailbox", "booking_key")}
        return self.message("send_invite", kwargs, message_id=message_id, **options)

    def create_then_invite(
        self, kwargs: CreateEventKwargs | Mapping[str, Any], *, message_id: str | None = None
    ) -> dramatiq.pipeline:
        """A booking in two jobs: create_event (held, unsent) piped to send_invite.

        send_invite ignores create_event's result (pipe_ignore) and names the booking itself, so
        the raw messages stay readable by any language. Call `.run()` on it to enqueue.
        """
        create = self.message("create_event", kwargs, message_id=message_id)
        if create.kwargs.get("send_invitations"):
            raise InvalidJob("create_then_invite holds the event for send_invite: leave send_invitations out")
        invite = self.invite(create.kwargs, pipe_ignore=True)
        return dramatiq.pipeline([create, invite], broker=self.broker)

    def send(self, message: dramatiq.Message[Any], *, delay_ms: int | None = None) -> dramatiq.Message[Any]:
        """Enqueue one message; its message_id is the job's key in the results table."""
        return self.broker.enqueue(message, delay=delay_ms)


class ResultsReader:
    """Reads what became of jobs and bookings, typed, from the results table.

        reader = ResultsReader.from_config(PipelineConfig(table_name="ews-pipeline-results"))
        outcome = reader.job(message.message_id)      # JobOutcome, or None while not yet seen
        booking = reader.booking("acme", "interview-8841:slot-2")  # BookingItem, or None

    Apps in other languages read the same items with a DynamoDB GetItem: docs/results.md gives
    the key layout, and schemas/job-record.schema.json and booking-record.schema.json each item.
    """

    def __init__(self, store: ResultsStore) -> None:
        self.store = store

    @classmethod
    def from_config(cls, config: PipelineConfig) -> ResultsReader:
        """A reader on the table `config` names (AWS credentials from the environment)."""
        return cls(get_store(config))

    def job(self, message_id: str) -> JobOutcome | None:
        """The job's outcome so far; None until a worker has seen its message."""
        record = self.store.get_job(message_id)
        return None if record is None else record.to_outcome()

    def booking(self, integration_id: str, booking_key: str) -> BookingItem | None:
        """The booking as the table holds it: state, times booked and now, responses, classes."""
        return self.store.get_booking_item(integration_id, booking_key)
