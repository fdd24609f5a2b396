"""Reading the items a push notification named: one GetItem for all of them, stamp included."""

from __future__ import annotations

from collections.abc import Sequence

from exchangelib import errors as ews
from exchangelib.folders import Calendar, Root
from exchangelib.services import GetItem

from pipeline.exchange.ews.booking_stamp import BOOKING_KEY_FIELD, COPY_OF_FIELD, LAST_UPDATE_FIELD
from pipeline.exchange.ews.connection import LiveConnection
from pipeline.exchange.ews.item_values import attendee_responses, plain_utc
from pipeline.exchange.push import ChangedItem

__all__ = ["calendar_folder_id", "read_changed_items"]

_FIELDS = (
    "is_cancelled", "parent_folder_id", "start", "end",
    "required_attendees", "optional_attendees", "resources", BOOKING_KEY_FIELD, LAST_UPDATE_FIELD,
    COPY_OF_FIELD,
)

class _GetChangedItems(GetItem):
    """GetItem that answers an item this logon may not read with its error, like a missing one.

    Plain GetItem raises ErrorAccessDenied for one item, failing the whole batch.
    """

    ERRORS_TO_CATCH_IN_RESPONSE = (*GetItem.ERRORS_TO_CATCH_IN_RESPONSE, ews.ErrorAccessDenied)


def read_changed_items(live: LiveConnection, item_ids: Sequence[str]) -> list[ChangedItem | None]:
    """One GetItem for every id, in input order; None where the item no longer exists."""
    if not item_ids:
        return []
    # A locally built calendar (no request) only validates the field names for exchangelib.
    calendar = Calendar(root=Root(account=live.account))
    found: list[ChangedItem | None] = []
    fields = {path for path in calendar.normalize_fields(fields=list(_FIELDS)) if not path.field.is_attribute}
    answers = _GetChangedItems(account=live.account).call(
        items=[(item_id, None) for item_id in item_ids], additional_fields=fields, shape="IdOnly"
    )
    for answer in answers:
        if isinstance(answer, ews.ErrorItemNotFound | ews.ErrorAccessDenied):
            # Hard-deleted, or moved where this logon cannot read it (a delegate of the calendar
            # has no rights on Deleted Items): one unreadable item must not fail the others.
            found.append(None)
            continue
        if isinstance(answer, Exception):
            raise answer  # the connector maps it to a PipelineError
        parent = getattr(answer, "parent_folder_id", None)
        found.append(
            ChangedItem(
                item_id=answer.id,
                change_key=answer.changekey,
                booking_key=getattr(answer, BOOKING_KEY_FIELD, None),
                is_cancelled=bool(getattr(answer, "is_cancelled", False)),
                parent_folder_id=parent.id if parent is not None else None,
                start=plain_utc(getattr(answer, "start", None)),
                end=plain_utc(getattr(answer, "end", None)),
                attendees=attendee_responses(answer),
                last_update=getattr(answer, LAST_UPDATE_FIELD, None),
                is_copy=getattr(answer, COPY_OF_FIELD, None) is not None,
            )
        )
    return found


def calendar_folder_id(live: LiveConnection) -> str:
    """The target calendar's folder id (one GetFolder): tells a move out of it from a move within."""
    return str(Calendar.get_distinguished(root=Root(account=live.account)).id)
