"""What an operation handler knows about the request it serves."""

from __future__ import annotations

from dataclasses import dataclass

from infra.ewssim.models.backend import EwsBackend
from infra.ewssim.models.directory import Principal


@dataclass(frozen=True)
class RequestContext:
    backend: EwsBackend
    # The account that authenticated (Basic, NTLM or the app's mailbox for OAuth).
    caller: Principal
    # The user named in an ExchangeImpersonation header, after the right was checked.
    impersonated: Principal | None = None
    request_version: str = "Exchange2016"
    # True when the caller is an OAuth app (app-only token), not a mailbox logon.
    app_only: bool = False
    # The SOAP header's TimeZoneContext (a Windows zone id): the default zone of the request's times
    # without an offset, and of the answer's where Exchange writes them local (availability).
    time_zone: str | None = None

    @property
    def acting_as(self) -> Principal:
        """Whose rights apply: the impersonated user if any, else the caller."""
        return self.impersonated or self.caller
