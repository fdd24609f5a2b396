"""The organisation's directory: users, rooms, service accounts and room lists."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import time
from enum import StrEnum
from typing import Any

from infra.ewssim.errors import EwsError


class PrincipalKind(StrEnum):
    USER = "user"
    ROOM = "room"
    SERVICE = "service"


class AutomateProcessing(StrEnum):
    """How a mailbox processes the meeting requests it receives (Set-CalendarProcessing's
    AutomateProcessing, https://learn.microsoft.com/en-us/powershell/module/exchange/set-calendarprocessing).

    AUTO_ACCEPT is the Resource Booking Attendant, the default for resource mailboxes: it accepts a
    request when the resource is free and declines a conflict. AUTO_UPDATE is the Calendar Attendant,
    the default for other mailboxes: a tentative copy in the calendar, the answer left to the user.
    NONE turns calendar processing off: the request waits in the inbox, the calendar has no copy.
    """

    AUTO_ACCEPT = "AutoAccept"
    AUTO_UPDATE = "AutoUpdate"
    NONE = "None"


@dataclass(frozen=True)
class WorkingHours:
    """Working days and hours in the principal's own time zone."""

    days: tuple[str, ...] = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
    start: time = time(9, 0)
    end: time = time(17, 0)


@dataclass
class Principal:
    """A mail-enabled account: a person, a room or a service mailbox."""

    smtp: str
    display_name: str
    kind: PrincipalKind = PrincipalKind.USER
    password: str = ""
    username: str = ""
    domain: str = ""
    time_zone: str = "UTC"
    working_hours: WorkingHours = field(default_factory=WorkingHours)
    can_impersonate: bool = False
    # Only DOMAIN\user logs on (an on-premises account whose UPN is not its e-mail address).
    domain_logon_only: bool = False
    # None: the default for the kind (AutoAccept for rooms, AutoUpdate for the others).
    automate_processing: AutomateProcessing | None = None

    def __post_init__(self) -> None:
        self.smtp = self.smtp.lower()
        if not self.username:
            self.username = self.smtp

    @property
    def calendar_processing(self) -> AutomateProcessing:
        """The AutomateProcessing in force: the seeded one, else the kind's default."""
        if self.automate_processing is not None:
            return self.automate_processing
        if self.kind is PrincipalKind.ROOM:
            return AutomateProcessing.AUTO_ACCEPT
        return AutomateProcessing.AUTO_UPDATE

    def login_names(self) -> set[str]:
        """Every spelling Exchange accepts at logon: UPN, bare user, DOMAIN\\user (only the last
        for a domain_logon_only account)."""
        names: set[str] = set()
        if not (self.domain_logon_only and self.domain):
            names = {self.smtp, self.username.lower(), self.smtp.split("@")[0]}
        if self.domain:
            names.add(f"{self.domain.lower()}\\{self.username.lower()}")
            names.add(f"{self.domain.lower()}\\{self.smtp.split('@')[0]}")
        return names


@dataclass
class RoomList:
    smtp: str
    display_name: str
    rooms: list[str] = field(default_factory=list)


# What the simulator's app registrations hold unless seeded otherwise.
DEFAULT_GRAPH_ROLES: frozenset[str] = frozenset(
    {"Calendars.ReadWrite", "Place.Read.All", "User.Read.All", "MailboxSettings.Read"}
)


@dataclass(frozen=True)
class AppRegistration:
    """An OAuth client allowed to obtain app-only tokens for EWS."""

    client_id: str
    client_secret: str
    tenant_id: str
    # Principals the app may act as via impersonation (full_access_as_app covers all when empty).
    full_access: bool = True
    # Microsoft Graph application permissions (app roles) granted with admin consent.
    graph_roles: frozenset[str] = DEFAULT_GRAPH_ROLES
    # None: every mailbox. A set of SMTP addresses: an application access policy (or an RBAC for
    # Applications management scope) restricting the app's Graph access to those mailboxes.
    mailbox_scope: frozenset[str] | None = None


class Directory:
    """Lookup of principals by SMTP address or logon name; thread-safe for reads during seeding."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.principals: dict[str, Principal] = {}
        self.room_lists: dict[str, RoomList] = {}
        self.apps: dict[str, AppRegistration] = {}

    def add(self, principal: Principal) -> Principal:
        with self._lock:
            self.principals[principal.smtp] = principal
        return principal

    def add_room_list(self, room_list: RoomList) -> RoomList:
        with self._lock:
            room_list.smtp = room_list.smtp.lower()
            room_list.rooms = [r.lower() for r in room_list.rooms]
            self.room_lists[room_list.smtp] = room_list
        return room_list

    def add_app(self, app: AppRegistration) -> AppRegistration:
        with self._lock:
            self.apps[app.client_id] = app
        return app

    def find(self, smtp: str) -> Principal | None:
        return self.principals.get(smtp.lower())

    def get(self, smtp: str) -> Principal:
        """The principal with this address, or ErrorNonExistentMailbox."""
        principal = self.find(smtp)
        if principal is None:
            raise EwsError("ErrorNonExistentMailbox", f"No mailbox with SMTP address {smtp}.")
        return principal

    def by_login(self, login: str) -> Principal | None:
        wanted = login.lower()
        with self._lock:
            for principal in self.principals.values():
                if wanted in principal.login_names():
                    return principal
        return None

    def rooms(self) -> list[Principal]:
        return [p for p in self.principals.values() if p.kind is PrincipalKind.ROOM]

    def clear(self) -> None:
        with self._lock:
            self.principals.clear()
            self.room_lists.clear()
            self.apps.clear()

    @staticmethod
    def principal_from_dict(raw: dict[str, Any], kind: PrincipalKind) -> Principal:
        hours = raw.get("working_hours") or {}
        working_hours = WorkingHours(
            days=tuple(hours.get("days", WorkingHours().days)),
            start=time.fromisoformat(hours.get("start", "09:00")),
            end=time.fromisoformat(hours.get("end", "17:00")),
        )
        return Principal(
            smtp=raw["smtp"],
            display_name=raw.get("name") or raw.get("display_name") or raw["smtp"].split("@")[0],
            kind=kind,
            password=raw.get("password", ""),
            username=raw.get("username", ""),
            domain=raw.get("domain", ""),
            time_zone=raw.get("time_zone", "UTC"),
            working_hours=working_hours,
            can_impersonate=bool(raw.get("can_impersonate", False)),
            domain_logon_only=bool(raw.get("domain_logon_only", False)),
            automate_processing=_automate_processing(raw.get("automate_processing")),
        )


def _automate_processing(value: object) -> AutomateProcessing | None:
    """A seed's automate_processing: AutoAccept, AutoUpdate or None (YAML's null means the default)."""
    if value is None:
        return None
    try:
        return AutomateProcessing(str(value))
    except ValueError:
        known = ", ".join(level.value for level in AutomateProcessing)
        raise ValueError(f"automate_processing must be one of {known}, not {value!r}") from None
