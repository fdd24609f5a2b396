"""sync_calendar: tell the app about a mailbox's calendar events that are not bookings.

EWS SyncFolderItems on the mailbox's calendar, one request per page. The first run (no recorded
state) pages through every existing item; later runs get only what changed since the state the
last page left. Each page's events and the state after it are written in one transaction, so a
job that dies between pages resumes where its last page ended, and reports nothing twice.

Items stamped with a booking key are the pipeline's own bookings: booking.* events report them
(process_change), so the sync skips them. Every other item becomes calendar.event_changed (id,
times, free/busy status, privacy, organiser and attendees where permissions allow; the subject
only where show_event_titles allows, and never a private item's) or calendar.event_deleted.

Exchange can refuse a recorded state (ErrorInvalidSyncStateData): the sync then starts over, and
the app hears about every existing event again (same event ids for unchanged items).
"""

from __future__ import annotations

from pipeline.actions.context import ActionContext
from pipeline.contract import SyncCalendarKwargs, SyncCalendarResult
from pipeline.errors import ErrorCode, PermanentError
from pipeline.events.models import (
    CalendarAttendee,
    CalendarEventChangedData,
    CalendarEventDeletedData,
    PipelineEvent,
)
from pipeline.exchange.calendar_items import CalendarItemSnapshot, CalendarSyncChange, SyncChangeKind

__all__ = ["sync_calendar"]


def sync_calendar(context: ActionContext, kwargs: SyncCalendarKwargs) -> SyncCalendarResult:
    """Report the calendar's changes since the last sync (everything, the first time)."""
    integration_id = context.integration.integration_id
    record = context.store.begin_calendar_sync(integration_id, kwargs.mailbox)
    state = None if kwargs.restart else record.sync_state
    restarted = state is None
    gateway = context.gateway(kwargs.mailbox)
    counts = {"changed": 0, "deleted": 0, "skipped": 0}
    pages = 0
    while True:
        try:
            page = gateway.sync_calendar(state, kwargs.page_size)
        except PermanentError as refused:
            if refused.code is not ErrorCode.SYNC_STATE_INVALID or state is None:
                raise
            state, restarted = None, True  # start over once; a fresh sync has no state to refuse
            continue
        pages += 1
        events = [event for change in page.changes
                  if (event := _event_for(context, kwargs.mailbox, change, counts)) is not None]
        if page.includes_last_item or pages >= kwargs.max_pages:
            break
        context.store.save_calendar_sync(
            integration_id, kwargs.mailbox, page.sync_state, context.now(), events
        )
        context.written(events)
        state = page.sync_state
    # The job's last write: the state, the last page's events and the job's success together.
    result = context.finish(
        _result(counts, pages, page.includes_last_item, restarted),
        lambda done: context.store.save_calendar_sync(
            integration_id, kwargs.mailbox, page.sync_state, context.now(), events, completes=done),
    )
    context.written(events)
    return result


def _result(counts: dict[str, int], pages: int, complete: bool, restarted: bool) -> SyncCalendarResult:
    return SyncCalendarResult(
        changed=counts["changed"], deleted=counts["deleted"], bookings_skipped=counts["skipped"],
        pages=max(pages, 1), complete=complete, restarted=restarted,
    )


def _event_for(
    context: ActionContext, mailbox: str, change: CalendarSyncChange, counts: dict[str, int]
) -> PipelineEvent | None:
    if change.kind is SyncChangeKind.DELETED:
        # Only the id is left; a booking's deletion is process_change's to report.
        if context.store.find_booking_by_item_id(context.integration.integration_id, change.item_id):
            counts["skipped"] += 1
            return None
        counts["deleted"] += 1
        return context.event(CalendarEventDeletedData(mailbox=mailbox, item_id=change.item_id),
                             cause=f"deleted|{change.item_id}")
    item = change.item
    if item is None:
        return None
    if item.booking_key is not None:
        counts["skipped"] += 1
        return None
    counts["changed"] += 1
    # Caused by the item's version: a sync started over reports an unchanged item under the same id.
    return context.event(_changed(context, mailbox, item), cause=f"changed|{item.item_id}|{item.change_key}")


def _changed(context: ActionContext, mailbox: str, item: CalendarItemSnapshot) -> CalendarEventChangedData:
    show_subject = context.integration.show_event_titles and not item.is_private
    return CalendarEventChangedData(
        mailbox=mailbox,
        item_id=item.item_id,
        start=item.start,
        end=item.end,
        free_busy_status=item.free_busy_status,
        is_private=item.is_private,
        subject=item.subject if show_subject else None,
        organizer=item.organizer,
        attendees=[CalendarAttendee(email=a.email, response=a.response) for a in item.attendees],
    )
