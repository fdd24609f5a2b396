"""AWS credentials never reach a log: botocore's DEBUG records of signed requests are redacted.

At DEBUG botocore logs every request it sends, for every service: endpoint's "Sending http
request: <AWSPreparedRequest ... headers={...}>" holds the `X-Amz-Security-Token` header (a
Lambda function's or an assumed role's session token: a credential) and `Authorization`, and
auth's "CanonicalRequest:" lists the signed headers one per line, the token among them.

The filter does not search the text for something token-shaped. It rewrites what it knows by
name: the prepared request's headers, and the canonical request's header lines. A record that
cannot be checked is withheld whole; none is dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from botocore.awsrequest import AWSPreparedRequest

__all__ = ["AWS_CREDENTIAL_LOGGERS", "AwsCredentialFilter", "withhold_aws_credentials"]

# Filters do not inherit to child loggers: the two modules that log signed requests.
AWS_CREDENTIAL_LOGGERS = ("botocore.endpoint", "botocore.auth")
# Lower-case header names: HTTP header names are case-insensitive, and canonical requests use these.
CREDENTIAL_HEADERS = frozenset({"x-amz-security-token", "authorization"})
_WITHHELD = "<withheld>"
_UNCHECKED = "<withheld: the record could not be checked for AWS credentials>"


class AwsCredentialFilter(logging.Filter):
    """Replaces credential headers in a record's arguments with a placeholder; never drops it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            if isinstance(record.args, tuple):
                record.args = tuple(_redacted(arg) for arg in record.args)
        except Exception:  # a filter that raises would fail botocore's call, not just the log line
            record.msg, record.args = _UNCHECKED, None
        return True


def _redacted(arg: Any) -> Any:
    if isinstance(arg, AWSPreparedRequest):
        return _prepared_request(arg)
    if isinstance(arg, str) and "\n" in arg:
        return _canonical_request(arg)
    return arg


def _prepared_request(request: AWSPreparedRequest) -> str:
    """The request's own repr, with its credential headers withheld (the request is left as it is)."""
    headers = {
        name: _WITHHELD if name.lower() in CREDENTIAL_HEADERS else value
        for name, value in request.headers.items()
    }
    return (
        f"<AWSPreparedRequest stream_output={request.stream_output}, method={request.method}, "
        f"url={request.url}, headers={headers}>"
    )


def _canonical_request(text: str) -> str:
    """A canonical request's `name:value` header lines, with the credential headers' values withheld."""
    lines = text.split("\n")
    for index, line in enumerate(lines):
        name, colon, _ = line.partition(":")
        if colon and name.strip().lower() in CREDENTIAL_HEADERS:
            lines[index] = f"{name}:{_WITHHELD}"
    return "\n".join(lines)


_INSTALLED: set[str] = set()


def withhold_aws_credentials(names: Iterable[str] = AWS_CREDENTIAL_LOGGERS) -> None:
    """Put the filter on each named logger (process-wide, for every client); idempotent."""
    for name in names:
        if name not in _INSTALLED:
            logging.getLogger(name).addFilter(AwsCredentialFilter())
            _INSTALLED.add(name)
