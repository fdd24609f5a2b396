"""getSchedule: free/busy of up to MAX_SCHEDULES mailboxes over at most MAX_WINDOW.

https://learn.microsoft.com/en-us/graph/api/calendar-getschedule: availabilityViewInterval 5-1440
minutes (default 30); times in Prefer: outlook.timezone (UTC without it). The availability view
uses 0 free, 1 tentative, 2 busy, 3 out of office; working elsewhere shows as 0
(https://learn.microsoft.com/en-us/graph/api/resources/scheduleinformation). An unknown address gets
its own scheduleInformation with an error (freeBusyError), not a failed request.
Limits: getSchedule "can support looking up free/busy information for up to 20 entities at once",
and "the time period to look up must be less than 62 days"
(https://learn.microsoft.com/en-us/graph/outlook-get-free-busy-schedule). Past them: 400.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from infra.ewssim.errors import EwsError
from infra.ewssim.models.availability import free_busy, merged_free_busy
from infra.ewssim.models.directory import WorkingHours
from infra.graphsim.context import GraphContext
from infra.graphsim.errors import GraphError
from infra.graphsim.models.times import format_local, parse_date_time_time_zone, windows_name
from infra.graphsim.responses.render import SHOW_AS
from infra.graphsim.routes import READ, Answer, route

__all__ = ["MAX_SCHEDULES", "MAX_WINDOW"]

MAX_SCHEDULES = 20
MAX_WINDOW = timedelta(days=62)


def _working_hours(hours: WorkingHours, zone: str) -> dict[str, Any]:
    return {
        "daysOfWeek": [d.lower() for d in hours.days],
        "startTime": hours.start.strftime("%H:%M:%S.0000000"),
        "endTime": hours.end.strftime("%H:%M:%S.0000000"),
        "timeZone": {"name": windows_name(zone)},
    }


@route("POST", "/users/{user}/calendar/getSchedule", name="getSchedule", roles=READ)
def get_schedule(ctx: GraphContext) -> Answer:
    body = ctx.body_object()
    schedules = body.get("schedules") or body.get("Schedules")
    if not isinstance(schedules, list) or not schedules or not all(isinstance(s, str) for s in schedules):
        raise GraphError(400, "ErrorInvalidParameter", "schedules must name at least one address.")
    try:
        start = parse_date_time_time_zone(body.get("startTime") or body.get("StartTime"))
        end = parse_date_time_time_zone(body.get("endTime") or body.get("EndTime"))
        interval = int(body.get("availabilityViewInterval", 30))
    except (ValueError, TypeError) as exc:
        raise GraphError(
            400, "ErrorInvalidParameter", "startTime and endTime must be dateTimeTimeZone values."
        ) from exc
    if len(schedules) > MAX_SCHEDULES:
        raise GraphError(
            400, "ErrorInvalidParameter", f"Too many schedules: at most {MAX_SCHEDULES} per request."
        )
    if end <= start:
        raise GraphError(400, "ErrorInvalidParameter", "endTime must be after startTime.")
    if end - start >= MAX_WINDOW:
        raise GraphError(
            400,
            "ErrorInvalidParameter",
            f"The time window must be shorter than {MAX_WINDOW.days} days.",
        )
    if not 5 <= interval <= 1440:
        raise GraphError(400, "ErrorInvalidParameter", "availabilityViewInterval must be between 5 and 1440.")
    backend = ctx.service.backend
    requester = ctx.caller.user or backend.directory.get(ctx.mailbox)
    zone = ctx.prefs.time_zone
    value = []
    for address in schedules:
        try:
            found = free_busy(backend, requester, address, start, end, True, full_access=ctx.caller.app_only)
        except EwsError as failure:
            value.append(
                {
                    "scheduleId": address,
                    "availabilityView": "",
                    "scheduleItems": [],
                    "error": {"message": failure.message, "responseCode": failure.code},
                }
            )
            continue
        view = merged_free_busy(found.events, start, end, timedelta(minutes=interval)).replace("4", "0")
        items = []
        for event in found.events:
            entry: dict[str, Any] = {
                "isPrivate": bool(event.details and event.details.is_private),
                "status": SHOW_AS.get(event.busy_type, "busy"),
                "start": format_local(event.start, zone),
                "end": format_local(event.end, zone),
            }
            if event.details is not None and event.details.subject is not None:
                entry["subject"] = event.details.subject
                entry["location"] = event.details.location or ""
            items.append(entry)
        value.append(
            {
                "scheduleId": address,
                "availabilityView": view,
                "scheduleItems": items,
                "workingHours": _working_hours(found.working_hours, found.principal.time_zone),
            }
        )
    context = f"{ctx.service.graph_url}/$metadata#Collection(microsoft.graph.scheduleInformation)"
    return Answer(200, {"@odata.context": context, "value": value}, returns="Collection(scheduleInformation)")
