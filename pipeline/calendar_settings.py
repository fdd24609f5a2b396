"""Which calendars an integration reads busy time from and writes bookings to (docs/calendars.md).

Three roles, set per integration with an override per mailbox:

- busy calendars: read for busy time in addition to each mailbox's default calendar (which
  GetUserAvailability always reads): a secondary calendar ("Calendar/Interviews") or a calendar
  of another mailbox shared with the logon;
- the booking calendar: where create_event writes the booking (default: the default calendar of
  the mailbox the connection method writes to);
- additional booking calendars: each gets a copy of the booking, without invitations, kept in step
  by update_event and cancel_event.

A CalendarRef names a calendar by folder path or by EWS folder id, in a mailbox (default: the
mailbox it is for: the one looked up for busy time, the one the connection method writes to for
bookings). Messages of validation errors name fields and positions, never the addresses in them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipeline.contract.common import EmailAddress

if TYPE_CHECKING:
    from pipeline.integrations import IntegrationSettings

__all__ = [
    "MAX_ADDITIONAL_BOOKING_CALENDARS",
    "MAX_BUSY_CALENDARS",
    "MAX_CALENDAR_OVERRIDES",
    "BookingCopies",
    "BusyCalendars",
    "CalendarChoice",
    "CalendarOverride",
    "CalendarRef",
    "calendars_for",
    "check_calendar_settings",
    "validate_overrides",
]

MAX_BUSY_CALENDARS = 20  # each costs one FindItem per 42 days of a free/busy window
MAX_ADDITIONAL_BOOKING_CALENDARS = 10  # each costs one request per create, update and cancel
MAX_CALENDAR_OVERRIDES = 1000  # the settings live in one table item (400 KB)
_MAX_DEPTH = 10
_MAX_NAME = 255
_DEFAULT_CALENDAR = "calendar"

class CalendarRef(BaseModel):
    """One calendar: a folder path or a folder id, in a mailbox (default: the mailbox it is for).

    A path names folders by display name from the top of the mailbox, "/" between them, as
    Outlook's folder list shows them; a first name "Calendar" always means the default calendar,
    whatever the mailbox's language calls it. A plain string is taken as a path.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    mailbox: EmailAddress | None = None
    path: str | None = Field(default=None, max_length=2600)
    folder_id: str | None = Field(default=None, min_length=1, max_length=512)

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return {"path": value} if isinstance(value, str) else value

    @field_validator("path")
    @classmethod
    def _normal_path(cls, path: str | None) -> str | None:
        if path is None:
            return None
        names = [name.strip() for name in path.strip().strip("/").split("/")]
        if not names or any(not name for name in names):
            raise ValueError("a path names folders separated by '/', none of them empty")
        if len(names) > _MAX_DEPTH or any(len(name) > _MAX_NAME for name in names):
            raise ValueError(f"a path has at most {_MAX_DEPTH} folders of at most {_MAX_NAME} characters")
        return "/".join(names)

    @model_validator(mode="after")
    def _path_or_id(self) -> CalendarRef:
        if (self.path is None) == (self.folder_id is None):
            raise ValueError("a calendar has either a path or a folder_id")
        return self

    @property
    def names(self) -> tuple[str, ...]:
        """The folder names along the path (empty for a folder id)."""
        return tuple(self.path.split("/")) if self.path else ()

    @property
    def is_default_calendar(self) -> bool:
        """True for the path "Calendar": the mailbox's default calendar."""
        return len(self.names) == 1 and self.names[0].casefold() == _DEFAULT_CALENDAR

    def owner(self, default: str) -> str:
        """Whose mailbox holds the calendar."""
        return self.mailbox or default.lower()

    def identity(self, default: str) -> tuple[str, str, str]:
        """What makes two refs the same calendar for `default`: owner, then path or id."""
        if self.folder_id is not None:
            return (self.owner(default), "id", self.folder_id)
        return (self.owner(default), "path", (self.path or "").casefold())

    def describe(self, default: str) -> str:
        """The calendar as error messages name it (job records only: it holds an address)."""
        where = f"'{self.path}'" if self.path else f"with folder id {self.folder_id}"
        return f"calendar {where} of {self.owner(default)}"

    def label(self) -> str:
        """The calendar as configured, for results: "Calendar/Interviews", "team@x.com:Calendar"."""
        what = self.path or f"id:{self.folder_id}"
        return f"{self.mailbox}:{what}" if self.mailbox else what


BusyCalendars = Annotated[tuple[CalendarRef, ...], Field(max_length=MAX_BUSY_CALENDARS)]
BookingCopies = Annotated[tuple[CalendarRef, ...], Field(max_length=MAX_ADDITIONAL_BOOKING_CALENDARS)]


