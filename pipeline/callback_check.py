"""The connectivity check: GET `{callback_base_url}/check/{integration_id}`.

Exchange admins run it from the Exchange server (SmartRecruiters' help page asks them to) to
prove that the server can reach the callback function through their proxies and firewalls,
before any subscription depends on it. A known integration answers 200 with a fixed sentence
naming it; anything else answers 404 "Not found".

What the answer must not do is tell a guessed integration id from a real one by anything but the
status: the same store lookup is made for every request (also for a malformed id, which is never
handed to the store), and both answers carry the same headers (the handler's) and a body that
says nothing beyond success or "Not found".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pipeline.integrations import is_integration_id
from pipeline.store.base import ResultsStore

__all__ = ["CHECK_CONTENT_TYPE", "CheckAnswer", "check_connectivity", "check_url"]

log = logging.getLogger(__name__)

CHECK_CONTENT_TYPE = "text/plain; charset=utf-8"
NOT_FOUND_TEXT = "Not found"
# Looked up in place of a malformed id, so that it costs the same as a well-formed one. Its shape
# is valid (the store may be handed it); a record by this id would still not count (see below).
_STAND_IN_ID = "connectivity-check-stand-in"


@dataclass(frozen=True)
class CheckAnswer:
    """The HTTP status (200 or 404) and plain-text body of a connectivity check."""

    status: int
    text: str


def check_url(base_url: str, integration_id: str) -> str:
    """The URL an Exchange admin opens to check that the callback function is reachable."""
    return f"{base_url.rstrip('/')}/check/{integration_id}"


def check_connectivity(integration_id: str, *, store: ResultsStore) -> CheckAnswer:
    """Answer a connectivity check for `integration_id`: 200 if it is a stored integration, else 404.

    Raises RetryableError(STORE_UNAVAILABLE) when the table cannot be reached.
    """
    well_formed = is_integration_id(integration_id)
    record = store.get_integration_record(integration_id if well_formed else _STAND_IN_ID)
    found = well_formed and record is not None
    # One log line either way (the same work on both paths); a malformed id is not echoed.
    log.info("connectivity check for integration %s: %s",
             integration_id if well_formed else "(malformed id)", "found" if found else "not found")
    if not found:
        return CheckAnswer(404, NOT_FOUND_TEXT)
    return CheckAnswer(200, f"You have successfully reached ews-pipeline, integration is: {integration_id}")
