"""Whose calendar a job's requests act on, and whose rights apply, per connection method.

One decision for both backends (no exchangelib here, so the Graph backend loads without it). On
Graph every service method is app-only (auth_type oauth2), which is how EWS's OAuth app acts too:
through impersonation, as the owner, within the mailboxes its scope allows. Personal acts as the
user with the user's own credentials or delegated token.
"""

from __future__ import annotations

from pipeline.errors import ErrorCode, PermanentError
from pipeline.exchange.types import MailboxTarget
from pipeline.integrations import AuthType, ConnectionMethod, IntegrationSettings

__all__ = ["resolve_target"]


def resolve_target(settings: IntegrationSettings, mailbox: str | None) -> MailboxTarget:
    """Whose calendar the connection method writes to, and whose rights apply."""
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
    # An app-only token has no mailbox of its own: it acts as the owner (impersonation on EWS, the
    # app's own grant on Graph). Delegate access with an account's password acts as the service.
    impersonating = method is ConnectionMethod.IMPERSONATION or settings.auth_type is AuthType.OAUTH2
    return MailboxTarget(owner, user, owner if impersonating else service, method)
