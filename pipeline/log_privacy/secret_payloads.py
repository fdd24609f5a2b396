"""Secrets Manager payloads never reach a log: botocore's DEBUG records of them are withheld whole.

At DEBUG botocore logs each request ("Making request for OperationModel(...) with params",
"Sending http request: <AWSPreparedRequest ...>") and each response body it parses ("Response
body:"). For Secrets Manager these carry SecretString: GetSecretValue's answer, the request of
PutSecretValue or CreateSecret. A password may hold spaces, quotes, backslashes, braces or
anything else, so no pattern can tell where one ends inside JSON inside a log line (one that
tried stopped at the first space). This filter does not look for secrets in the text: it replaces
the payload of a record, before any handler sees it, when

- the record's operation is Secrets Manager's (a request: its OperationModel's service, or the
  prepared request's X-Amz-Target header), or
- the payload names a secret value field (SecretString, SecretBinary), found by its name in the
  bytes, or by reading them as JSON when they escape characters (a response body says nothing of
  its service).

A record that cannot be checked is withheld too. Only the payloads go; what was called, where,
and how big the payload was stay in the line.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["SECRET_PAYLOAD_LOGGERS", "SecretPayloadFilter", "withhold_secret_payloads"]

# Filters do not inherit to child loggers: each botocore module that logs requests or bodies.
SECRET_PAYLOAD_LOGGERS = ("botocore.endpoint", "botocore.parsers", "botocore.hooks", "botocore.httpchecksum")
_SERVICE = "secretsmanager"
_VALUE_FIELDS = ("SecretString", "SecretBinary")
_WITHHELD = "<withheld: a Secrets Manager payload>"
_UNCHECKED = "<withheld: the record could not be checked for secrets>"


class SecretPayloadFilter(logging.Filter):
    """Replaces the Secrets Manager payloads in a record's message and arguments; never drops it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            _withhold_payloads(record)
        except Exception:  # a filter that raises would fail botocore's call, not just the log line
            record.msg, record.args = _UNCHECKED, None
        return True


def _withhold_payloads(record: logging.LogRecord) -> None:
    if isinstance(record.msg, str | bytes) and _names_a_secret_value(record.msg):
        record.msg, record.args = _WITHHELD, None
        return
    args = record.args
    if not args:
        return
    if isinstance(args, Mapping):  # one mapping argument: the record holds it in place of a tuple
        if _has_value_field(dict(args)) or any(_names_a_secret_value(value) for value in args.values()):
            record.msg, record.args = _WITHHELD, None
        return
    secrets_call = any(_is_secrets_manager_operation(arg) for arg in args)
    record.args = tuple(arg if _is_secrets_manager_operation(arg) else _shown(arg, secrets_call)
                        for arg in args)


def _shown(arg: Any, secrets_call: bool) -> Any:
    """The argument, or a placeholder in its stead when it is (or holds) a Secrets Manager payload."""
    if _is_prepared_request(arg):
        target = _header(arg, "X-Amz-Target")
        if secrets_call or target.startswith(f"{_SERVICE}.") or _names_a_secret_value(arg.body):
            return (f"<AWSPreparedRequest method={arg.method}, url={arg.url}, target={target}: "
                    f"headers and body withheld ({_size(arg.body)})>")
        return arg
    if isinstance(arg, dict) and "body" in arg:  # botocore's request dict
        if secrets_call or _names_a_secret_value(arg["body"]):
            return {**arg, "body": f"{_WITHHELD} ({_size(arg['body'])})"}
        return arg
    if secrets_call and isinstance(arg, str | bytes | bytearray | dict | list):
        return f"{_WITHHELD} ({_size(arg)})"
    if _names_a_secret_value(arg):
        return f"{_WITHHELD} ({_size(arg)})"
    return arg


def _is_secrets_manager_operation(arg: Any) -> bool:
    """An OperationModel of Secrets Manager (botocore logs it beside the request's parameters)."""
    return getattr(getattr(arg, "service_model", None), "service_name", None) == _SERVICE


def _is_prepared_request(arg: Any) -> bool:
    return all(hasattr(arg, name) for name in ("method", "url", "headers", "body"))


def _header(request: Any, name: str) -> str:
    value = request.headers.get(name) if hasattr(request.headers, "get") else None
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("ascii", "replace")
    return str(value or "")


def _size(payload: Any) -> str:
    if isinstance(payload, str):
        return f"{len(payload)} characters"
    if isinstance(payload, bytes | bytearray):
        return f"{len(payload)} bytes"
    return type(payload).__name__


def _names_a_secret_value(payload: Any) -> bool:
    """Whether the payload has a SecretString or SecretBinary field, at any depth."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8", "surrogatepass")
    if isinstance(payload, bytes | bytearray | memoryview):
        raw = bytes(payload)
        if any(field.encode() in raw for field in _VALUE_FIELDS):
            return True
        if b"\\u" not in raw:  # only an escape could spell a field's name otherwise
            return False
        try:
            payload = json.loads(raw)
        except (ValueError, RecursionError):
            return False  # not JSON, and no field named: nothing of a secret value in it
    return _has_value_field(payload)


def _has_value_field(value: Any) -> bool:
    if isinstance(value, dict):
        return any(key in _VALUE_FIELDS or _has_value_field(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(_has_value_field(item) for item in value)
    return False


_INSTALLED: set[str] = set()


def withhold_secret_payloads(names: Iterable[str] = SECRET_PAYLOAD_LOGGERS) -> None:
    """Put the filter on each named logger (process-wide, for every client); idempotent."""
    for name in names:
        if name not in _INSTALLED:
            logging.getLogger(name).addFilter(SecretPayloadFilter())
            _INSTALLED.add(name)
