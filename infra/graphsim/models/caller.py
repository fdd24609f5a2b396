"""Who calls Graph: the app (its roles and application access policy) and, for a delegated token,
the user. Checks of roles and of the mailbox scope live here; nothing knows HTTP."""

from __future__ import annotations

from dataclasses import dataclass

from infra.ewssim.models.directory import AppRegistration, Principal

__all__ = ["GraphCaller"]


@dataclass(frozen=True)
class GraphCaller:
    """An authenticated Graph caller. `user` is set for delegated tokens (they act as that user),
    None for app-only tokens; `roles` are the app's application permissions in force and
    `mailbox_scope` its application access policy (None: every mailbox)."""

    app: AppRegistration | None
    user: Principal | None
    roles: frozenset[str]
    mailbox_scope: frozenset[str] | None

    @property
    def app_only(self) -> bool:
        return self.user is None

    @property
    def client_id(self) -> str:
        return self.app.client_id if self.app is not None else ""

    @property
    def tenant_id(self) -> str:
        return self.app.tenant_id if self.app is not None else ""

    @property
    def throttle_key(self) -> str:
        """Whose requests share a mailbox's concurrency limit: the app (per app ID per mailbox)."""
        return self.client_id or (self.user.smtp if self.user is not None else "")

    def has_any_role(self, wanted: frozenset[str]) -> bool:
        """App-only tokens need one of the roles; delegated tokens carry the user's own rights."""
        return not self.app_only or bool(self.roles & wanted)

    def may_access(self, smtp: str) -> bool:
        """Whether the application access policy lets the app reach this mailbox."""
        return self.mailbox_scope is None or smtp.lower() in self.mailbox_scope
