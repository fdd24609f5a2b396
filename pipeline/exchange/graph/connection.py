"""From "an integration and a mailbox" to an authenticated Graph request, pooled across jobs.

One GraphConnector lives per warm process (built on the first Graph integration it meets, see
pipeline/exchange/connectors.py). It holds:

- one msal ConfidentialClientApplication per (authority, tenant, client id, secret fingerprint),
  built with `instance_discovery=False` on `{oauth_authority}/{tenant}` so that it asks only the
  configured authority (a national cloud, or a local one) for its openid-configuration. A rotated
  secret has another fingerprint, hence a new application and a new token cache.
  `acquire_token_for_client` looks in that application's token cache first and asks the token
  endpoint only on a miss ("Since MSAL Python 1.23, it will automatically look for token from
  cache", msal/application.py); a cached token within 5 minutes of its expiry counts as expired
  and is replaced (`_acquire_token_silent_from_cache_and_possibly_refresh_it`: "if expires_in <
  5*60: consider it expired"), so no request leaves with a dying token: one token per tenant
  and app, refreshed before it expires.
- delegated tokens (personal, oauth2_delegated) from each user's refresh token, through msal's
  `acquire_token_by_refresh_token` (delegated.py), the rotated refresh token written back.
- one GraphClient: the pooled requests.Session and the per-mailbox concurrency slots.

A 401 from Graph re-reads the secret and starts a new msal application (an empty token cache)
once, then reports AUTH_FAILED, as EwsConnector does.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import msal
import requests

from pipeline.errors import ErrorCode, PermanentError, PipelineError, RetryableError
from pipeline.exchange.ews.folder_cache import FolderCache
from pipeline.exchange.graph.client import BatchAnswer, BatchRequest, GraphClient, GraphTimeout
from pipeline.exchange.graph.errors import GraphUnauthorized, from_transport
from pipeline.exchange.graph.ids import IdCache
from pipeline.exchange.graph.paths import mailbox_path
from pipeline.exchange.graph.token_http import TokenAnswerNotJson, TokenHttp, not_json_failure
from pipeline.exchange.targets import resolve_target
from pipeline.exchange.types import MailboxTarget
from pipeline.integrations import AuthType, ConnectionMethod, IntegrationSettings
from pipeline.log_privacy.graph_requests import withhold_graph_request_details
from pipeline.secrets import ExchangeSecret, SecretSource

if TYPE_CHECKING:
    from pipeline.exchange.graph.delegated import DelegatedGraphTokens
    from pipeline.exchange.graph.gateway import GraphGateway

__all__ = ["GRAPH_SCOPE", "GraphConnector", "GraphLive"]

log = logging.getLogger(__name__)
T = TypeVar("T")

# App-only: every application permission the admin granted the app (learn.microsoft.com/entra/
# identity-platform/scopes-oidc#the-default-scope).
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
_DEFAULT_TIMEOUT_S = 30.0
_APP_REFUSED = {"invalid_client", "unauthorized_client", "invalid_request", "invalid_grant",
                "unauthorized_client_application"}


@dataclass(frozen=True)
class GraphLive:
    """What a Graph operation module needs: the settings, the target, a token and the client."""

    settings: IntegrationSettings
    target: MailboxTarget
    token: str
    client: GraphClient
    ids: IdCache
    calendars: FolderCache

    @property
    def root(self) -> str:
        return self.settings.graph_url.rstrip("/")

    @property
    def user_path(self) -> str:
        """The path of the target mailbox: /users/{address} (a delegated token may use it too)."""
        return mailbox_path(self.target.mailbox)

    def user(self, mailbox: str) -> str:
        """The path of a mailbox: /users/{address}, lower-case."""
        return mailbox_path(mailbox.lower())

    def request(
        self, method: str, path: str, operation: str, *, mailbox: str | None = None,
        params: Mapping[str, str] | None = None, body: Any = None, headers: Mapping[str, str] | None = None,
    ) -> Any:
        """One request to `path` (below the Graph root); the JSON body of the answer (None if empty)."""
        _status, answer, _headers = self.client.request(
            method, self.url(path), token=self.token, operation=operation,
            slot=self._slot(mailbox), verify_tls=self.settings.verify_tls, params=params, body=body,
            headers={"Prefer": 'outlook.timezone="UTC"', **(headers or {})},
        )
        return answer

    def url(self, path: str) -> str:
        """The URL of a path below the root; a link Graph gave (nextLink, deltaLink) as it is, but
        only below the configured root: the token never travels anywhere else."""
        if not path.startswith(("https://", "http://")):
            return self.root + path
        if not path.startswith(self.root + "/"):
            raise PermanentError(ErrorCode.SYNC_STATE_INVALID, "a Graph link outside graph_url was refused")
        return path

    def batch(self, requests_: list[BatchRequest], operation: str, *, mailbox: str | None = None,
              ) -> list[BatchAnswer]:
        """$batch of `requests_` (20 per request), answers in order with their own statuses."""
        return self.client.batch(self.root, requests_, token=self.token, operation=operation,
                                 slot=self._slot(mailbox), verify_tls=self.settings.verify_tls)

    def _slot(self, mailbox: str | None) -> tuple[str, str]:
        # Outlook counts concurrency per app and mailbox; the integration stands for its app.
        return (self.settings.integration_id, (mailbox or self.target.mailbox).lower())


class GraphConnector:
    """Opens authenticated Graph calls; one per process, shared by all worker threads."""

    def __init__(
        self,
        secrets: SecretSource,
        *,
        concurrency: int = 4,
        request_timeout_s: float | None = None,
        connect_timeout_s: float | None = None,
        ca_bundle: str | None = None,
    ) -> None:
        # urllib3 logs each request line at DEBUG, and Graph's name the mailbox: not in our logs.
        withhold_graph_request_details()
        self._secrets = secrets
        self.max_connections = max(1, concurrency)
        read = request_timeout_s or _DEFAULT_TIMEOUT_S
        timeout: GraphTimeout = (connect_timeout_s, read) if connect_timeout_s else read
        self.client = GraphClient(pool_size=self.max_connections, timeout=timeout, ca_bundle=ca_bundle)
        self.ids = IdCache()
        self.calendars = FolderCache()
        self._lock = threading.RLock()
        self._apps: dict[tuple[str, str, str, str, bool], msal.ConfidentialClientApplication] = {}
        self._delegated: DelegatedGraphTokens | None = None

    # The public way in ----------------------------------------------------------------------------

    def gateway(self, settings: IntegrationSettings, mailbox: str | None = None) -> GraphGateway:
        """The gateway an action uses for this integration and job mailbox (cheap: the session is pooled)."""
        from pipeline.exchange.graph.gateway import GraphGateway

        return GraphGateway(self, settings, mailbox)

    def run(
        self, settings: IntegrationSettings, mailbox: str | None, call: Callable[[GraphLive], T]
    ) -> T:
        """Run `call` with a token; a 401 re-reads the secret and fetches a new token once."""
        target = resolve_target(settings, mailbox)
        refused: GraphUnauthorized | None = None
        for refresh in (False, True):
            try:
                token = self._token(settings, target, refresh=refresh)
                return call(GraphLive(settings, target, token, self.client, self.ids, self.calendars))
            except GraphUnauthorized as failure:
                refused = failure
                if not refresh:
                    log.info("Graph refused the token of %s; refreshing the secret and the token once",
                             settings.integration_id)
        assert refused is not None
        raise PermanentError(
            ErrorCode.AUTH_FAILED, f"{refused.message} (refused again after refreshing the secret)"
        ) from refused

    def token_for(self, settings: IntegrationSettings, mailbox: str | None) -> str:
        """The access token this integration's calls for `mailbox` carry (for probes and tests)."""
        return self._token(settings, resolve_target(settings, mailbox), refresh=False)

    def close_all(self) -> None:
        with self._lock:
            self._apps.clear()
        self.client.close()

    # Tokens --------------------------------------------------------------------------------------

    def _token(self, settings: IntegrationSettings, target: MailboxTarget, *, refresh: bool) -> str:
        if settings.connection_method is ConnectionMethod.PERSONAL:
            return self._delegated_tokens().access_token(settings, target.mailbox, refresh=refresh)
        if settings.auth_type is not AuthType.OAUTH2:
            raise PermanentError(ErrorCode.INVALID_INTEGRATION, "Graph integrations use auth_type oauth2")
        secret_name = settings.secret_name or ""
        secret = self._secrets.get(secret_name, refresh=refresh)
        app = self.application(settings, secret_name, secret, fresh=refresh)
        whose = f"the token endpoint for integration {settings.integration_id}"
        try:
            answer = app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
        except TokenAnswerNotJson as exc:
            failure = not_json_failure(exc.status, whose)
        except requests.RequestException as exc:
            failure = from_transport("token request", exc)
        else:
            return token_from(answer, whose)
        # Outside the handler: no __context__ holding the token request (its client secret).
        raise failure

    def application(
        self, settings: IntegrationSettings, secret_name: str, secret: ExchangeSecret, *, fresh: bool = False
    ) -> msal.ConfidentialClientApplication:
        """The msal application for this app registration and secret (fresh: a new, empty cache)."""
        if not (secret.client_id and secret.client_secret):
            raise PermanentError(
                ErrorCode.INVALID_INTEGRATION, f"secret {secret_name} needs client_id and client_secret"
            )
        tenant = secret.tenant_id or settings.oauth_tenant_id or ""
        authority = f"{settings.oauth_authority.rstrip('/')}/{tenant}"
        key = (authority, tenant, secret.client_id, secret.fingerprint, settings.verify_tls)
        with self._lock:
            app = None if fresh else self._apps.get(key)
            if app is None:
                failure: PipelineError | None = None
                try:
                    app = msal.ConfidentialClientApplication(
                        secret.client_id,
                        client_credential=secret.client_secret,
                        authority=authority,
                        instance_discovery=False,
                        http_client=TokenHttp(self.client.session, self.client.verify(settings.verify_tls),
                                              self.client.timeout),
                    )
                except requests.RequestException as exc:
                    failure = from_transport("openid-configuration", exc)
                except ValueError as exc:
                    # msal refuses an authority it cannot use (http, or no openid-configuration).
                    failure = PermanentError(
                        ErrorCode.INVALID_INTEGRATION,
                        f"integration {settings.integration_id}: msal refused the authority "
                        f"({type(exc).__name__})",
                    )
                if failure is not None:  # raised here: no __context__ quoting msal's or requests' text
                    raise failure
                self._apps[key] = app
        return app

    def _delegated_tokens(self) -> DelegatedGraphTokens:
        from pipeline.exchange.graph.delegated import DelegatedGraphTokens

        with self._lock:
            if self._delegated is None:
                self._delegated = DelegatedGraphTokens(self._secrets, self)
            return self._delegated


def token_from(answer: Mapping[str, Any] | None, whose: str) -> str:
    """The access token of an msal answer, or the PipelineError its error stands for."""
    answer = answer or {}
    token = answer.get("access_token")
    if isinstance(token, str) and token:
        return token
    error = str(answer.get("error") or "no access token")
    codes = answer.get("error_codes") or ()
    detail = f"{error}, AADSTS{codes[0]}" if codes else error
    if error in _APP_REFUSED:
        raise GraphUnauthorized(f"{whose} refused the credentials ({detail})")
    raise RetryableError(ErrorCode.EWS_UNAVAILABLE, f"{whose} gave no token ({detail})")
