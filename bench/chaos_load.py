"""The chaos benchmark's load: bookings and free/busy jobs, and the upstream app that sends them.

A booking is one job, create_event with send_invitations (PipelineClient.book), or with
`two_jobs` create_event | send_invite (PipelineClient.create_then_invite), the path of apps that
hold an event before inviting.

Bookings round-robin over the organisers (the first `mailboxes` staff members of the demo's
company), each inviting one other staff member and one room, in 30-minute slots of their own; the
subject names the booking key, so that invitations in inboxes can be told apart. A few bookings
(`invalid`) name an organiser who has no mailbox: their create_event fails for good
(UNKNOWN_MAILBOX), which is how the run shows failures recorded with their reason and an event.
Free/busy jobs ask about ten of the organisers each.

The Sender is the upstream app: it sends the load at an even pace over a given time, and when the
broker is down (a restart) it keeps trying the same message, with the same message id, as an app
must; the pipeline de-duplicates on that id.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import dramatiq

from infra.demo import organisation as org
from pipeline.client import PipelineClient
from pipeline.runtimes.broker import build_broker

__all__ = ["Booking", "Load", "Sender", "booking_jobs", "make_load", "sent_jobs"]

log = logging.getLogger(__name__)

FIRST_SLOT = datetime(2030, 1, 7, 9, tzinfo=UTC)
FREE_BUSY_MAILBOXES = 10
RESEND_PAUSE_S = 0.5


@dataclass(frozen=True)
class Booking:
    key: str
    organiser: str
    attendees: tuple[str, ...]  # whom its invitations go to (a person and a room)
    valid: bool  # False: the organiser has no mailbox, create_event must fail for good
    kwargs: dict[str, Any]

    @property
    def subject(self) -> str:
        return str(self.kwargs["subject"])


@dataclass(frozen=True)
class Load:
    """One runtime's jobs, before any is sent."""

    bookings: tuple[Booking, ...]
    free_busy: tuple[dict[str, Any], ...]

    @property
    def organisers(self) -> set[str]:
        return {booking.organiser for booking in self.bookings if booking.valid}

    @property
    def attendees(self) -> set[str]:
        return {attendee for booking in self.bookings for attendee in booking.attendees}


def make_load(tag: str, integration_id: str, *, bookings: int, mailboxes: int, invalid: int,
              free_busy: int) -> Load:
    staff = org.staff()
    organisers, people = staff[:mailboxes], staff[mailboxes:]
    rooms = [org.address(room) for building in org.ROOMS.values() for room in building]
    invalid_every = bookings // invalid if invalid else 0
    made = []
    for number in range(bookings):
        valid = not (invalid_every and number % invalid_every == invalid_every - 1)
        organiser = organisers[number % len(organisers)] if valid else org.address(f"ghost{number:05d}")
        attendees = (people[number % len(people)], rooms[number % len(rooms)])
        start = FIRST_SLOT + timedelta(minutes=30 * number)
        key = f"{tag}-{number:05d}"
        made.append(Booking(key, organiser, attendees, valid, {
            "integration_id": integration_id,
            "mailbox": organiser,
            "booking_key": key,
            "subject": f"Booking {key}",
            "body": "Chaos benchmark booking.",
            "start": start.isoformat(),
            "end": (start + timedelta(minutes=30)).isoformat(),
            "required_attendees": [{"email": attendees[0]}],
            "rooms": [attendees[1]],
        }))
    end = FIRST_SLOT + timedelta(minutes=30 * max(bookings, 1), days=1)
    lookups = tuple({
        "integration_id": integration_id,
        "mailboxes": [organisers[(n * FREE_BUSY_MAILBOXES + i) % len(organisers)]
                      for i in range(min(FREE_BUSY_MAILBOXES, len(organisers)))],
        "start": FIRST_SLOT.isoformat(),
        "end": min(end, FIRST_SLOT + timedelta(days=30)).isoformat(),
    } for n in range(free_busy))
    return Load(tuple(made), lookups)


def booking_jobs(client: PipelineClient, kwargs: dict[str, Any], *,
                 two_jobs: bool) -> tuple[list[dramatiq.Message[Any]], Callable[[], object]]:
    """A booking's messages, in pipeline order, and how to send it (again, with the same ids)."""
    make = getattr(client, "create_then_invite", client.book) if two_jobs else client.book
    made: Any = make(kwargs)
    if isinstance(made, dramatiq.pipeline):
        return list(made.messages), made.run
    return [made], lambda: client.send(made)


@dataclass
class Sent:
    """What the app has sent so far: message ids per booking (in pipeline order) and per lookup."""

    bookings: dict[str, tuple[str, ...]] = field(default_factory=dict)
    free_busy: list[str] = field(default_factory=list)
    resends: int = 0  # sends tried again after a broker error


def sent_jobs(sent: Sent, succeeded: Callable[[str], bool]) -> list[str]:
    """The jobs sent so far: every lookup, every booking's first job, and each next step of a
    booking whose previous step succeeded (the pipeline enqueues it only then)."""
    ids = list(sent.free_busy)
    for steps in list(sent.bookings.values()):
        for position, message_id in enumerate(steps):
            if position and not succeeded(steps[position - 1]):
                break
            ids.append(message_id)
    return ids


class Sender(threading.Thread):
    """Sends a runtime's load over `seconds`, interleaving lookups with bookings."""

    def __init__(self, runtime: str, broker_url: str, load: Load, seconds: float, *,
                 two_jobs: bool = False) -> None:
        super().__init__(name=f"sender-{runtime}", daemon=True)
        self.runtime = runtime
        self.broker_url = broker_url
        self.load = load
        self.seconds = seconds
        self.two_jobs = two_jobs
        self.sent = Sent()
        self.error: BaseException | None = None
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        try:
            self._send_all()
        except BaseException as error:  # reported by the benchmark
            log.exception("%s: the sender stopped", self.runtime)
            self.error = error

    def _send_all(self) -> None:
        broker = build_broker(self.broker_url, make_global=False)
        client = PipelineClient(broker)
        jobs: list[Booking | dict[str, Any]] = list(self.load.bookings)
        every = len(jobs) // len(self.load.free_busy) if self.load.free_busy else 0
        for number, lookup in enumerate(self.load.free_busy):
            jobs.insert(min(len(jobs), (number + 1) * every + number), lookup)
        pause = self.seconds / max(len(jobs), 1)
        started = time.monotonic()
        for number, job in enumerate(jobs):
            if self._stopping.wait(max(0.0, started + number * pause - time.monotonic())):
                return
            if isinstance(job, Booking):
                messages, send = booking_jobs(client, job.kwargs, two_jobs=self.two_jobs)
                self._until_sent(send)
                self.sent.bookings[job.key] = tuple(message.message_id for message in messages)
            else:
                message = client.message("fetch_free_busy", job)
                self._until_sent(lambda message=message: client.send(message))
                self.sent.free_busy.append(message.message_id)
        broker.close()

    def _until_sent(self, send: Any) -> None:
        while True:
            try:
                send()
                return
            except Exception as error:  # the broker is restarting: send the same message again
                self.sent.resends += 1
                log.info("%s: send failed (%s); sending again", self.runtime, type(error).__name__)
                if self._stopping.wait(RESEND_PAUSE_S):
                    raise
