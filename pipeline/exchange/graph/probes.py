"""The check_connection steps on Graph: the endpoint, the credentials, the mailbox's calendar."""

from __future__ import annotations

from pipeline.errors import ErrorCode, PermanentError
from pipeline.exchange.graph.connection import GraphLive

__all__ = ["authenticate", "probe_calendar"]


def authenticate(live: GraphLive) -> str:
    """The token came from msal (the credentials work); one cheap request proves Graph takes it:
    the calendar of the logon the integration acts as (id only). Returns the API named by graph_url."""
    live.request("GET", f"{live.user(live.target.acting_as)}/calendar", "getCalendar",
                 mailbox=live.target.acting_as, params={"$select": "id"})
    return f"Microsoft Graph {live.root.rsplit('/', 1)[-1]}"


def probe_calendar(live: GraphLive) -> None:
    """GET the target's default calendar as the integration acts; canEdit says whether events can
    be written there (an app's Calendars.ReadWrite within its scope, or the user's own)."""
    calendar = live.request("GET", f"{live.user_path}/calendar", "getCalendar",
                            params={"$select": "id,canEdit"})
    if isinstance(calendar, dict) and calendar.get("canEdit") is False:
        raise PermanentError(
            ErrorCode.ACCESS_DENIED,
            f"{live.target.acting_as} cannot create events in the calendar of {live.target.mailbox}",
        )
