"""The public job contract: every action's kwargs and result models, and the ACTIONS registry.

Action names live here and nowhere else; the dramatiq actors, the Lambda handler and the schema
export all read them from ACTIONS.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from pydantic import ValidationError

from pipeline.contract.cancel_event import CancelEventKwargs, CancelEventResult
from pipeline.contract.check_connection import CheckConnectionKwargs, CheckConnectionResult
from pipeline.contract.common import ContractModel, JobKwargs, MailboxJobKwargs
from pipeline.contract.create_event import CreateEventKwargs, CreateEventResult
from pipeline.contract.fetch_free_busy import FetchFreeBusyKwargs, FetchFreeBusyResult
from pipeline.contract.list_rooms import ListRoomsKwargs, ListRoomsResult
from pipeline.contract.message import JobMessage
from pipeline.contract.outcome import JobError, JobOutcome, JobStatus
from pipeline.contract.process_change import ProcessChangeKwargs, ProcessChangeResult
from pipeline.contract.renew_subscription import RenewSubscriptionKwargs, RenewSubscriptionResult
from pipeline.contract.send_invite import SendInviteKwargs, SendInviteResult
from pipeline.contract.subscribe_mailbox import SubscribeMailboxKwargs, SubscribeMailboxResult
from pipeline.contract.sync_calendar import SyncCalendarKwargs, SyncCalendarResult
from pipeline.contract.update_event import UpdateEventKwargs, UpdateEventResult
from pipeline.errors import ErrorCode, PermanentError

__all__ = [
    "ACTIONS",
    "ActionContract",
    "CancelEventKwargs",
    "CancelEventResult",
    "CheckConnectionKwargs",
    "CheckConnectionResult",
    "ContractModel",
    "CreateEventKwargs",
    "CreateEventResult",
    "FetchFreeBusyKwargs",
    "FetchFreeBusyResult",
    "JobError",
    "JobKwargs",
    "JobMessage",
    "JobOutcome",
    "JobStatus",
    "ListRoomsKwargs",
    "ListRoomsResult",
    "MailboxJobKwargs",
    "ProcessChangeKwargs",
    "ProcessChangeResult",
    "RenewSubscriptionKwargs",
    "RenewSubscriptionResult",
    "SendInviteKwargs",
    "SendInviteResult",
    "SubscribeMailboxKwargs",
    "SubscribeMailboxResult",
    "SyncCalendarKwargs",
    "SyncCalendarResult",
    "UpdateEventKwargs",
    "UpdateEventResult",
    "describe_validation_error",
    "parse_kwargs",
]


@dataclass(frozen=True)
class ActionContract:
    """One action's name (the dramatiq actor name), its models and a one-line description."""

    name: str
    kwargs_model: type[JobKwargs]
    result_model: type[ContractModel]
    description: str


_CONTRACTS = (
    ActionContract("fetch_free_busy", FetchFreeBusyKwargs, FetchFreeBusyResult,
                   "Busy intervals and working hours for many mailboxes over any window."),
    ActionContract("create_event", CreateEventKwargs, CreateEventResult,
                   "Save a booking's event in the right calendar, stamped with its key; with "
                   "send_invitations, invite in the same request (a booking in one job)."),
    ActionContract("send_invite", SendInviteKwargs, SendInviteResult,
                   "Send the meeting requests of a held event, at most once per attendee."),
    ActionContract("update_event", UpdateEventKwargs, UpdateEventResult,
                   "Change a booking's event, optionally notifying its attendees."),
    ActionContract("cancel_event", CancelEventKwargs, CancelEventResult,
                   "Cancel a booking's event, optionally notifying its attendees."),
    ActionContract("list_rooms", ListRoomsKwargs, ListRoomsResult,
                   "Room lists and their rooms."),
    ActionContract("subscribe_mailbox", SubscribeMailboxKwargs, SubscribeMailboxResult,
                   "Create a push subscription on a mailbox's calendar."),
    ActionContract("renew_subscription", RenewSubscriptionKwargs, RenewSubscriptionResult,
                   "Re-subscribe a stale subscription from its last watermark."),
    ActionContract("process_change", ProcessChangeKwargs, ProcessChangeResult,
                   "Apply the calendar changes a push notification reported."),
    ActionContract("check_connection", CheckConnectionKwargs, CheckConnectionResult,
                   "Prove an integration works, step by step."),
    ActionContract("sync_calendar", SyncCalendarKwargs, SyncCalendarResult,
                   "Report a calendar's events that are not bookings, then only what changed."),
)

ACTIONS: Mapping[str, ActionContract] = MappingProxyType({c.name: c for c in _CONTRACTS})

# Constraint values that describe the schema, never the input; anything else in an error's
# context (for example a rejected discriminator tag) could echo what the caller sent.
_SAFE_CONTEXT_KEYS = ("min_length", "max_length", "ge", "gt", "le", "lt", "expected", "max_days")


def describe_validation_error(exc: ValidationError) -> str:
    """Summarise a validation error by field path and error type, never by the rejected value."""
    failures = []
    for error in exc.errors(include_input=False, include_url=False):
        path = ".".join(str(part) for part in error["loc"]) or "(kwargs)"
        context = error.get("ctx") or {}
        limits = ", ".join(f"{key}={context[key]}" for key in _SAFE_CONTEXT_KEYS if key in context)
        failures.append(f"{path} ({error['type']}{': ' + limits if limits else ''})")
    return "; ".join(failures)


def parse_kwargs(actor_name: str, kwargs: Mapping[str, Any]) -> JobKwargs:
    """Validate a job's kwargs against its action's model.

    Raises PermanentError(UNKNOWN_ACTOR) for an unknown action and PermanentError(INVALID_KWARGS)
    naming each failing field and error type (values are left out: they may be secrets or PII).
    """
    contract = ACTIONS.get(actor_name)
    if contract is None:
        # The name comes from the envelope, not the kwargs; truncated in case it is junk.
        raise PermanentError(
            ErrorCode.UNKNOWN_ACTOR,
            f"unknown action {actor_name[:64]!r}; known actions: {', '.join(ACTIONS)}",
        )
    if not isinstance(kwargs, Mapping):
        raise PermanentError(ErrorCode.INVALID_KWARGS, f"{actor_name} kwargs must be a JSON object")
    try:
        return contract.kwargs_model.model_validate(dict(kwargs))
    except ValidationError as exc:
        summary = describe_validation_error(exc)
    # Raised outside the except block so the ValidationError (which holds the inputs) is not
    # chained onto the error that gets logged and recorded.
    raise PermanentError(ErrorCode.INVALID_KWARGS, f"invalid {actor_name} kwargs: {summary}")
