"""Throughput of the EWS simulator: GetUserAvailability (10 mailboxes) and CreateItem.

The simulator runs as its own process (the command), so that it does not share a GIL with the
clients. Two measurements per operation:

- exchangelib: exchangelib clients on several threads (in one or more processes), end to end.
  On a 2-core machine this is bound by exchangelib's own CPU (it parses every response byte by
  byte), not by the simulator.
- replay: the exact request bytes exchangelib produced for the same call, POSTed by plain
  keep-alive HTTP clients, so that the figure is the simulator's own capacity.

Rates are counted by the clients and cross-checked against the simulator's request counts.

    python bench/ewssim_throughput.py [--threads 8] [--processes 2] [--seconds 5]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import multiprocessing
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from exchangelib import (
    DELEGATE,
    Account,
    Build,
    CalendarItem,
    Configuration,
    Credentials,
    EWSDateTime,
    EWSTimeZone,
    FailFast,
    Version,
)
from exchangelib.properties import FreeBusyViewOptions, MailboxData, TimeWindow, TimeZone
from exchangelib.services import CreateItem, GetUserAvailability

ROOT = Path(__file__).resolve().parents[1]
DOMAIN = "bench.example.com"
USERS = [f"user{i:02d}" for i in range(1, 11)]
PASSWORD = "bench-Secret-1"
VERSION = Version(build=Build(15, 2, 1118, 7))


def seed() -> dict[str, Any]:
    return {"users": [{"smtp": f"{u}@{DOMAIN}", "name": u.title(), "password": PASSWORD} for u in USERS]}


def start_simulator(seed_file: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.ewssim", "--config", str(seed_file), "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if "ews_url=" not in line:
        process.kill()
        raise SystemExit(f"simulator did not start: {line!r}")
    return process, line.split("ews_url=")[1].split()[0]


def account(ews_url: str, user: str, connections: int) -> Account:
    config = Configuration(
        service_endpoint=ews_url,
        credentials=Credentials(f"{user}@{DOMAIN}", PASSWORD),
        auth_type="basic",
        version=VERSION,
        retry_policy=FailFast(),
        max_connections=connections,
    )
    return Account(f"{user}@{DOMAIN}", config=config, autodiscover=False, access_type=DELEGATE)


def availability_call(acct: Account) -> Any:
    """One GetUserAvailability for 10 mailboxes; the time-zone definition is fetched once, up front."""
    protocol = acct.protocol
    tz = EWSTimeZone("UTC")
    start = EWSDateTime.from_datetime(datetime(2030, 1, 7, tzinfo=UTC)).astimezone(tz)
    definition = next(iter(protocol.get_timezones(timezones=[tz], return_full_timezone_data=True)))
    timezone = TimeZone.from_server_timezone(tz_definition=definition, for_year=start.year)
    options = FreeBusyViewOptions(
        time_window=TimeWindow(start=start, end=start + timedelta(days=1)),
        merged_free_busy_interval=30,
        requested_view="DetailedMerged",
    )
    mailboxes = [
        MailboxData(email=f"{u}@{DOMAIN}", attendee_type="Required", exclude_conflicts=False) for u in USERS
    ]

    def call() -> None:
        views = list(GetUserAvailability(protocol).call(tz, mailboxes, timezone, options))
        assert len(views) == len(USERS)

    return call


def create_call(acct: Account) -> Any:
    calendar = acct.calendar  # GetFolder once, outside the measurement
    tz = EWSTimeZone("UTC")
    start = EWSDateTime(2030, 1, 7, 9, 0, tzinfo=tz)

    def call() -> None:
        item = CalendarItem(
            account=acct, folder=calendar, subject="bench", start=start, end=start + timedelta(hours=1)
        )
        item.save(send_meeting_invitations="SendToNone")

    return call


def captured_request(ews_url: str, operation: str) -> bytes:
    """The SOAP envelope exchangelib sends for one call of `operation` (never hand-written)."""
    acct = account(ews_url, USERS[0], 1)
    protocol = acct.protocol
    api_version = protocol.version.api_version
    if operation == "GetUserAvailability":
        tz = EWSTimeZone("UTC")
        start = EWSDateTime.from_datetime(datetime(2030, 1, 7, tzinfo=UTC)).astimezone(tz)
        definition = next(iter(protocol.get_timezones(timezones=[tz], return_full_timezone_data=True)))
        service = GetUserAvailability(protocol)
        payload = service.get_payload(
            mailbox_data=[
                MailboxData(email=f"{u}@{DOMAIN}", attendee_type="Required", exclude_conflicts=False)
                for u in USERS
            ],
            timezone=TimeZone.from_server_timezone(tz_definition=definition, for_year=start.year),
            free_busy_view_options=FreeBusyViewOptions(
                time_window=TimeWindow(start=start, end=start + timedelta(days=1)),
                merged_free_busy_interval=30,
                requested_view="DetailedMerged",
            ),
        )
        return bytes(service.wrap(content=payload, api_version=api_version))
    start = EWSDateTime(2030, 1, 7, 9, 0, tzinfo=EWSTimeZone("UTC"))
    item = CalendarItem(account=acct, subject="bench", start=start, end=start + timedelta(hours=1))
    create = CreateItem(account=acct)
    payload = create.get_payload(
        items=[item],
        folder=acct.calendar,
        message_disposition="SaveOnly",
        send_meeting_invitations="SendToNone",
    )
    return bytes(create.wrap(content=payload, api_version=api_version))


def replay_process(ews_url: str, body: bytes, threads: int, seconds: float) -> int:
    """POST `body` over keep-alive connections from `threads` threads; returns successful requests."""
    host_port = ews_url.split("://")[1].split("/")[0]
    host, port = host_port.rsplit(":", 1)
    credentials = base64.b64encode(f"{USERS[0]}@{DOMAIN}:{PASSWORD}".encode()).decode()
    headers = {"Content-Type": "text/xml; charset=utf-8", "Authorization": f"Basic {credentials}"}
    counts = [0] * threads
    failures: list[str] = []
    deadline = time.monotonic() + seconds

    def run(index: int) -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        while time.monotonic() < deadline:
            connection.request("POST", "/EWS/Exchange.asmx", body, headers)
            response = connection.getresponse()
            answer = response.read()
            if response.status != 200 or b'ResponseClass="Error"' in answer:
                failures.append(f"{response.status}: {answer[:300]!r}")
                return
            counts[index] += 1
        connection.close()

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if failures:
        raise RuntimeError(f"replayed request failed: {failures[0]}")
    return sum(counts)


def client_process(ews_url: str, operation: str, threads: int, seconds: float, offset: int) -> int:
    """Run `threads` client threads for `seconds`; returns the number of completed requests."""
    counts = [0] * threads
    errors: list[BaseException] = []
    if operation == "GetUserAvailability":
        shared = account(ews_url, USERS[offset % len(USERS)], threads)
        calls = [availability_call(shared)] * threads
    else:
        # One account (mailbox) per thread, as separate booking jobs would use.
        calls = [create_call(account(ews_url, USERS[(offset + i) % len(USERS)], 1)) for i in range(threads)]
    deadline = time.monotonic() + seconds

    def run(index: int) -> None:
        try:
            while time.monotonic() < deadline:
                calls[index]()
                counts[index] += 1
        except BaseException as exc:  # reported below; a failing run must not look fast
            errors.append(exc)

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if errors:
        raise RuntimeError(f"{len(errors)} client threads failed: {errors[0]!r}")
    return sum(counts)


def server_counts(ews_url: str) -> dict[str, int]:
    base = ews_url.rsplit("/EWS/", 1)[0]
    with urllib.request.urlopen(f"{base}/_sim/requests/counts", timeout=5) as response:
        counts: dict[str, int] = json.load(response)
        return counts


def measure(ews_url: str, operation: str, threads: int, processes: int, seconds: float, mode: str) -> float:
    before = server_counts(ews_url).get(operation, 0)
    started = time.monotonic()
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        if mode == "replay":
            # Captured in a worker: a parent holding exchangelib sessions would hand its open
            # sockets to every forked client.
            body = pool.apply(captured_request, (ews_url, operation))
            before = server_counts(ews_url).get(operation, 0)
            done = sum(pool.starmap(replay_process, [(ews_url, body, threads, seconds)] * processes))
        else:
            jobs = [(ews_url, operation, threads, seconds, p * threads) for p in range(processes)]
            done = sum(pool.starmap(client_process, jobs))
    elapsed = time.monotonic() - started
    served = server_counts(ews_url).get(operation, 0) - before
    # The window includes each client's set-up (first connection, a GetFolder or time-zone fetch);
    # rates use the measured loop time, which is what `seconds` bounds.
    rate = done / seconds
    print(
        f"{operation:<20} {mode:<11} {rate:8.0f} req/s  ({done} requests by {processes}x{threads} "
        f"client threads in {seconds:.0f} s; simulator counted {served}; wall {elapsed:.1f} s)"
    )
    return rate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=8, help="client threads per client process")
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured time per operation")
    parser.add_argument("--mode", choices=["both", "exchangelib", "replay"], default="both")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        seed_file = Path(folder) / "bench-seed.json"
        seed_file.write_text(json.dumps(seed()))
        process, ews_url = start_simulator(seed_file)
        try:
            modes = ["exchangelib", "replay"] if args.mode == "both" else [args.mode]
            for operation in ("GetUserAvailability", "CreateItem"):
                for mode in modes:
                    measure(ews_url, operation, args.threads, args.processes, args.seconds, mode)
        finally:
            process.terminate()
            process.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
