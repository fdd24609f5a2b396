"""Delegated Graph tokens (personal connections, auth_type oauth2_delegated): each user's refresh
token, redeemed with msal's `acquire_token_by_refresh_token`, the rotated one written back.

The app registration is in the integration's `secret_name` (client_id, client_secret); each
user's secret (personal_secret_template) holds `refresh_token`, as on EWS (ews/delegated_oauth.py).
An access token is kept per user until 5 minutes before it expires (msal's own margin). A refresh
token refused with invalid_grant is re-read from its secret once (another process may have
rotated it) and tried again if it changed; refused again is a permanent AUTH_FAILED that the
connector does not retry. A rotated refresh token whose write-back fails is kept in memory for
the next redemption.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

import requests

from pipeline.errors import ErrorCode, PermanentError, PipelineError
from pipeline.exchange.graph.errors import from_transport
from pipeline.exchange.graph.token_http import TokenAnswerNotJson, not_json_failure
from pipeline.integrations import IntegrationSettings
from pipeline.secrets import SecretSource

if TYPE_CHECKING:
    from pipeline.exchange.graph.connection import GraphConnector

__all__ = ["DelegatedGraphTokens"]

log = logging.getLogger(__name__)
_MARGIN_S = 300


class DelegatedGraphTokens:
    """Access tokens per user secret; thread-safe, one redemption at a time per secret."""

    def __init__(self, secrets: SecretSource, connector: GraphConnector) -> None:
        self._secrets = secrets
        self._connector = connector
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._tokens: dict[str, tuple[str, float]] = {}
        self._unsaved: dict[str, str] = {}

    def access_token(self, settings: IntegrationSettings, mailbox: str, *, refresh: bool) -> str:
        secret_name = settings.secret_name_for(mailbox)
        with self._lock_for(secret_name):
            cached = self._tokens.get(secret_name)
            if cached is not None and not refresh and cached[1] > time.time():
                return cached[0]
            self._tokens.pop(secret_name, None)
            tried: list[str] = []
            refused = "invalid_grant"
            for token in self._candidates(secret_name):
                if token in tried:
                    continue
                tried.append(token)
                answer = self._redeem(settings, token, fresh=refresh)
                if "access_token" not in answer:
                    refused = str(answer.get("error") or "invalid_grant")
                    self._unsaved.pop(secret_name, None)
                    if refused != "invalid_grant":
                        break
                    continue
                self._keep(settings, secret_name, token, answer)
                lifetime = int(answer.get("expires_in") or 3600)
                self._tokens[secret_name] = (str(answer["access_token"]), time.time() + lifetime - _MARGIN_S)
                return str(answer["access_token"])
        if not tried:
            raise PermanentError(ErrorCode.INVALID_INTEGRATION,
                                 f"secret {secret_name} needs refresh_token for oauth2_delegated")
        raise PermanentError(
            ErrorCode.AUTH_FAILED,
            f"the token endpoint refused the refresh token for {mailbox} ({refused}): the user must "
            "connect their mailbox again",
        )

    def _lock_for(self, secret_name: str) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(secret_name, threading.Lock())

    def _candidates(self, secret_name: str) -> Any:
        pending = self._unsaved.get(secret_name)
        if pending:
            yield pending
        for refresh in (False, True):
            token = self._secrets.get(secret_name, refresh=refresh).refresh_token
            if token:
                yield token

    def _redeem(self, settings: IntegrationSettings, refresh_token: str, *, fresh: bool) -> dict[str, Any]:
        from pipeline.exchange.graph.connection import GRAPH_SCOPE

        name = settings.secret_name or ""
        app_secret = self._secrets.get(name, refresh=fresh)
        app = self._connector.application(settings, name, app_secret, fresh=fresh)
        try:
            answer = app.acquire_token_by_refresh_token(refresh_token, scopes=[GRAPH_SCOPE])
        except TokenAnswerNotJson as exc:
            if 400 <= exc.status < 500:  # a refusal, as delegated_oauth.py reads it for EWS: "HTTP 400"
                return {"error": f"HTTP {exc.status}"}
            failure = not_json_failure(exc.status, "the token endpoint")
        except requests.RequestException as exc:
            failure = from_transport("token request", exc)
        else:
            return dict(answer or {})
        # Outside the handler: no __context__ holding the request (the refresh token, the secret).
        raise failure

    def _keep(
        self, settings: IntegrationSettings, secret_name: str, used: str, answer: dict[str, Any]
    ) -> None:
        rotated = answer.get("refresh_token")
        if not isinstance(rotated, str) or not rotated or rotated == used:
            self._unsaved.pop(secret_name, None)
            return
        try:
            self._secrets.update(secret_name, {"refresh_token": rotated})
        except PipelineError as failure:
            self._unsaved[secret_name] = rotated
            log.warning("integration %s: a rotated refresh token was not saved (%s); kept in memory",
                        settings.integration_id, failure.code)
            return
        self._unsaved.pop(secret_name, None)
