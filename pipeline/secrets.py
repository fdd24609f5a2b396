"""Exchange credentials from AWS Secrets Manager, read through Powertools Parameters and cached.

A secret's SecretString is a JSON object with any of: username, password, domain (Basic, NTLM),
client_id, client_secret, tenant_id (an OAuth 2.0 app registration) and refresh_token (a user's
delegated OAuth grant, rotated on use and written back with `SecretSource.update`); see
docs/logins.md. Secret values never appear in reprs, logs or errors; errors name the secret id only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from pipeline.errors import ErrorCode, PermanentError, PipelineError, RetryableError
from pipeline.log_privacy.aws_payloads import withhold_aws_payloads
from pipeline.log_privacy.secret_payloads import withhold_secret_payloads

if TYPE_CHECKING:
    # Powertools' parameters package imports boto3 (0.2 s): only a SecretSource needs it, and
    # scrub() is imported by every handler.
    from aws_lambda_powertools.utilities.parameters import SecretsProvider
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    from pipeline.config import PipelineConfig

__all__ = [
    "DEFAULT_MAX_AGE_SECONDS",
    "ExchangeSecret",
    "SecretScrubbingFilter",
    "SecretSource",
    "scrub",
    "scrub_loggers",
    "store_secret",
]

DEFAULT_MAX_AGE_SECONDS = 300
_SECRET_FIELDS = ("password", "client_secret", "refresh_token")
# Credentials that rotate as they are used: a new value is the same identity, not a rotated secret.
_ROTATING_FIELDS = ("refresh_token",)
# Client errors that mean "this secret cannot be read by us"; anything else may pass.
_PERMANENT_CODES = {
    "ResourceNotFoundException",
    "AccessDeniedException",
    "DecryptionFailure",
    "InvalidRequestException",
    "InvalidParameterException",
}


@dataclass(frozen=True, repr=False)
class ExchangeSecret:
    """Credentials for one Exchange identity; printing it shows who, never the secret parts."""

    username: str | None = None
    password: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    tenant_id: str | None = None
    domain: str | None = None
    refresh_token: str | None = None

    @classmethod
    def from_json(cls, name: str, text: str | bytes) -> ExchangeSecret:
        raw = _json_object(name, text)
        known = {f.name for f in fields(cls)}
        values: dict[str, str | None] = {}
        for key in known:
            value = raw.get(key)
            if value is not None and not isinstance(value, str):
                raise PermanentError(ErrorCode.INVALID_INTEGRATION, f"secret {name}: {key} must be a string")
            values[key] = value or None
        return cls(**values)

    @property
    def fingerprint(self) -> str:
        """A short one-way digest that changes when the secret is rotated (for cache keys, not logs).

        A refresh token that rotated on use leaves it unchanged: the identity is the same, and a
        connection built on it stays good."""
        identity = [getattr(self, f.name) for f in fields(self) if f.name not in _ROTATING_FIELDS]
        canonical = json.dumps(identity)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def __repr__(self) -> str:
        shown = ", ".join(f"{f.name}={self._shown(f.name)}" for f in fields(self))
        return f"ExchangeSecret({shown})"

    __str__ = __repr__

    def _shown(self, name: str) -> str:
        value = getattr(self, name)
        return "'***'" if name in _SECRET_FIELDS and value else repr(value)


def _json_object(name: str, text: str | bytes | dict[str, Any]) -> dict[str, Any]:
    """A SecretString's JSON object; errors name the secret, never its text."""
    try:
        raw = json.loads(text) if isinstance(text, str | bytes) else text
    except ValueError:
        raw = None
    if not isinstance(raw, dict):
        raise PermanentError(ErrorCode.INVALID_INTEGRATION, f"secret {name} is not a JSON object") from None
    return raw


class SecretSource:
    """Reads ExchangeSecrets by name, cached for `max_age_seconds`; `refresh=True` forces a fetch."""

    def __init__(
        self,
        provider: SecretsProvider | None = None,
        *,
        boto3_client: Any = None,
        max_age_seconds: int = DEFAULT_MAX_AGE_SECONDS,
    ) -> None:
        from aws_lambda_powertools.utilities.parameters import SecretsProvider

        # An injected client (or provider) lets tests point at moto and Lambda reuse one client.
        self._provider = provider or SecretsProvider(boto3_client=boto3_client)
        self._max_age = max_age_seconds
        # botocore's DEBUG records of Secrets Manager calls carry SecretString: withheld whole.
        withhold_secret_payloads()
        # Every runtime has a secrets source: the same process's other calls (the table, SQS,
        # EventBridge, on injected clients too) carry kwargs, records and events: withheld as well.
        withhold_aws_payloads()

    def get(self, name: str, refresh: bool = False) -> ExchangeSecret:
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        try:
            text = self._provider.get(name, max_age=self._max_age, force_fetch=refresh)
        except GetParameterError as exc:
            raise _secret_error(name, exc) from exc
        if text is None:
            raise PermanentError(ErrorCode.SECRET_NOT_FOUND, f"secret {name} has no value")
        if isinstance(text, dict):  # a provider configured with a transform already parsed it
            text = json.dumps(text)
        return ExchangeSecret.from_json(name, text)

    def update(self, name: str, changes: Mapping[str, str]) -> ExchangeSecret:
        """Write `changes` into the secret as a new version, every other key kept as stored now.

        The current version is read first (not the cached one), so that a change someone made
        meanwhile survives; the cache then holds the new version. Errors name the secret only.
        """
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        try:
            text = self._provider.get(name, max_age=self._max_age, force_fetch=True)
        except GetParameterError as exc:
            raise _secret_error(name, exc) from exc
        if text is None:
            raise PermanentError(ErrorCode.SECRET_NOT_FOUND, f"secret {name} has no value")
        updated = json.dumps({**_json_object(name, text), **changes})
        try:
            self._provider.client.put_secret_value(SecretId=name, SecretString=updated)
        except (ClientError, BotoCoreError) as exc:
            raise _aws_error(name, exc, writing=True) from None  # botocore's text may quote the request
        # The provider's own cache key for get(name) (powertools keeps no public setter for one value).
        self._provider.add_to_cache(key=self._provider._build_cache_key(name=name), value=updated,
                                    max_age=self._max_age)
        return ExchangeSecret.from_json(name, updated)


