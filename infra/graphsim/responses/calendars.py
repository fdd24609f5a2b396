"""Calendars: the default calendar (the backend's connection check), the list, one by id.
https://learn.microsoft.com/en-us/graph/api/calendar-get, .../user-list-calendars."""

from __future__ import annotations

from infra.ewssim.models.access import folder_access
from infra.graphsim.context import GraphContext
from infra.graphsim.responses.lookup import calendar_folder, calendar_folders
from infra.graphsim.responses.render import calendar_json
from infra.graphsim.routes import READ, Answer, route

__all__: list[str] = []


def _can_edit(ctx: GraphContext) -> bool:
    if ctx.caller.user is None:
        return "Calendars.ReadWrite" in ctx.caller.roles
    return folder_access(ctx.service.backend, ctx.caller.user, ctx.mailbox, "calendar").can_write_items()


def _owner(ctx: GraphContext) -> str:
    found = ctx.service.backend.directory.find(ctx.mailbox)
    return found.display_name if found is not None else ctx.mailbox


@route("GET", "/users/{user}/calendar", name="getCalendar", roles=READ)
@route("GET", "/users/{user}/calendars/{calendar}", name="getCalendar", roles=READ)
def get_calendar(ctx: GraphContext) -> Answer:
    folder = calendar_folder(ctx, ctx.params.get("calendar"))
    body = calendar_json(
        folder, _owner(ctx), default=folder.distinguished_id == "calendar", can_edit=_can_edit(ctx)
    )
    return Answer(200, body, returns="calendar")


@route("GET", "/users/{user}/calendars", name="listCalendars", roles=READ)
def list_calendars(ctx: GraphContext) -> Answer:
    owner, edit = _owner(ctx), _can_edit(ctx)
    value = [
        calendar_json(f, owner, default=f.distinguished_id == "calendar", can_edit=edit)
        for f in calendar_folders(ctx)
    ]
    return Answer(200, {"value": value}, returns="Collection(calendar)")
