"""EWS failures as the simulator raises them: each carries the EWS response code."""

from __future__ import annotations

__all__ = [
    "EwsError",
    "RequestFault",
    "SchemaValidationError",
    "UnauthorizedError",
]


class EwsError(Exception):
    """A failure reported in a ResponseMessage with ResponseClass="Error".

    back_off_ms is ErrorServerBusy's BackOffMilliseconds, rendered in the MessageXml of the
    message or of the fault.
    """

    def __init__(
        self, code: str, message: str = "", *, http_status: int = 200, back_off_ms: int | None = None
    ) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message or code
        self.http_status = http_status
        self.back_off_ms = back_off_ms


class RequestFault(EwsError):
    """A failure of the whole request, rendered as an HTTP 500 SOAP fault.

    Exchange uses this for errors found before any item is touched, such as
    ErrorImpersonateUserDenied, ErrorServerBusy or ErrorSchemaValidation.
    """

    def __init__(self, code: str, message: str = "", *, back_off_ms: int | None = None) -> None:
        super().__init__(code, message, http_status=500, back_off_ms=back_off_ms)


class UnauthorizedError(Exception):
    """Credentials were missing or wrong: answered with HTTP 401 and no SOAP body."""


class SchemaValidationError(RequestFault):
    """A request body that messages.xsd rejects: ErrorSchemaValidation with the first violation."""

    def __init__(self, violation: str, line: int = 0) -> None:
        super().__init__("ErrorSchemaValidation", "The request failed schema validation.")
        self.violation = violation
        self.line = line
