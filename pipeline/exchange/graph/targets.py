"""Whose mailbox a Graph request names, and whose rights apply, per connection method.

The same decision as EWS (pipeline/exchange/ews/connection.py resolve_target), without importing
exchangelib. On Graph every service method is app-only (auth_type oauth2): the app acts on the
mailbox itself, within the mailboxes its application access policy or RBAC for Applications
scope allows. Personal acts as the user with the user's own delegated token.
"""

from __future__ import annotations

from pipeline.errors import ErrorCode, PermanentError
from pipeline.exchange.types import MailboxTarget
from pipeline.integrations import ConnectionMethod, IntegrationSettings

__all__ = ["resolve_target"]


def resolve_target(settings: IntegrationSettings, mailbox: str | None) -> MailboxTarget:
    """The calendar owner and the logon acting for this integration and job mailbox."""
    user = mailbox.lower() if mailbox else None
    service = (settings.service_mailbox or "").lower()
    method = settings.connection_method
    if method is ConnectionMethod.PERSONAL:
        if user is None:
            raise PermanentError(
                ErrorCode.INVALID_KWARGS, "the personal connection method needs the job's mailbox"
            )
        return MailboxTarget(user, user, user, method)
    if method is ConnectionMethod.DEDICATED:
        return MailboxTarget(service, user, service, method)
    owner = user or service
    # App-only: delegate and impersonation both write into the owner's calendar as the app.
    return MailboxTarget(owner, user, owner, method)
