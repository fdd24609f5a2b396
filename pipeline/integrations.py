"""An integration: one customer's Exchange connection, without its secrets.

The settings live in the results table; credentials live in Secrets Manager and are named here
(`secret_name`, or `personal_secret_template` for a secret per user).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipeline.calendar_settings import (
    BookingCopies,
    BusyCalendars,
    CalendarOverride,
    CalendarRef,
    check_calendar_settings,
    validate_overrides,
)
from pipeline.contract.booking import AttendeeClass
from pipeline.contract.common import EmailAddress
from pipeline.errors import ErrorCode, PermanentError

__all__ = [
    "AuthType",
    "ConnectionMethod",
    "DeleteType",
    "ExchangeBackend",
    "IntegrationSettings",
    "is_integration_id",
    "load_integration",
]

# The shape of an integration id, for the model and for checks made before a value reaches the store.
_INTEGRATION_ID_PATTERN = r"^[A-Za-z0-9._\-]+$"
_INTEGRATION_ID_MAX_LENGTH = 128


class ConnectionMethod(StrEnum):
    PERSONAL = "personal"  # each user's own credentials, acting on their own mailbox
    DEDICATED = "dedicated"  # the service mailbox's own calendar
    DELEGATE = "delegate"  # service credentials, delegate access to the user's mailbox
    IMPERSONATION = "impersonation"  # service credentials acting as the user


class AuthType(StrEnum):
    BASIC = "basic"  # app passwords are Basic too
    NTLM = "ntlm"
    OAUTH2 = "oauth2"  # client credentials (app-only)
    OAUTH2_DELEGATED = "oauth2_delegated"  # each user's refresh token (personal connections)


class ExchangeBackend(StrEnum):
    """Which API the integration's mailboxes are reached through (docs/graph.md)."""

    EWS = "ews"  # Exchange Web Services: on-premises Exchange, and Exchange Online until EWS ends
    GRAPH = "graph"  # Microsoft Graph: Exchange Online (OAuth 2.0 only)


# Graph integrations authenticate with OAuth 2.0 only: app-only client credentials, or each
# user's own refresh token for personal connections.
_GRAPH_AUTH = {
    ConnectionMethod.PERSONAL: AuthType.OAUTH2_DELEGATED,
    ConnectionMethod.DEDICATED: AuthType.OAUTH2,
    ConnectionMethod.DELEGATE: AuthType.OAUTH2,
    ConnectionMethod.IMPERSONATION: AuthType.OAUTH2,
}


class DeleteType(StrEnum):
    HARD = "hard"
    SOFT = "soft"  # the default: out of the user's sight, recoverable (docs/logins.md says why)
    MOVE_TO_DELETED_ITEMS = "move_to_deleted_items"


