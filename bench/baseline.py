"""The baseline: a plain exchangelib script, written the way exchangelib's documentation shows.

What an app would write without the pipeline (docs: "Setup and connecting", "Calendar items",
"Meetings", "Searching for availability"):

- one Configuration (service endpoint, credentials, `max_connections` as many as the threads,
  since exchangelib's pool holds one connection by default) and an Account per job, with
  impersonation, as a service account acting for each organiser does;
- a booking: `CalendarItem(account=a, folder=a.calendar, ...).save(
  send_meeting_invitations=SEND_TO_ALL_AND_SAVE_COPY)`;
- free/busy: `a.protocol.get_free_busy_info(accounts=[(account, "Required", False), ...],
  start=..., end=...)`.

bench/compare.py calls these functions side by side with the pipeline against one simulator.
Standalone, against a simulator of its own:

    python bench/baseline.py [--bookings 100] [--latency-ms 50] [--threads 16]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from exchangelib import (
    BASIC,
    IMPERSONATION,
    Account,
    CalendarItem,
    Configuration,
    Credentials,
    EWSDateTime,
    EWSTimeZone,
)
from exchangelib.items import SEND_TO_ALL_AND_SAVE_COPY

__all__ = [
    "BaselineRun",
    "book",
    "configuration",
    "free_busy",
    "run_bookings",
]

UTC = EWSTimeZone("UTC")


@dataclass(frozen=True)
class BaselineRun:
    """What one run of bookings took: wall seconds, and the bookings that raised."""

    bookings: int
    seconds: float
    errors: tuple[str, ...] = ()


def configuration(ews_url: str, username: str, password: str, *, max_connections: int = 16) -> Configuration:
    """The one Configuration of the script: the EWS URL, Basic credentials, a pool of connections."""
    return Configuration(service_endpoint=ews_url, credentials=Credentials(username, password),
                         auth_type=BASIC, max_connections=max_connections)


def _when(value: str | datetime) -> EWSDateTime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return EWSDateTime.from_datetime(moment).astimezone(UTC)


def book(config: Configuration, booking: Mapping[str, Any]) -> CalendarItem:
    """One booking (a job's kwargs in the pipeline's create_event shape), as the docs write it."""
    account = Account(primary_smtp_address=booking["mailbox"], config=config, autodiscover=False,
                      access_type=IMPERSONATION)
    item = CalendarItem(
        account=account,
        folder=account.calendar,
        start=_when(booking["start"]),
        end=_when(booking["end"]),
        subject=booking["subject"],
        body=booking.get("body", ""),
        required_attendees=[attendee["email"] for attendee in booking.get("required_attendees", [])],
        resources=list(booking.get("rooms", [])),
    )
    item.save(send_meeting_invitations=SEND_TO_ALL_AND_SAVE_COPY)
    return item


def run_bookings(config: Configuration, bookings: Sequence[Mapping[str, Any]], *,
                 threads: int = 16) -> BaselineRun:
    """Every booking on `threads` threads (one Account each); times the whole set."""
    errors: list[str] = []

    def one(booking: Mapping[str, Any]) -> None:
        try:
            book(config, booking)
        except Exception as exc:  # counted and reported: a benchmark run goes on
            errors.append(f"{booking['booking_key']}: {type(exc).__name__}: {exc}"[:300])

    started = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, bookings))
    return BaselineRun(len(bookings), time.monotonic() - started, tuple(errors))


def free_busy(config: Configuration, service_mailbox: str, mailboxes: Iterable[str],
              start: datetime, end: datetime) -> list[Any]:
    """Free/busy of every mailbox over [start, end), as the docs ask for it (one call)."""
    account = Account(primary_smtp_address=service_mailbox, config=config, autodiscover=False,
                      access_type=IMPERSONATION)
    accounts = [(Account(primary_smtp_address=mailbox, config=config, autodiscover=False,
                         access_type=IMPERSONATION), "Required", False) for mailbox in mailboxes]
    return list(account.protocol.get_free_busy_info(accounts=accounts, start=_when(start), end=_when(end)))


def main(argv: list[str] | None = None) -> int:
    from bench_support import SimulatorProcess
    from bookings_throughput import make_bookings

    from infra.demo import organisation as org

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bookings", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args(argv)
    seed = org.organisation()
    with tempfile.TemporaryDirectory() as folder:
        seed_file = Path(folder) / "seed.json"
        seed_file.write_text(json.dumps(seed))
        sim = SimulatorProcess(seed_file)
        try:
            sim.reset(seed, args.latency_ms)
            config = configuration(sim.ews_url, org.address("scheduler-imp"), org.PASSWORD,
                                   max_connections=args.threads)
            run_bookings(config, make_bookings("warm", 1, 1), threads=1)
            sim.control("DELETE", "requests")
            run = run_bookings(config, make_bookings("baseline", args.bookings, 50), threads=args.threads)
            requests = sim.request_counts()
        finally:
            sim.close()
    print(f"{run.bookings} bookings in {run.seconds:.2f} s: {run.bookings / run.seconds:.1f}/s at "
          f"{args.latency_ms:.0f} ms; EWS requests per booking {sum(requests.values()) / run.bookings:.2f} "
          f"({', '.join(f'{op} {n}' for op, n in sorted(requests.items()))}); errors {len(run.errors)}")
    for error in run.errors[:3]:
        print(f"  ! {error}")
    return 1 if run.errors else 0


if __name__ == "__main__":
    sys.exit(main())