class CalendarOverride(BaseModel):
    """One mailbox's own calendar settings; a field left out keeps the integration's."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    busy_calendars: BusyCalendars | None = None
    booking_calendar: CalendarRef | None = None
    additional_booking_calendars: BookingCopies | None = None

    @model_validator(mode="after")
    def _sets_something(self) -> CalendarOverride:
        if self.busy_calendars is None and self.booking_calendar is None and (
            self.additional_booking_calendars is None
        ):
            raise ValueError(
                "an override sets busy_calendars, booking_calendar or additional_booking_calendars"
            )
        return self


@dataclass(frozen=True)
class CalendarChoice:
    """The calendars in force for one mailbox, its override applied."""

    busy_calendars: tuple[CalendarRef, ...] = ()
    booking_calendar: CalendarRef | None = None  # None: the default calendar
    additional_booking_calendars: tuple[CalendarRef, ...] = ()


def calendars_for(settings: IntegrationSettings, mailbox: str | None) -> CalendarChoice:
    """The calendars for `mailbox`: its override's fields where set, else the integration's."""
    override = settings.calendar_overrides.get(mailbox.lower()) if mailbox else None
    return _choice(
        settings.busy_calendars, settings.booking_calendar, settings.additional_booking_calendars, override
    )


def _choice(
    busy: tuple[CalendarRef, ...],
    booking: CalendarRef | None,
    additional: tuple[CalendarRef, ...],
    override: CalendarOverride | None,
) -> CalendarChoice:
    if override is None:
        return CalendarChoice(busy, booking, additional)
    copies = override.additional_booking_calendars
    return CalendarChoice(
        busy if override.busy_calendars is None else override.busy_calendars,
        booking if override.booking_calendar is None else override.booking_calendar,
        additional if copies is None else copies,
    )


def validate_overrides(value: Any, handler: Callable[[Any], Any]) -> Any:
    """Validate calendar_overrides with errors that give an entry's position, not its address."""
    try:
        return handler(value)
    except ValidationError as exc:
        keys = list(value) if isinstance(value, Mapping) else []
        first = exc.errors(include_input=False, include_url=False)[0]
        loc = first["loc"]
        position = keys.index(loc[0]) if loc and loc[0] in keys else 0
        inner = ".".join("mailbox" if part == "[key]" else str(part) for part in loc[1:])
        where = f"entry {position}" + (f" ({inner})" if inner else "")
        raise ValueError(f"{where}: {first['msg'].removeprefix('Value error, ')}") from None


def check_calendar_settings(
    busy: tuple[CalendarRef, ...],
    booking: CalendarRef | None,
    additional: tuple[CalendarRef, ...],
    overrides: Mapping[str, CalendarOverride],
) -> None:
    """ValueError (naming fields and positions only) for settings that cannot mean what they say."""
    _check_choice(CalendarChoice(busy, booking, additional), "")
    if len(overrides) > MAX_CALENDAR_OVERRIDES:
        raise ValueError(f"calendar_overrides has more than {MAX_CALENDAR_OVERRIDES} mailboxes")
    for position, override in enumerate(overrides.values()):
        _check_choice(_choice(busy, booking, additional, override), f"calendar_overrides[{position}].")


def _check_choice(choice: CalendarChoice, prefix: str) -> None:
    for position, ref in enumerate(choice.busy_calendars):
        if ref.mailbox is None and ref.is_default_calendar:
            raise ValueError(
                f"{prefix}busy_calendars[{position}] is the default calendar, which is always checked"
            )
    _check_unique(choice.busy_calendars, f"{prefix}busy_calendars")
    _check_unique(choice.additional_booking_calendars, f"{prefix}additional_booking_calendars")
    main = choice.booking_calendar or CalendarRef(path="Calendar")
    for position, ref in enumerate(choice.additional_booking_calendars):
        if _same(ref, main):
            raise ValueError(
                f"{prefix}additional_booking_calendars[{position}] is the booking calendar itself"
            )


def _check_unique(refs: Sequence[CalendarRef], field: str) -> None:
    seen: set[tuple[str, str, str]] = set()
    for position, ref in enumerate(refs):
        identity = ref.identity("")
        if identity in seen:
            raise ValueError(f"{field}[{position}] names the same calendar as an earlier entry")
        seen.add(identity)


def _same(one: CalendarRef, other: CalendarRef) -> bool:
    if one.is_default_calendar and other.is_default_calendar:
        return one.mailbox == other.mailbox
    return one.identity("") == other.identity("")
