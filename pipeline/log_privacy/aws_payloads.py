"""What the pipeline sends AWS and hears back never reaches a log: botocore's DEBUG payloads are withheld.

At DEBUG botocore logs each call's parameters, endpoint's "Making request for OperationModel(name=
PutItem) with params: {'url_path': ..., 'query_string': ..., 'body': b'{...}', ...}", and each
response body it parses, parsers' "Response body:\\n b'{...}'". For DynamoDB these carry job kwargs
and results, booking records and events (mailboxes, attendees, subjects); for SQS the job messages;
for EventBridge the event entries. Personal data has no shape a pattern could find, so this filter
does not look for any: it withholds every payload, for every service, and keeps what was called.

- "Making request": the OperationModel stays (its repr names the operation), and of the request
  only the method, the endpoint's scheme and host and the X-Amz-Target header; the path (a REST
  service's names an object), query string and body are withheld, the body's size kept.
- "Response body": the body is withheld, its size kept. "Response headers" stays (headers of
  text only): it holds the request id, and no payload.
- Any other bytes argument is withheld; a record whose exception comes from parsing a response
  (ResponseParserError quotes the body) keeps the exception's type only.

The prepared request ("Sending http request") is left to the credentials filter: its repr holds
no body. A record that cannot be checked is withheld whole; none is dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

__all__ = ["AWS_PAYLOAD_LOGGERS", "AwsPayloadFilter", "withhold_aws_payloads"]

# Filters do not inherit to child loggers: the botocore modules that log request or response payloads.
AWS_PAYLOAD_LOGGERS = ("botocore.endpoint", "botocore.parsers")
_REQUEST_PREFIX = "Making request for"
_RESPONSE_BODY_PREFIX = "Response body"
_WITHHELD = "<withheld"
_UNCHECKED = "<withheld: the record could not be checked for AWS payloads>"


class AwsPayloadFilter(logging.Filter):
    """Replaces the payloads in botocore's records with their size; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            _withhold_payloads(record)
        except Exception:  # a filter that raises would fail botocore's call, not just the log line
            record.msg, record.args = _UNCHECKED, None
        return True


def _withhold_payloads(record: logging.LogRecord) -> None:
    if not isinstance(record.msg, str):
        record.msg, record.args = _UNCHECKED, None
        return
    if record.exc_info and _is_parser_error(record.exc_info[1]):
        record.msg = f"{record.msg} ({type(record.exc_info[1]).__name__}: its text withheld)"
        record.exc_info, record.exc_text = None, None
    args = record.args
    if not args:
        return
    if isinstance(args, Mapping):  # one mapping argument (a record holds it in place of a tuple)
        record.args = _shown_mapping(args)
        return
    if not isinstance(args, tuple):
        record.msg, record.args = _UNCHECKED, None
        return
    if record.msg.startswith(_RESPONSE_BODY_PREFIX):
        record.args = tuple(_withheld(arg) for arg in args)
    elif record.msg.startswith(_REQUEST_PREFIX):
        record.args = tuple(_request_summary(a) if isinstance(a, Mapping) else _shown(a) for a in args)
    else:
        record.args = tuple(_shown(arg) for arg in args)


def _is_parser_error(error: BaseException | None) -> bool:
    return type(error).__name__ == "ResponseParserError"


def _shown(arg: Any) -> Any:
    if isinstance(arg, bytes | bytearray | memoryview):
        return _withheld(arg)
    if isinstance(arg, Mapping) and "body" in arg:  # a request dict, in a record of another wording
        return _request_summary(arg)
    return arg


def _shown_mapping(args: Mapping[str, Any]) -> Mapping[str, Any]:
    """A request dict summarised; headers (the response's: its request id) kept when they hold
    only text; anything else withheld."""
    if "body" in args:
        return _request_summary(args)
    if all(isinstance(value, str | int) for value in args.values()):
        return args
    return {"withheld": _withheld(args)}


def _request_summary(request: Mapping[str, Any]) -> dict[str, Any]:
    """botocore's request dict, reduced to what names the call: method, endpoint, target, body size."""
    url = urlsplit(str(request.get("url", "")))
    headers = request.get("headers")
    target = headers.get("X-Amz-Target") if isinstance(headers, Mapping) else None
    summary: dict[str, Any] = {"method": request.get("method"), "url": f"{url.scheme}://{url.netloc}"}
    if target is not None:
        summary["X-Amz-Target"] = target
    if url.path not in ("", "/") or request.get("url_path") not in (None, "", "/"):
        summary["url_path"] = f"{_WITHHELD}>"
    if request.get("query_string"):
        summary["query_string"] = f"{_WITHHELD}>"
    summary["body"] = _withheld(request.get("body"))
    return summary


def _withheld(payload: Any) -> str:
    if isinstance(payload, str):
        return f"{_WITHHELD}: {len(payload)} characters>"
    if isinstance(payload, bytes | bytearray | memoryview):
        return f"{_WITHHELD}: {len(bytes(payload))} bytes>"
    return f"{_WITHHELD}: a {type(payload).__name__}>"


_INSTALLED: set[str] = set()


def withhold_aws_payloads(names: Iterable[str] = AWS_PAYLOAD_LOGGERS) -> None:
    """Put the filter on each named logger (process-wide, for every client); idempotent."""
    for name in names:
        if name not in _INSTALLED:
            logging.getLogger(name).addFilter(AwsPayloadFilter())
            _INSTALLED.add(name)
