"""msal's HTTP client, and what a token answer that is not JSON stands for.

msal takes an `http_client`; this one is the connector's pooled requests.Session with TLS
verification and a timeout on every call (msal's own session would lose its `verify` to
REQUESTS_CA_BUNDLE). msal reads every token answer below 500 as JSON: a proxy's or a portal's
HTML page makes it raise ValueError (an INTERNAL error for the job) and log the page at ERROR.
TokenHttp tells such an answer first, by its status, and it is mapped as EWS maps it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import requests

from pipeline.errors import ErrorCode, PipelineError, RetryableError
from pipeline.exchange.graph.errors import GraphUnauthorized

if TYPE_CHECKING:
    from pipeline.exchange.graph.client import GraphTimeout

__all__ = ["DEFAULT_TOKEN_TIMEOUT_S", "TokenAnswerNotJson", "TokenHttp", "not_json_failure"]

DEFAULT_TOKEN_TIMEOUT_S = 30.0


class TokenAnswerNotJson(requests.exceptions.InvalidJSONError):
    """The token endpoint answered below 500 with a body that is not JSON (a proxy's or a portal's
    page). msal would raise ValueError on it, and log the page at ERROR; TokenHttp raises this
    instead, with the status, so that the answer is mapped as EWS maps it (not_json_failure)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"the token endpoint's answer (HTTP {status}) is not JSON")
        self.status = status


def not_json_failure(status: int, whose: str) -> PipelineError:
    """As for EWS (oauthlib's MissingTokenError, delegated_oauth.py): a 4xx without JSON is the
    endpoint refusing the credentials, any other status without a token an outage."""
    if 400 <= status < 500:
        return GraphUnauthorized(f"{whose} refused the credentials (HTTP {status}, not JSON)")
    return RetryableError(ErrorCode.EWS_UNAVAILABLE, f"{whose} gave no token (HTTP {status}, not JSON)")


class TokenHttp:
    """msal's HTTP client over a shared session. A token answer below 500 that is not JSON raises
    TokenAnswerNotJson (a RequestException, on which msal uses a token it still has, if any)."""

    def __init__(self, session: requests.Session, verify: bool | str, timeout: GraphTimeout | None) -> None:
        self._session = session
        self._verify = verify
        self._timeout = timeout or DEFAULT_TOKEN_TIMEOUT_S

    def post(self, url: str, params: Any = None, data: Any = None, headers: Any = None, **kwargs: Any) -> Any:
        reply = self._session.post(url, params=params, data=data, headers=headers, verify=self._verify,
                                   timeout=self._timeout)
        if reply.status_code < 500 and not _is_json(reply):
            raise TokenAnswerNotJson(reply.status_code)
        return reply

    def get(self, url: str, params: Any = None, headers: Any = None, **kwargs: Any) -> Any:
        return self._session.get(url, params=params, headers=headers, verify=self._verify,
                                 timeout=self._timeout)

    def close(self) -> None:  # the session is the connector's
        pass


def _is_json(reply: requests.Response) -> bool:
    try:
        json.loads(reply.text)
    except ValueError:
        return False
    return True