def _secret_error(name: str, exc: GetParameterError) -> PipelineError:
    return _aws_error(name, exc.__cause__ or exc.__context__, writing=False)


def _aws_error(name: str, cause: BaseException | None, *, writing: bool) -> PipelineError:
    """A failed read or write of a secret: its AWS error code, never botocore's text."""
    done, doing = ("written", "writing") if writing else ("read", "reading")
    if isinstance(cause, ClientError):
        code = str(cause.response.get("Error", {}).get("Code", ""))
        if code in _PERMANENT_CODES:
            return PermanentError(ErrorCode.SECRET_NOT_FOUND, f"secret {name} cannot be {done} ({code})")
        return RetryableError(ErrorCode.STORE_UNAVAILABLE, f"Secrets Manager failed {doing} {name} ({code})")
    if isinstance(cause, BotoCoreError):
        return RetryableError(
            ErrorCode.STORE_UNAVAILABLE,
            f"Secrets Manager unreachable {doing} {name} ({type(cause).__name__})",
        )
    return PermanentError(ErrorCode.SECRET_NOT_FOUND, f"secret {name} cannot be {done}")


def secrets_client(config: PipelineConfig) -> Any:
    """A Secrets Manager client for the configured region and endpoint (moto server when set)."""
    from pipeline.aws_clients import aws_client  # boto3; scrub() alone, which handlers import, needs none

    return aws_client("secretsmanager", config)


def store_secret(client: Any, name: str, text: str) -> bool:
    """Create the secret, or add `text` as its new version; True when it was created.

    `text` is checked to be a credentials object first. Errors name the secret, never its text.
    """
    ExchangeSecret.from_json(name, text)
    try:
        client.create_secret(Name=name, SecretString=text)
        return True
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code", "")) != "ResourceExistsException":
            raise _aws_error(name, exc, writing=True) from None
    except BotoCoreError as exc:
        raise _aws_error(name, exc, writing=True) from None
    try:
        client.put_secret_value(SecretId=name, SecretString=text)
    except (ClientError, BotoCoreError) as exc:
        raise _aws_error(name, exc, writing=True) from None
    return False


# Keeping credentials out of logs -----------------------------------------------------------------
# The patterns below redact what libraries log of a connection: Authorization headers and OAuth
# tokens, whose values are URL-safe by construction. A secret's own text (a password may hold
# anything) is never matched by a pattern: the records that carry it, botocore's of Secrets
# Manager calls, are withheld whole (pipeline.log_privacy.secret_payloads).

_SECRET_PATTERNS = (
    re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(basic|bearer|ntlm|negotiate)?\s*[^'\",}\s]+"),
    re.compile(r"(?i)\b(basic|bearer|ntlm|negotiate)\s+[A-Za-z0-9+/=._\-~]{8,}"),
    # Quotes escaped with backslashes too: a token in JSON inside JSON.
    re.compile(
        r"(?i)((?:password|passwd|client_secret|access_token|refresh_token)[\\'\"]*\s*[:=]\s*[\\'\"]*)"
        r"[^\\'\"&,}\s]+"
    ),
)


def scrub(text: str) -> str:
    """Text with anything that looks like a credential replaced by ***."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.lastindex and m.group(1) else "") + "***", text)
    return text


class SecretScrubbingFilter(logging.Filter):
    """Redacts credentials from library debug records (request headers, response bodies, tokens)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.msg = record.getMessage()
            record.args = None
        record.msg = scrub(str(record.msg))
        return True


_SCRUBBED: set[str] = set()


def scrub_loggers(names: Iterable[str]) -> None:
    """Attach the filter to each named logger (filters do not inherit to child loggers); idempotent."""
    for name in names:
        if name not in _SCRUBBED:
            logging.getLogger(name).addFilter(SecretScrubbingFilter())
            _SCRUBBED.add(name)
