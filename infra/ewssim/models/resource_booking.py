"""How a mailbox processes the meeting requests it receives: Exchange's Calendar Attendant and, for
resource mailboxes, the Resource Booking Attendant (Set-CalendarProcessing's AutomateProcessing,
https://learn.microsoft.com/en-us/powershell/module/exchange/set-calendarprocessing).

A room (AutoAccept by default) accepts a request when it is free for the meeting's time and declines
one that conflicts with a meeting it holds (AllowConflicts is off by default). The rest of the
resource's calendar processing (booking window, maximum duration, subject and body rewriting,
delegates and policies) is not modelled.
"""

from __future__ import annotations

from infra.ewssim.models.backend import EwsBackend
from infra.ewssim.models.directory import AutomateProcessing
from infra.ewssim.models.items import CalendarItem
from infra.ewssim.models.mailbox import Mailbox

__all__ = ["answer_of", "processing_of"]


def processing_of(backend: EwsBackend, smtp: str) -> AutomateProcessing:
    """The AutomateProcessing of a mailbox (AutoUpdate for an address outside the directory)."""
    principal = backend.directory.find(smtp)
    return principal.calendar_processing if principal is not None else AutomateProcessing.AUTO_UPDATE


def answer_of(mailbox: Mailbox, copy: CalendarItem) -> str:
    """The Resource Booking Attendant's answer to a meeting whose copy is in the resource's calendar:
    Decline when another meeting it holds overlaps it, else Accept."""
    if copy.start is None or copy.end is None:
        return "Accept"
    with mailbox.lock:
        held = list(mailbox.folder_of(copy).items.values())
    for other in held:
        if (
            isinstance(other, CalendarItem) and other.uid != copy.uid and not other.is_cancelled
            and other.legacy_free_busy_status != "Free" and other.start is not None and other.end is not None
            and other.start < copy.end and copy.start < other.end
        ):  # fmt: skip
            return "Decline"
    return "Accept"
