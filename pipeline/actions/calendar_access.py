"""Opening the calendars an integration names (pipeline/calendar_settings.py) to read or to write.

What fetch_free_busy (busy calendars) and the booking actions (booking and additional booking
calendars) share: whose logon acts in a calendar, finding it, and the errors a shortfall gives.
Those are permanent and name the calendar (path or id, and its mailbox) and the permission it
needs: Reviewer to read busy time, Editor or Delegate to write bookings. The messages go to job
records; the job's log line leaves the mailbox addresses out (pipeline/observability.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pipeline.actions.context import ActionContext
from pipeline.calendar_settings import CalendarRef
from pipeline.errors import ErrorCode, PermanentError
from pipeline.exchange.base import READ_PERMISSION, WRITE_PERMISSION, ExchangeGateway
from pipeline.exchange.calendars import CalendarFolder
from pipeline.integrations import ConnectionMethod

__all__ = [
    "OpenCalendar",
    "calendar_errors",
    "calendar_gateway",
    "open_calendar",
]


@dataclass(frozen=True)
class OpenCalendar:
    """A calendar ready to act on: the gateway whose logon acts there, and its folder (None: the
    gateway target's default calendar, addressed without a lookup)."""

    gateway: ExchangeGateway
    owner: str
    folder: CalendarFolder | None
    description: str  # for error messages: "calendar 'Calendar/Interviews' of bob@example.com"
    label: str  # as configured, for results and booking copies
    lookups: int = 0  # requests that finding it took


def calendar_gateway(context: ActionContext, job_gateway: ExchangeGateway, owner: str) -> ExchangeGateway:
    """The gateway whose logon acts in `owner`'s calendars.

    The job's own, unless the calendar is in another mailbox and the method acts as a mailbox's
    owner (impersonation): then the one acting as that calendar's owner, as the service account
    may. A personal integration has only the job person's credentials; delegate and dedicated
    logons act in their own right everywhere.
    """
    personal = context.integration.connection_method is ConnectionMethod.PERSONAL
    if personal or owner.lower() == job_gateway.target.mailbox:
        return job_gateway
    return context.gateway(owner.lower())


def open_calendar(
    context: ActionContext,
    job_gateway: ExchangeGateway,
    ref: CalendarRef | None,
    default_owner: str,
    *,
    for_writing: bool,
) -> OpenCalendar:
    """Find the calendar `ref` names (None: the default calendar of `default_owner`) and check that
    the logon may read it (or, for_writing, write to it); raise the clear permanent error if not.

    The default calendar of the job gateway's own target is not looked up (no request), as before
    calendars could be configured; Exchange's own answer to the write then tells.
    """
    ref = ref or CalendarRef(path="Calendar")
    owner = ref.owner(default_owner)
    description = f"default calendar of {owner}" if ref.is_default_calendar else ref.describe(default_owner)
    if for_writing and ref.is_default_calendar and owner == job_gateway.target.mailbox:
        return OpenCalendar(job_gateway, owner, None, description, ref.label())
    gateway = calendar_gateway(context, job_gateway, owner)
    with calendar_errors(gateway, description, for_writing=for_writing):
        found = gateway.find_calendar(
            owner, path=ref.names, folder_id=ref.folder_id, for_writing=for_writing
        )
    if not (found.can_write if for_writing else found.can_read):
        raise denied(gateway, description, for_writing=for_writing)
    return OpenCalendar(gateway, owner, found, description, ref.label(), found.lookups)


@contextmanager
def calendar_errors(gateway: ExchangeGateway, description: str, *, for_writing: bool) -> Iterator[None]:
    """Exchange's refusals inside the block, restated to name the calendar and the permission."""
    permission = WRITE_PERMISSION if for_writing else READ_PERMISSION
    try:
        yield
    except PermanentError as refused:
        if refused.code is ErrorCode.ACCESS_DENIED:
            raise denied(gateway, description, for_writing=for_writing) from refused
        if refused.code is ErrorCode.CALENDAR_NOT_FOUND:
            raise PermanentError(
                ErrorCode.CALENDAR_NOT_FOUND,
                f"the {description} was not found ({refused.message}); check its path or id, and that "
                f"it is shared with {gateway.target.acting_as} ({permission})",
            ) from refused
        if refused.code is ErrorCode.UNKNOWN_MAILBOX:
            raise PermanentError(
                ErrorCode.UNKNOWN_MAILBOX, f"the mailbox of the {description} does not exist"
            ) from refused
        raise


def denied(gateway: ExchangeGateway, description: str, *, for_writing: bool) -> PermanentError:
    """ACCESS_DENIED naming the calendar and what the logon lacks there (the backend says what)."""
    reason = gateway.missing_access(description, for_writing=for_writing)
    return PermanentError(ErrorCode.ACCESS_DENIED, reason)
