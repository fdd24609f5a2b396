"""The demo's simulated company: people, rooms, service accounts and a week of busy calendars."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from infra.ewssim.models import CalendarItem, EwsBackend

DOMAIN = "contoso.test"
# Demo credentials for the simulated company only; they exist nowhere but this process.
PASSWORD = "Demo-Passw0rd!"
APP = {"client_id": "demo-scheduler-app", "client_secret": "demo-app-Secret-0", "tenant_id": "contoso"}

INTERVIEWERS = ("ada", "grace", "linus", "barbara", "ken", "margaret")
RECRUITERS = ("rita", "sam")
STAFF_COUNT = 140  # enough that one free/busy job needs two GetUserAvailability requests
ROOMS = {"hq": ("hq-orion", "hq-lyra", "hq-vega"), "annex": ("annex-1", "annex-2")}


def address(name: str) -> str:
    return f"{name}@{DOMAIN}"


def staff() -> list[str]:
    return [address(f"staff{number:03d}") for number in range(1, STAFF_COUNT + 1)]


def organisation() -> dict[str, Any]:
    """The seed for the simulator (the shape of EwsBackend.seed)."""
    people = [*INTERVIEWERS, *RECRUITERS]
    users = [
        {"smtp": address(name), "name": name.title(), "password": PASSWORD, "domain": "CONTOSO",
         "time_zone": "Europe/London"}
        for name in people
    ]
    users += [{"smtp": smtp, "name": smtp.split("@")[0].title(), "password": PASSWORD} for smtp in staff()]
    rooms = [{"smtp": address(room), "name": room.replace("-", " ").title()}
             for building in ROOMS.values() for room in building]
    room_lists = [{"smtp": address(f"rooms-{name}"), "name": f"{name.upper()} rooms",
                   "rooms": [address(room) for room in members]} for name, members in ROOMS.items()]
    # The booking service is a delegate (Editor) on the interviewers' calendars; everyone's
    # free/busy is visible to it with subject and location.
    permissions = [{"owner": address(name), "grantee": address("booking-svc"), "level": "Editor"}
                   for name in people]
    permissions += [{"owner": smtp, "grantee": address("booking-svc"),
                     "level": "FreeBusyTimeAndSubjectAndLocation"} for smtp in staff()]
    return {
        "users": users,
        "rooms": rooms,
        "room_lists": room_lists,
        "service_accounts": [
            {"smtp": address("booking-svc"), "name": "Booking Service", "password": PASSWORD,
             "domain": "CONTOSO"},
            {"smtp": address("scheduler-imp"), "name": "Scheduler (impersonation)", "password": PASSWORD,
             "domain": "CONTOSO", "can_impersonate": True},
        ],
        "permissions": permissions,
        "apps": [APP],
    }


def fill_calendars(backend: EwsBackend, week_start: datetime, seed: int = 7) -> int:
    """Put a realistic week of meetings into the interviewers' and staff calendars."""
    rng = random.Random(seed)
    subjects = ("1:1", "Team sync", "Design review", "Customer call", "Focus time", "Lunch")
    count = 0
    for smtp in [address(name) for name in INTERVIEWERS] + staff()[:40]:
        for day in range(5):
            for _ in range(rng.randint(1, 4)):
                hour, minute = rng.randint(8, 16), rng.choice((0, 30))
                start = week_start + timedelta(days=day, hours=hour, minutes=minute)
                item = CalendarItem(
                    subject=rng.choice(subjects),
                    start=start,
                    end=start + timedelta(minutes=rng.choice((30, 60, 90))),
                    legacy_free_busy_status=rng.choice(("Busy", "Busy", "Busy", "Tentative", "OOF")),
                    sensitivity=rng.choice(("Normal",) * 5 + ("Private",)),
                )
                backend.mailbox(smtp).put("calendar", item)
                count += 1
    return count