class IntegrationSettings(BaseModel):
    """The non-secret settings of one integration, as stored in the results table."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    integration_id: str = Field(
        min_length=1, max_length=_INTEGRATION_ID_MAX_LENGTH, pattern=_INTEGRATION_ID_PATTERN
    )
    connection_method: ConnectionMethod
    auth_type: AuthType
    # Which API reaches the mailboxes; graph_url is Microsoft Graph's root (another national
    # cloud's, or a local Graph) and is read only when backend is graph.
    backend: ExchangeBackend = ExchangeBackend.EWS
    graph_url: str = "https://graph.microsoft.com/v1.0"
    # Where EWS is: a fixed URL, or autodiscover (a SOAP autodiscover URL and/or an address to discover).
    ews_url: str | None = None
    autodiscover_email: str | None = None
    autodiscover_url: str | None = None
    # None means detect once per process; a product ("Exchange 2010 SP2"), an API version name
    # ("Exchange2010_SP2") or a build ("14.2.247.5") pins it (pipeline/exchange/versions.py).
    server_version: str | None = None
    verify_tls: bool = True
    # Secrets Manager names: one service secret, or a template for a secret per user (personal);
    # with oauth2_delegated, secret_name holds the app registration and each user's secret a
    # refresh token.
    secret_name: str | None = None
    personal_secret_template: str | None = None
    service_mailbox: str | None = None
    oauth_authority: str = "https://login.microsoftonline.com"
    oauth_tenant_id: str | None = None
    # Behaviour of the actions.
    delete_type: DeleteType = DeleteType.SOFT
    lock_appointments: bool = False
    auto_confirm: bool = False
    show_event_titles: bool = False
    post_as_scheduler: bool = False
    subject_template: str | None = None
    body_template: str | None = None
    internal_domains: tuple[str, ...] = ()
    # Calendars in three roles, with an override per mailbox (pipeline/calendar_settings.py,
    # docs/calendars.md): read for busy time besides the default calendar; where bookings are
    # written (None: the default calendar); where copies of them go.
    busy_calendars: BusyCalendars = ()
    booking_calendar: CalendarRef | None = None
    additional_booking_calendars: BookingCopies = ()
    calendar_overrides: dict[EmailAddress, CalendarOverride] = Field(default_factory=dict)

    _overrides_by_position = field_validator("calendar_overrides", mode="wrap")(validate_overrides)

    @model_validator(mode="after")
    def _check_calendars(self) -> IntegrationSettings:
        check_calendar_settings(
            self.busy_calendars, self.booking_calendar, self.additional_booking_calendars,
            self.calendar_overrides,
        )
        return self

    @model_validator(mode="after")
    def _check_combinations(self) -> IntegrationSettings:
        if self.post_as_scheduler and self.connection_method is not ConnectionMethod.IMPERSONATION:
            # Writing into the scheduler's own calendar, as them, is what impersonation grants.
            raise ValueError(
                "post_as_scheduler needs the impersonation connection method (the pipeline must "
                "act as the scheduler to organise the event from their mailbox)"
            )
        if self.backend is ExchangeBackend.GRAPH:
            wanted = _GRAPH_AUTH[self.connection_method]
            if self.auth_type is not wanted:
                raise ValueError(
                    f"backend graph needs auth_type {wanted} for the {self.connection_method} "
                    "connection method (Microsoft Graph takes OAuth 2.0 tokens only)"
                )
        elif not (self.ews_url or self.autodiscover_email or self.autodiscover_url):
            raise ValueError("one of ews_url, autodiscover_email or autodiscover_url is required")
        for name in ("ews_url", "autodiscover_url", "oauth_authority", "graph_url"):
            url = getattr(self, name)
            if url is not None and not url.startswith(("https://", "http://")):
                raise ValueError(f"{name} must be an http(s) URL")
        if self.server_version is not None:
            # Imported here: pipeline.exchange imports this module. ValueError names what is accepted.
            from pipeline.exchange.versions import resolve

            resolve(self.server_version)
        if self.connection_method is ConnectionMethod.PERSONAL:
            if not self.personal_secret_template:
                raise ValueError("personal_secret_template is required for the personal connection method")
            if "{mailbox}" not in self.personal_secret_template:
                raise ValueError("personal_secret_template must contain {mailbox}")
            if self.auth_type is AuthType.OAUTH2:
                # Client credentials are app-only: there is no per-user OAuth identity to act as.
                raise ValueError(
                    "auth_type oauth2 (app-only) cannot be used with the personal connection method; "
                    "use oauth2_delegated (each user's refresh token)"
                )
            if self.auth_type is AuthType.OAUTH2_DELEGATED and not self.secret_name:
                raise ValueError(
                    "secret_name (the app registration: client_id, client_secret) is required for "
                    "auth_type oauth2_delegated"
                )
        elif self.auth_type is AuthType.OAUTH2_DELEGATED:
            raise ValueError(
                "auth_type oauth2_delegated acts as each user with their own refresh token: it needs "
                "the personal connection method (service connections use oauth2, app-only)"
            )
        else:
            if not self.secret_name:
                raise ValueError(
                    f"secret_name is required for the {self.connection_method} connection method"
                )
            if not self.service_mailbox:
                raise ValueError(
                    f"service_mailbox is required for the {self.connection_method} connection method"
                )
        if self.auth_type in (AuthType.OAUTH2, AuthType.OAUTH2_DELEGATED) and not self.oauth_tenant_id:
            raise ValueError(f"oauth_tenant_id is required for auth_type {self.auth_type}")
        return self

    def attendee_class(self, email: str) -> AttendeeClass:
        """Internal when the address's domain is one of internal_domains: an exact domain, or, for
        one written with a leading dot (".example.com"), that domain and any subdomain of it, as
        cookie domains read. Case-insensitive, compared
        after IDNA normalisation, so "BÜCHER.example" and "xn--bcher-kva.example" are one domain."""
        domain = _normal_domain(email.rpartition("@")[2])
        for entry in self.internal_domains:
            wanted = _normal_domain(entry.lstrip("."))
            if domain == wanted or (entry.startswith(".") and domain.endswith("." + wanted)):
                return AttendeeClass.INTERNAL
        return AttendeeClass.EXTERNAL

    def secret_name_for(self, mailbox: str | None) -> str:
        """The Secrets Manager name holding the credentials used for `mailbox`."""
        if self.connection_method is ConnectionMethod.PERSONAL:
            if not mailbox:
                raise PermanentError(
                    ErrorCode.INVALID_KWARGS, "the personal connection method needs the job's mailbox"
                )
            template = self.personal_secret_template or ""
            return template.format(integration_id=self.integration_id, mailbox=mailbox.lower())
        return self.secret_name or ""


def _normal_domain(domain: str) -> str:
    """A domain lower-cased and in its ASCII (IDNA) form; left as given where IDNA refuses it."""
    domain = domain.strip().rstrip(".").lower()
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain


def is_integration_id(value: str) -> bool:
    """True when `value` has the shape IntegrationSettings.integration_id allows."""
    # fullmatch: with re.match, `$` would also accept a trailing newline, which pydantic refuses.
    return (0 < len(value) <= _INTEGRATION_ID_MAX_LENGTH
            and re.fullmatch(_INTEGRATION_ID_PATTERN, value) is not None)


def load_integration(raw: Mapping[str, Any]) -> IntegrationSettings:
    """Validate stored settings; errors name the offending fields, never their values."""
    try:
        return IntegrationSettings.model_validate(dict(raw))
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False, include_url=False):
            where = ".".join(str(part) for part in error["loc"]) or "settings"
            # Cross-field messages are ours and name fields only; field messages are pydantic's,
            # which puts "Value error, " before the message of a ValueError a validator raised.
            problems.append(f"{where}: {error['msg'].removeprefix('Value error, ')}")
        integration = raw.get("integration_id", "?")
        raise PermanentError(
            ErrorCode.INVALID_INTEGRATION,
            f"integration {integration!s:.128} is invalid: " + "; ".join(problems),
        ) from None  # pydantic's own text quotes the input values, which must not travel with the error
