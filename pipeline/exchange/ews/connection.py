"""From "an integration and a mailbox" to a working exchangelib Account, pooled across jobs.

One EwsConnector lives per warm process. It resolves the endpoint (URL or autodiscover) and the
server version once per integration, and keeps one exchangelib Protocol (a session pool sized to
the worker's concurrency) per integration secret, plus an Account per mailbox. A secret whose
content changed, or a 401, closes the old protocol and removes it from exchangelib's
process-wide cache, so rotated credentials never leave a stale protocol behind. Which logon name
form to send (logins.py) and delegated OAuth tokens (delegated_oauth.py) are decided here too.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from exchangelib import UTC, Account, Configuration, FailFast, Version
from exchangelib.credentials import BaseCredentials
from exchangelib.protocol import Protocol

from pipeline.errors import ErrorCode, PermanentError
from pipeline.exchange.ews.autodiscover import discover_ews_url
from pipeline.exchange.ews.delegated_oauth import DelegatedTokens, RefreshTokenRefused
from pipeline.exchange.ews.errors import ews_errors, install_log_scrubbing
from pipeline.exchange.ews.folder_cache import FolderCache
from pipeline.exchange.ews.logins import LoginForm, LoginFormMemory, login_forms, logon_name
from pipeline.exchange.ews.protocol import (
    access_type_for,
    build_credentials,
    exchangelib_auth_type,
    forget_protocol,
    http_timeout,
    pinned_version,
    protocol_class,
)
from pipeline.exchange.ews.server_busy import install_server_busy_back_off
from pipeline.exchange.targets import resolve_target
from pipeline.exchange.types import MailboxTarget
from pipeline.integrations import AuthType, IntegrationSettings
from pipeline.observability import observe_ews_call
from pipeline.secrets import ExchangeSecret, SecretSource

if TYPE_CHECKING:
    from pipeline.exchange.ews.gateway import EwsGateway

__all__ = ["EwsConnector", "LiveConnection"]

log = logging.getLogger(__name__)
T = TypeVar("T")

# Every service's ErrorServerBusy keeps the server's BackOffMilliseconds, also when it came in a
# ResponseMessage rather than a SOAP fault (server_busy.py): errors.py turns it into delay_ms.
install_server_busy_back_off()


@dataclass
class _Pool:
    """The live protocol for one (integration, secret) and the Accounts opened on it."""

    # The secret's fingerprint and the logon name form its credentials use.
    fingerprint: str
    config: Configuration
    protocol: Protocol
    accounts: dict[tuple[str, str], Account] = field(default_factory=dict)


@dataclass(frozen=True)
class LiveConnection:
    """What an EWS operation module needs: the Account on the target mailbox and its Protocol."""

    settings: IntegrationSettings
    target: MailboxTarget
    account: Account
    protocol: Protocol

    @property
    def impersonating(self) -> bool:
        return self.account.access_type == "impersonation"


class EwsConnector:
    """Opens pooled EWS connections; one per process, shared by all worker threads."""

    def __init__(
        self,
        secrets: SecretSource,
        *,
        concurrency: int = 4,
        request_timeout_s: float | None = None,
        connect_timeout_s: float | None = None,
        login_forms: LoginFormMemory | None = None,
    ) -> None:
        self._secrets = secrets
        # Process memory only unless given one backed by the results table (Runtime does).
        self._login_forms = login_forms or LoginFormMemory()
        self._delegated = DelegatedTokens(secrets, connect_timeout_s=connect_timeout_s)
        self.max_connections = max(1, concurrency)
        # Calendars found by path or id (ews/folders.py), shared by this process's jobs.
        self.calendars = FolderCache()
        self._timeout = http_timeout(connect_timeout_s, request_timeout_s)
        self._lock = threading.RLock()
        self._pools: dict[tuple[str, str], _Pool] = {}
        self._endpoints: dict[tuple[object, ...], str] = {}
        self._versions: dict[tuple[str, str], Version] = {}
        install_log_scrubbing()

    # The public way in ----------------------------------------------------------------------------

    def gateway(self, settings: IntegrationSettings, mailbox: str | None = None) -> EwsGateway:
        """The gateway an action uses for this integration and job mailbox (cheap: connections are pooled)."""
        from pipeline.exchange.ews.gateway import EwsGateway  # gateway.py builds on this module

        return EwsGateway(self, settings, mailbox)

    def run(
        self,
        settings: IntegrationSettings,
        mailbox: str | None,
        operation: str,
        call: Callable[[LiveConnection], T],
    ) -> T:
        """Run `call` on a live connection, retrying refused credentials (401) a bounded number of times.

        First the secret as cached, in each logon name form it allows (one; two with a domain:
        the remembered form, then the other). Then the secret is re-read once: every form again
        if it changed, else only the first (a stale token or connection, as before). So at most
        2 attempts without a domain, 3 with one, 4 when it was also rotated meanwhile. The form
        that worked is remembered. A refused refresh token (oauth2_delegated) ends at once: its
        secret was already re-read.
        """
        target = resolve_target(settings, mailbox)
        secret_name = settings.secret_name_for(target.user)
        pool_key = (settings.integration_id, secret_name)
        tried: str | None = None  # the fingerprint of the secret as first read
        refused: PermanentError | None = None
        for refresh in (False, True):
            secret = self._secrets.get(secret_name, refresh=refresh)
            forms = self._forms(settings, secret_name, secret)
            if secret.fingerprint == tried:
                forms = forms[:1]
            tried = secret.fingerprint
            for form in forms:
                try:
                    with ews_errors(operation):
                        connection = self._open(settings, target, secret_name, secret, form)
                        with observe_ews_call(operation):
                            result = call(connection)
                except RefreshTokenRefused:
                    with self._lock:
                        self._close(pool_key)
                    raise
                except PermanentError as failure:
                    if failure.code is not ErrorCode.AUTH_FAILED:
                        raise
                    refused = failure
                    if form is not forms[-1]:
                        log.info("EWS %s refused the credentials of %s as %s; trying the other logon name",
                                 operation, settings.integration_id, form)
                    elif not refresh:
                        log.info("EWS %s refused the credentials of %s; refreshing the secret once",
                                 operation, settings.integration_id)
                    with self._lock:
                        self._close(pool_key)
                    continue
                if len(login_forms(secret)) > 1:
                    self._login_forms.remember(settings.integration_id, secret_name, form)
                return result
        assert refused is not None  # every path through the loops tried at least once
        raise PermanentError(
            ErrorCode.AUTH_FAILED, f"{refused.message} (refused again after refreshing the secret)"
        ) from refused

    def open(
        self, settings: IntegrationSettings, mailbox: str | None, *, refresh_secret: bool = False
    ) -> LiveConnection:
        """The pooled connection for this mailbox (built on first use), in the preferred logon form."""
        target = resolve_target(settings, mailbox)
        secret_name = settings.secret_name_for(target.user)
        secret = self._secrets.get(secret_name, refresh=refresh_secret)
        form = self._forms(settings, secret_name, secret)[0]
        return self._open(settings, target, secret_name, secret, form)

    def _open(
        self,
        settings: IntegrationSettings,
        target: MailboxTarget,
        secret_name: str,
        secret: ExchangeSecret,
        form: LoginForm,
    ) -> LiveConnection:
        pool_key = (settings.integration_id, secret_name)
        fingerprint = f"{secret.fingerprint}:{form}"
        access_type = access_type_for(settings)
        with self._lock:
            pool = self._pools.get(pool_key)
            if pool is not None and pool.fingerprint != fingerprint:
                log.info("the secret of %s changed; closing the old EWS protocol", settings.integration_id)
                self._close(pool_key)
                pool = None
            if pool is None:
                credentials = self._credentials(settings, target, secret_name, secret, form)
                pool = self._new_pool(settings, credentials, fingerprint, target.acting_as)
                self._pools[pool_key] = pool
            account = pool.accounts.get((target.mailbox, access_type))
            if account is None:
                account = Account(
                    target.mailbox,
                    config=pool.config,
                    autodiscover=False,
                    access_type=access_type,
                    default_timezone=UTC,
                )
                if account.protocol is not pool.protocol:
                    # Account() looks its protocol up in exchangelib's cache; if ours was evicted
                    # (a shared secret rotated), it built a default one: drop that, use ours.
                    forget_protocol(pool.config, account.protocol)
                    account.protocol = pool.protocol
                pool.accounts[(target.mailbox, access_type)] = account
        return LiveConnection(settings, target, account, pool.protocol)

    def discard(self, settings: IntegrationSettings, mailbox: str | None) -> None:
        """Forget and close the connection used for this mailbox (its whole secret's protocol)."""
        target = resolve_target(settings, mailbox)
        with self._lock:
            self._close((settings.integration_id, settings.secret_name_for(target.user)))

    def endpoint(self, settings: IntegrationSettings, mailbox: str | None = None) -> str:
        """The EWS URL for this integration (autodiscovered once per process when not configured)."""
        if settings.ews_url:
            return settings.ews_url
        target = resolve_target(settings, mailbox)
        secret_name = settings.secret_name_for(target.user)
        secret = self._secrets.get(secret_name)
        form = self._forms(settings, secret_name, secret)[0]
        with ews_errors("Autodiscover"):
            return self._endpoint(
                settings, self._credentials(settings, target, secret_name, secret, form), target.acting_as
            )

    def close_all(self) -> None:
        with self._lock:
            for key in list(self._pools):
                self._close(key)

    # Internals -------------------------------------------------------------------------------------

    def _forms(
        self, settings: IntegrationSettings, secret_name: str, secret: ExchangeSecret
    ) -> tuple[LoginForm, ...]:
        """The logon name forms to try, the remembered one first (the store is asked only when
        the secret allows two)."""
        if len(login_forms(secret)) == 1:
            return login_forms(secret)
        return login_forms(secret, self._login_forms.preferred(settings.integration_id, secret_name))

    def _credentials(
        self,
        settings: IntegrationSettings,
        target: MailboxTarget,
        secret_name: str,
        secret: ExchangeSecret,
        form: LoginForm,
    ) -> BaseCredentials:
        if settings.auth_type is AuthType.OAUTH2_DELEGATED:
            return self._delegated.credentials(settings, secret_name, target.user or target.mailbox)
        return build_credentials(settings, secret, secret_name, logon_name(secret, form))

    def _new_pool(
        self, settings: IntegrationSettings, credentials: BaseCredentials, fingerprint: str, logon_email: str
    ) -> _Pool:
        endpoint = self._endpoint(settings, credentials, logon_email)
        version_key = (settings.integration_id, endpoint)
        config = Configuration(
            service_endpoint=endpoint,
            credentials=credentials,
            auth_type=exchangelib_auth_type(settings.auth_type),
            version=pinned_version(settings.server_version) or self._versions.get(version_key),
            # The pipeline retries via its queue, honouring BackOffMilliseconds; exchangelib must not sleep.
            retry_policy=FailFast(),
            max_connections=self.max_connections,
        )
        wanted = protocol_class(settings)
        with suppress(KeyError):
            cached, _ = Protocol[config]
            if not isinstance(cached, wanted):
                # Same endpoint and credentials under another TLS policy: never share it.
                forget_protocol(config, cached)
        protocol = wanted(config=config)
        if self._timeout is not None:
            # Per protocol, never on the class: exchangelib hands TIMEOUT to every requests call.
            protocol.TIMEOUT = self._timeout
        if protocol.config.version is None or protocol.config.version.build is None:
            with ews_errors("ConvertId (version detection)"):
                self._versions[version_key] = protocol.version  # one round trip, then cached per integration
        return _Pool(fingerprint, config, protocol)

    def _endpoint(self, settings: IntegrationSettings, credentials: BaseCredentials, email: str) -> str:
        if settings.ews_url:
            return settings.ews_url
        key = (
            settings.integration_id,
            settings.autodiscover_url,
            settings.autodiscover_email,
            settings.verify_tls,
        )
        with self._lock:
            known = self._endpoints.get(key)
        if known:
            return known
        email = settings.autodiscover_email or email
        url = discover_ews_url(settings, credentials, email, timeout=self._timeout)
        if not url:
            raise PermanentError(ErrorCode.AUTODISCOVER_FAILED, f"autodiscover gave no EWS URL for {email}")
        with self._lock:
            self._endpoints[key] = url
        return str(url)

    def _close(self, pool_key: tuple[str, str]) -> None:
        pool = self._pools.pop(pool_key, None)
        if pool is not None:
            forget_protocol(pool.config, pool.protocol)
