"""Outlook on the web for the demo: a person changing their own calendar through Microsoft Graph.

`OutlookWeb.sign_in` stands in for the person's interactive sign-in: the simulator's control API
issues a refresh token for the user to the demo's "Outlook on the web" app registration, which
the token endpoint redeems for a delegated Graph token; every request then goes to `/me/...`, as
the user. Nothing here touches the simulator's models: the pipeline has to learn of the change
from the local Graph's change notifications, as it would in production.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from infra.ewssim import EwsSimulator

__all__ = ["OUTLOOK_WEB_APP", "OutlookWeb"]

# The client people sign in to, for the seed's `apps` (with no application permissions: a
# delegated token carries the user's own rights).
OUTLOOK_WEB_APP = {"client_id": "demo-outlook-web", "client_secret": "demo-owa-Secret-0",
                   "tenant_id": "contoso"}
_SCOPE = "https://graph.microsoft.com/Calendars.ReadWrite offline_access"
_GRAPH_TIME = "%Y-%m-%dT%H:%M:%S"


class OutlookWeb:
    """One person's browser session in Outlook on the web."""

    def __init__(self, graph_url: str, ca_file: str, token: str, smtp: str) -> None:
        self.graph_url = graph_url
        self.smtp = smtp
        self.session = requests.Session()
        self.session.verify = ca_file
        self.session.headers.update({"Authorization": f"Bearer {token}",
                                     "Prefer": 'outlook.timezone="UTC"'})

    @classmethod
    def sign_in(cls, cloud: EwsSimulator, smtp: str) -> OutlookWeb:
        """Sign `smtp` in to Outlook on the web against the local Graph `cloud`."""
        assert cloud.ca_file is not None, "the local Graph is served over TLS"
        app = OUTLOOK_WEB_APP
        refresh = cloud.issue_refresh_token(app["client_id"], smtp)
        answer = requests.post(cloud.token_url(app["tenant_id"]), timeout=30, verify=str(cloud.ca_file),
                               data={"grant_type": "refresh_token", "refresh_token": refresh, "scope": _SCOPE,
                                     "client_id": app["client_id"], "client_secret": app["client_secret"]})
        answer.raise_for_status()
        return cls(cloud.graph_url, str(cloud.ca_file), str(answer.json()["access_token"]), smtp)

    def move(self, event_id: str, by: timedelta) -> tuple[datetime, datetime]:
        """Drag an event of one's calendar `by` later; its new start and end. Graph sends the
        attendees the update itself (Outlook on the web offers no "don't send")."""
        event = self._call("GET", f"/me/events/{event_id}", params={"$select": "start,end"})
        start, end = (_utc(event[name]) + by for name in ("start", "end"))
        body = {name: {"dateTime": moment.strftime(_GRAPH_TIME), "timeZone": "UTC"}
                for name, moment in (("start", start), ("end", end))}
        self._call("PATCH", f"/me/events/{event_id}", json=body)
        return start, end

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        answer = self.session.request(method, f"{self.graph_url}{path}", timeout=30, **kwargs)
        answer.raise_for_status()
        return dict(answer.json()) if answer.content else {}

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> OutlookWeb:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _utc(value: dict[str, Any]) -> datetime:
    """A Graph dateTimeTimeZone asked for in UTC (Prefer: outlook.timezone="UTC")."""
    text = str(value["dateTime"])[:19]
    return datetime.strptime(text, _GRAPH_TIME).replace(tzinfo=UTC)
