"""Meeting actions on an event: cancel (organizer, with a comment), accept, decline,
tentativelyAccept (attendees) — each 202 Accepted without a body.

https://learn.microsoft.com/en-us/graph/api/event-cancel (an attendee gets 400 "You need to be an
organizer to cancel a meeting."; the event moves to Deleted Items),
https://learn.microsoft.com/en-us/graph/api/event-accept (comment, sendResponse default true).
"""

from __future__ import annotations

from infra.ewssim.models.calendar import cancel_meeting, respond
from infra.graphsim.context import GraphContext
from infra.graphsim.responses.events import delegate_of
from infra.graphsim.responses.lookup import find_event
from infra.graphsim.routes import WRITE, Answer, route

__all__: list[str] = []

_ANSWERS = {"accept": "Accept", "decline": "Decline", "tentativelyAccept": "Tentative"}


@route("POST", "/users/{user}/events/{event}/cancel", name="cancelEvent", roles=WRITE)
@route("POST", "/users/{user}/calendar/events/{event}/cancel", name="cancelEvent", roles=WRITE)
def cancel_event(ctx: GraphContext) -> Answer:
    mailbox, item = find_event(ctx, ctx.params["event"])
    comment = str(ctx.body_object().get("comment") or ctx.body_object().get("Comment") or "")
    cancel_meeting(ctx.service.backend, mailbox, item, save_copy=True, body=comment, by=delegate_of(ctx))
    return Answer(202)


def _answer(ctx: GraphContext, response: str) -> Answer:
    mailbox, item = find_event(ctx, ctx.params["event"])
    body = ctx.body_object()
    respond(
        ctx.service.backend,
        mailbox,
        item,
        response,
        send=bool(body.get("sendResponse", True)),
        body=str(body.get("comment") or ""),
        save_copy=True,
    )
    return Answer(202)


for _action, _response in _ANSWERS.items():

    def _handler(ctx: GraphContext, _response: str = _response) -> Answer:
        return _answer(ctx, _response)

    for _template in (
        f"/users/{{user}}/events/{{event}}/{_action}",
        f"/users/{{user}}/calendar/events/{{event}}/{_action}",
    ):
        route("POST", _template, name=f"{_action}Event", roles=WRITE)(_handler)
