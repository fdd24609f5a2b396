"""The check_connection steps that need EWS: prove the credentials, prove access to the mailbox."""

from __future__ import annotations

from exchangelib.folders import Calendar, Root
from exchangelib.properties import ENTRY_ID, EWS_ID, AlternateId
from exchangelib.services import ConvertId

from pipeline.errors import ErrorCode, PermanentError
from pipeline.exchange.ews.connection import LiveConnection

__all__ = ["authenticate", "probe_calendar"]


def authenticate(live: LiveConnection) -> str:
    """One cheap authenticated request (what exchangelib's version guess sends); returns the build."""
    dummy = AlternateId(id="DUMMY", format=EWS_ID, mailbox=live.target.acting_as)
    for answer in ConvertId(protocol=live.protocol).call([dummy], ENTRY_ID):
        # An id error is the expected answer: the request itself was authenticated and served.
        del answer
    return str(live.protocol.version.build)


def probe_calendar(live: LiveConnection) -> None:
    """GetFolder of the target calendar through the connection method; the bookings need write access.

    Exchange shows a calendar folder even to FreeBusyTimeOnly grantees, so reading it proves
    little: its EffectiveRights say whether events can be created there.
    """
    # A Root built locally (no request) lets exchangelib address the calendar directly: one GetFolder.
    calendar = Calendar.get_distinguished(root=Root(account=live.account))
    rights = calendar.effective_rights
    if rights is not None and not rights.create_contents:
        raise PermanentError(
            ErrorCode.ACCESS_DENIED,
            f"{live.target.acting_as} cannot create events in the calendar of {live.target.mailbox}",
        )
