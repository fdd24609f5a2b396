"""Graph failures as the simulator raises them, and the OData error body they render as.

Microsoft Graph answers an error with a standard HTTP status and a JSON body
``{"error": {"code", "message", "innerError": {"date", "request-id", "client-request-id"}}}``
(https://learn.microsoft.com/en-us/graph/errors). Codes used here, each where Graph uses it:

- 400 BadRequest, ErrorInvalidRequest, ErrorInvalidIdMalformed, ErrorInvalidUrlQueryFilter;
- 401 InvalidAuthenticationToken (no, unknown, expired or other-audience token);
- 403 ErrorAccessDenied (Outlook resources: a missing Calendars.* role, or a mailbox outside the
  app's application access policy: "Access to OData is disabled."), Authorization_RequestDenied
  (directory resources: a missing Place.Read.All / User.Read.All role);
- 404 ErrorInvalidUser (no such mailbox), ErrorItemNotFound, ResourceNotFound;
- 410 SyncStateNotFound (a delta token Graph no longer knows:
  https://github.com/microsoftgraph/microsoft-graph-docs/issues/2350);
- 412 ErrorIrresolvableConflict (If-Match change key is stale);
- 429 ApplicationThrottled / TooManyRequests with Retry-After
  (https://learn.microsoft.com/en-us/graph/throttling), 503 ServiceUnavailable with Retry-After.
"""

from __future__ import annotations

from typing import Any

from infra.ewssim.errors import EwsError

__all__ = ["DroppedRequest", "GraphError", "from_ews_error", "odata_error"]


class GraphError(Exception):
    """A Graph request that fails: HTTP status, OData code and message, optional extra headers."""

    def __init__(
        self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


class DroppedRequest(Exception):
    """The fault plan says: close the connection without an answer."""


def odata_error(
    code: str, message: str, *, date: str, request_id: str, client_request_id: str
) -> dict[str, Any]:
    """The JSON body of a Graph error response."""
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {"date": date, "request-id": request_id, "client-request-id": client_request_id},
        }
    }


# EWS response codes that the Outlook workload passes through Graph, with Graph's HTTP status.
_STATUS_BY_EWS_CODE = {
    "ErrorItemNotFound": 404,
    "ErrorFolderNotFound": 404,
    "ErrorAccessDenied": 403,
    "ErrorInvalidIdMalformed": 400,
    "ErrorChangeKeyRequiredForWriteOperations": 400,
    "ErrorIrresolvableConflict": 412,
}
# Graph's wording for EWS errors it re-labels (the attendee-cancels message is from event: cancel,
# https://learn.microsoft.com/en-us/graph/api/event-cancel).
_RENAMED = {
    "ErrorNonExistentMailbox": (404, "ErrorInvalidUser", "The requested user is invalid."),
    "ErrorCalendarIsNotOrganizer": (
        400,
        "ErrorAccessDenied",
        "Your request can't be completed. You need to be an organizer to cancel a meeting.",
    ),
    "ErrorFolderNotFound": (404, "ErrorItemNotFound", "The specified object was not found in the store."),
}


def from_ews_error(error: EwsError) -> GraphError:
    """The Graph failure for an error the shared Exchange model raised."""
    if error.code in _RENAMED:
        status, code, message = _RENAMED[error.code]
        return GraphError(status, code, message)
    return GraphError(_STATUS_BY_EWS_CODE.get(error.code, 400), error.code, error.message)
