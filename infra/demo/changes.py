"""What the demo's people change in Outlook once the bookings are made.

- ada drags her booking of contoso-personal, whose integration locks appointments, two hours
  later: the pipeline must move it back;
- the booking service's own mailbox drags a booking of contoso-dedicated, whose integration
  auto-confirms, three hours later: the new time must become the booking's;
- the required attendee of the other contoso-dedicated booking declines it from their inbox;
- sam invites grace (whose calendar contoso-delegate watches) and a partner outside the company
  to a meeting of his own: not a booking, so a calendar sync must report it;
- ken drags his booking of contoso-cloud, the Graph integration, which locks appointments too,
  two hours later in Outlook on the web: the pipeline, told by a Graph change notification, must
  move it back through Graph.

Every change goes through `Outlook`, over EWS, or `OutlookWeb`, through Graph, as the mailbox's
owner.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from infra.demo import organisation as org
from infra.demo.outlook import Outlook
from infra.demo.outlook_web import OutlookWeb
from infra.ewssim import EwsSimulator
from pipeline.client import ResultsReader
from pipeline.contract.booking import BookingItem

__all__ = [
    "AUTO_CONFIRMED",
    "CLOUD_LOCKED",
    "DECLINED",
    "EXTERNAL_SUBJECT",
    "LOCKED",
    "BookingRef",
    "OutlookChanges",
    "change_in_outlook",
]


@dataclass(frozen=True)
class BookingRef:
    integration_id: str
    booking_key: str


LOCKED = BookingRef("contoso-personal", "demo-contoso-personal-0")
AUTO_CONFIRMED = BookingRef("contoso-dedicated", "demo-contoso-dedicated-0")
DECLINED = BookingRef("contoso-dedicated", "demo-contoso-dedicated-1")
CLOUD_LOCKED = BookingRef("contoso-cloud", "demo-contoso-cloud-0")
EXTERNAL_ORGANISER = "sam"
EXTERNAL_INVITEE = "grace"
EXTERNAL_GUEST = "partner@fabrikam.example"  # outside the directory: the server drops it
EXTERNAL_SUBJECT = "Hiring plan with Fabrikam"


@dataclass(frozen=True)
class OutlookChanges:
    """What was changed, for the report and the checks."""

    locked_owner: str
    locked_booked: tuple[datetime, datetime]  # the booked time, before anyone moved it
    locked_moved_to: tuple[datetime, datetime]
    auto_owner: str
    auto_moved_to: tuple[datetime, datetime]
    decliner: str
    declined_subject: str
    external_organiser: str
    external_invitee: str
    external_subject: str
    external_time: tuple[datetime, datetime]
    cloud_owner: str
    cloud_booked: tuple[datetime, datetime]
    cloud_moved_to: tuple[datetime, datetime]


def change_in_outlook(ews_url: str, cloud: EwsSimulator, results: ResultsReader,
                      week_start: datetime) -> OutlookChanges:
    """Make the five changes, each as the owner of the mailbox it happens in (`cloud`: the local
    Graph, for Outlook on the web)."""
    locked, auto, declined, cloud_locked = (_booking(results, ref)
                                            for ref in (LOCKED, AUTO_CONFIRMED, DECLINED, CLOUD_LOCKED))
    locked_booked, cloud_booked = _booked(locked), _booked(cloud_locked)
    external_start = week_start + timedelta(days=3, hours=10)
    external_time = (external_start, external_start + timedelta(minutes=30))
    with Outlook(ews_url, locked.calendar_mailbox, org.PASSWORD) as owner:
        locked_moved_to = owner.move(locked.item_id, timedelta(hours=2))
    with Outlook(ews_url, auto.calendar_mailbox, org.PASSWORD) as owner:
        auto_moved_to = owner.move(auto.item_id, timedelta(hours=3))
        meeting = owner.meeting(declined.item_id)
    decliner = meeting.required_attendees[0]
    with Outlook(ews_url, decliner, org.PASSWORD) as attendee:
        attendee.decline(meeting.subject)
    with Outlook(ews_url, org.address(EXTERNAL_ORGANISER), org.PASSWORD) as organiser:
        organiser.invite(EXTERNAL_SUBJECT, *external_time,
                         attendees=[org.address(EXTERNAL_INVITEE), EXTERNAL_GUEST])
    with OutlookWeb.sign_in(cloud, cloud_locked.calendar_mailbox) as owner:
        cloud_moved_to = owner.move(cloud_locked.item_id, timedelta(hours=2))
    return OutlookChanges(
        locked_owner=locked.calendar_mailbox, locked_booked=locked_booked,
        locked_moved_to=locked_moved_to, auto_owner=auto.calendar_mailbox, auto_moved_to=auto_moved_to,
        decliner=decliner, declined_subject=meeting.subject,
        external_organiser=org.address(EXTERNAL_ORGANISER), external_invitee=org.address(EXTERNAL_INVITEE),
        external_subject=EXTERNAL_SUBJECT, external_time=external_time,
        cloud_owner=cloud_locked.calendar_mailbox, cloud_booked=cloud_booked,
        cloud_moved_to=cloud_moved_to,
    )


def _booking(results: ResultsReader, ref: BookingRef) -> BookingItem:
    booking = results.booking(ref.integration_id, ref.booking_key)
    if booking is None or not booking.item_id:
        raise RuntimeError(f"{ref.booking_key} of {ref.integration_id} was not booked")
    return booking


def _booked(booking: BookingItem) -> tuple[datetime, datetime]:
    if booking.booked_start is None or booking.booked_end is None:
        raise RuntimeError(f"{booking.booking_key} has no booked time")
    return booking.booked_start, booking.booked_end
