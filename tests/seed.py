"""The standard simulated organisation that tests seed; one place for its names and passwords."""

from __future__ import annotations

from typing import Any

DOMAIN = "example.com"
PASSWORDS = {
    "alice": "alice-Secret-1",
    "bob": "bob-Secret-2",
    "carol": "carol-Secret-3",
    "svc": "svc-Secret-4",
    "svc-imp": "svcimp-Secret-5",
}
APP = {"client_id": "app-client-id", "client_secret": "app-Secret-6", "tenant_id": "tenant-1"}


def smtp(name: str) -> str:
    return f"{name}@{DOMAIN}"


def standard_org() -> dict[str, Any]:
    """Three users, two service accounts (one may impersonate), four rooms in two lists, one app."""
    return {
        "users": [
            {"smtp": smtp("alice"), "name": "Alice Archer", "password": PASSWORDS["alice"],
             "domain": "EXAMPLE", "time_zone": "Europe/London"},
            {"smtp": smtp("bob"), "name": "Bob Baker", "password": PASSWORDS["bob"],
             "domain": "EXAMPLE", "time_zone": "America/New_York"},
            {"smtp": smtp("carol"), "name": "Carol Cook", "password": PASSWORDS["carol"],
             "domain": "EXAMPLE"},
        ],
        "service_accounts": [
            {"smtp": smtp("svc"), "name": "Booking Service", "password": PASSWORDS["svc"],
             "domain": "EXAMPLE"},
            {"smtp": smtp("svc-imp"), "name": "Impersonation Service", "password": PASSWORDS["svc-imp"],
             "domain": "EXAMPLE", "can_impersonate": True},
        ],
        "rooms": [
            {"smtp": smtp("room-a"), "name": "Room A"},
            {"smtp": smtp("room-b"), "name": "Room B"},
            {"smtp": smtp("room-c"), "name": "Room C"},
            {"smtp": smtp("room-d"), "name": "Room D"},
        ],
        "room_lists": [
            {"smtp": smtp("building-1"), "name": "Building 1", "rooms": [smtp("room-a"), smtp("room-b")]},
            {"smtp": smtp("building-2"), "name": "Building 2", "rooms": [smtp("room-c"), smtp("room-d")]},
        ],
        "permissions": [
            # svc is alice's calendar delegate (can write), and may only see bob's free/busy.
            {"owner": smtp("alice"), "grantee": smtp("svc"), "level": "Delegate"},
            {"owner": smtp("bob"), "grantee": smtp("svc"), "level": "FreeBusyTimeOnly"},
            {"owner": smtp("carol"), "grantee": smtp("svc"), "level": "Reviewer"},
        ],
        "apps": [APP],
    }
