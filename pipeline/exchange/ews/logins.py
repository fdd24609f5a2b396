"""Which spelling of the user name to log on with, and remembering the one that worked.

A secret with a `domain` allows two logon names: the username as written (a UPN or an e-mail
address) and DOMAIN\\user. An on-premises account whose UPN suffix is not its e-mail domain
refuses the address and takes only DOMAIN\\user (OnceHub's customers meet this), so the connector
tries the username first and, on a 401, DOMAIN\\user once (docs/logins.md). A bare username
("alice") is tried as DOMAIN\\alice first, as it was before the fallback existed.

The form that worked is remembered per (integration, secret) in process memory and, when a
store is given, per integration on the integration's item in the results table: the form is a
property of the customer's directory rather than of one user, and a record per secret would
grow with a personal integration's users. A process that meets a secret for the first time
starts from the integration's form, then keeps its own per-secret answer.
"""

from __future__ import annotations

import logging
import threading
from enum import StrEnum
from typing import TYPE_CHECKING

from pipeline.errors import PipelineError
from pipeline.secrets import ExchangeSecret

if TYPE_CHECKING:
    from pipeline.store.base import ResultsStore

__all__ = ["LoginForm", "LoginFormMemory", "login_forms", "logon_name"]

log = logging.getLogger(__name__)


class LoginForm(StrEnum):
    USERNAME = "username"  # the secret's username as written (UPN or e-mail address)
    DOMAIN = "domain"  # DOMAIN\user, from the secret's domain and the username's user part


def login_forms(secret: ExchangeSecret, preferred: LoginForm | None = None) -> tuple[LoginForm, ...]:
    """The forms to try for this secret, in order: one, unless the secret carries a domain."""
    username = secret.username or ""
    if not secret.domain or not username or "\\" in username:
        return (LoginForm.USERNAME,)
    default = LoginForm.USERNAME if "@" in username else LoginForm.DOMAIN
    first = preferred or default
    return (first, LoginForm.DOMAIN if first is LoginForm.USERNAME else LoginForm.USERNAME)


def logon_name(secret: ExchangeSecret, form: LoginForm) -> str:
    """The user name to send for this form ("EXAMPLE\\alice" for alice@example.com and EXAMPLE)."""
    username = secret.username or ""
    if form is LoginForm.DOMAIN and secret.domain and "\\" not in username:
        return f"{secret.domain}\\{username.partition('@')[0]}"
    return username


class LoginFormMemory:
    """The form that last worked, per (integration, secret) here and per integration in the table."""

    def __init__(self, store: ResultsStore | None = None) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._by_secret: dict[tuple[str, str], LoginForm] = {}
        # Per integration: what the table said (read once per process) or what worked here since.
        self._by_integration: dict[str, LoginForm | None] = {}

    def preferred(self, integration_id: str, secret_name: str) -> LoginForm | None:
        """The form to try first, or None when nothing is known (the secret's default then)."""
        with self._lock:
            known = self._by_secret.get((integration_id, secret_name))
            if known is not None:
                return known
            if integration_id in self._by_integration:
                return self._by_integration[integration_id]
        stored = self._read(integration_id)
        with self._lock:
            return self._by_integration.setdefault(integration_id, stored)

    def remember(self, integration_id: str, secret_name: str, form: LoginForm) -> None:
        """Note that `form` worked. Only news moves the integration's form (a secret's first success
        here, or a change), and the table is written only when that changes it: users of one
        integration who need different forms cost a write when each is first seen, not every job."""
        with self._lock:
            if self._by_secret.get((integration_id, secret_name)) is form:
                return
            self._by_secret[(integration_id, secret_name)] = form
            changed = self._by_integration.get(integration_id) is not form
            self._by_integration[integration_id] = form
        if changed and self._store is not None:
            try:
                self._store.record_login_form(integration_id, form.value)
            except PipelineError as failure:
                # The logon worked and the job goes on; the next process relearns it with one more 401.
                log.warning("integration %s: login form not recorded (%s)", integration_id, failure.code)

    def _read(self, integration_id: str) -> LoginForm | None:
        if self._store is None:
            return None
        try:
            record = self._store.get_integration_record(integration_id)
        except PipelineError as failure:
            log.warning("integration %s: recorded login form not read (%s)", integration_id, failure.code)
            return None
        if record is None or record.login_form not in {f.value for f in LoginForm}:
            return None
        return LoginForm(record.login_form)
