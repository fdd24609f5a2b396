"""Finding a request's calendar and event in the shared mailbox model (404s as Graph answers)."""

from __future__ import annotations

from datetime import UTC, datetime

from infra.ewssim.models.items import CalendarItem, is_well_formed_id
from infra.ewssim.models.mailbox import Folder, Mailbox
from infra.graphsim.context import GraphContext
from infra.graphsim.errors import GraphError
from infra.graphsim.models.ids import ews_id

__all__ = ["calendar_folder", "calendar_folders", "find_event", "mailbox_of", "not_found", "query_time"]


def not_found() -> GraphError:
    return GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")


def mailbox_of(ctx: GraphContext) -> Mailbox:
    return ctx.service.backend.mailbox(ctx.mailbox)


def calendar_folder(ctx: GraphContext, calendar_id: str | None = None) -> Folder:
    """The default calendar, or the calendar folder with this Graph id, of the request's mailbox."""
    mailbox = mailbox_of(ctx)
    if calendar_id is None:
        return mailbox.folder("calendar")
    folder_id = ews_id(calendar_id)
    if not mailbox.owns_folder(folder_id):
        raise not_found()
    folder = mailbox.folder(folder_id)
    if not folder.is_calendar:
        raise not_found()
    return folder


def calendar_folders(ctx: GraphContext) -> list[Folder]:
    """Every calendar of the mailbox, the default one first."""
    mailbox = mailbox_of(ctx)
    default = mailbox.folder("calendar")
    return [default, *(f for f in mailbox.all_folders() if f.is_calendar and f is not default)]


def find_event(ctx: GraphContext, event_id: str) -> tuple[Mailbox, CalendarItem]:
    """The event with this Graph id in the request's mailbox (Deleted Items included, the
    dumpster not), 400 ErrorInvalidIdMalformed for text that is no id, 404 ErrorItemNotFound."""
    item_id = ews_id(event_id)
    if not is_well_formed_id(item_id):
        raise GraphError(400, "ErrorInvalidIdMalformed", "Id is malformed.")
    found = ctx.service.backend.locate_item(item_id)
    if found is None:
        raise not_found()
    mailbox, item = found
    if (
        mailbox.smtp != ctx.mailbox
        or not isinstance(item, CalendarItem)
        or item.folder_id == mailbox.folder("recoverableitemsdeletions").folder_id
    ):
        raise not_found()
    return mailbox, item


def query_time(ctx: GraphContext, name: str) -> datetime:
    """startDateTime / endDateTime of a calendarView (ISO 8601; no offset means UTC)."""
    text = next((v for k, v in ctx.query.items() if k.lower() == name.lower()), None)
    if not text:
        raise GraphError(
            400,
            "ErrorInvalidParameter",
            "This request requires a time window specified by the query string parameters StartDateTime and "
            "EndDateTime.",
        )
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise GraphError(400, "ErrorInvalidParameter", f"{name} is not a valid date and time.") from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
