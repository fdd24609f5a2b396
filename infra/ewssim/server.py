"""EwsSimulator: a running simulated Exchange (backend + HTTP server) and its Python control API.

EWS dispatch lives here too: count the request, apply the fault plan, validate against the
schema when EWS_SCHEMA_DIR is set, check impersonation, run the operation, render the answer.
"""

from __future__ import annotations

import dataclasses
import enum
import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from infra.ewssim.auth import Caller, default_user_file
from infra.ewssim.errors import EwsError, RequestFault, SchemaValidationError
from infra.ewssim.faults import Decision, FaultKind, FaultPlan, FaultRule
from infra.ewssim.handler import EwsHttpServer
from infra.ewssim.models.backend import EwsBackend
from infra.ewssim.models.directory import Principal
from infra.ewssim.models.folder_tree import lookup_folder
from infra.ewssim.models.permissions import PermissionLevel
from infra.ewssim.namespaces import Element
from infra.ewssim.oauth import TokenIssuer
from infra.ewssim.request_log import LogonRecord, RequestLog, RequestRecord
from infra.ewssim.responses import OPERATIONS, STREAMING_OPERATIONS, RequestContext
from infra.ewssim.responses import convert_id as _convert_id  # noqa: F401  (registers ConvertId)
from infra.ewssim.responses.error_responses import error_response
from infra.ewssim.schema import SchemaValidator, schema_dir_from_env
from infra.ewssim.soap import SoapRequest, parse_request, render_fault, render_response, render_streamed
from infra.ewssim.tls import TlsMaterial, generate, server_context
from infra.ewssim.versions import DEFAULT_PRODUCT, Product, admit, product

__all__ = ["EwsSimulator", "SoapOutcome"]

_XML = "text/xml; charset=utf-8"
_FROM_ENV = Path("<EWS_SCHEMA_DIR>")


@dataclass(frozen=True)
class SoapOutcome:
    """What the HTTP front sends for one EWS request."""

    status: int
    body: bytes
    content_type: str = _XML
    delay_s: float = 0.0
    # Close the connection without any response.
    drop: bool = False
    # A streamed answer (GetStreamingEvents): the envelopes to write one by one on the open connection,
    # each as soon as the iterator gives it (body is then empty).
    stream: Iterator[bytes] | None = None


class EwsSimulator:
    """A simulated Exchange: the backend plus an HTTP(S) server in a background thread.

    tls=True serves HTTPS with a freshly generated CA (trust `ca_file` to verify it). The schema
    check is on when schema_dir is given, or (by default) when EWS_SCHEMA_DIR is set.
    exchange_version is the release it presents ("Exchange 2010 SP2", infra/ewssim/versions.py).
    """

    _instances: ClassVar[weakref.WeakSet[EwsSimulator]] = weakref.WeakSet()

    def __init__(
        self,
        backend: EwsBackend | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tls: bool | TlsMaterial = False,
        schema_dir: Path | str | None = _FROM_ENV,
        exchange_version: str | Product = DEFAULT_PRODUCT,
        log_capacity: int = 10_000,
    ) -> None:
        self.backend = backend or EwsBackend()
        self.faults = FaultPlan()
        self.requests = RequestLog(log_capacity)
        self.tokens = TokenIssuer(self.backend)
        self.product = self._default_product = product(exchange_version)
        folder = (
            schema_dir_from_env() if schema_dir == _FROM_ENV else (Path(schema_dir) if schema_dir else None)
        )
        self.schema = SchemaValidator(folder) if folder else None
        self._violations: list[str] = []
        self._violations_lock = threading.Lock()
        self._ntlm_user_file: Path | None = None
        self.tls_material = generate() if tls is True else (tls or None)
        context = server_context(self.tls_material) if self.tls_material else None
        self._host = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
        self._httpd = EwsHttpServer((host, port), self, context)
        self._thread: threading.Thread | None = None
        self.backend.on_reset(self._reset_own_state)
        # Microsoft Graph over the same backend (infra/graphsim); paths beneath /v1.0/ go to it.
        from infra.graphsim.service import GraphService

        self.graph = GraphService(self)
        EwsSimulator._instances.add(self)

    # Addresses --------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        scheme = "https" if self.tls_material else "http"
        return f"{scheme}://{self._host}:{self.port}"

    @property
    def ews_url(self) -> str:
        return f"{self.base_url}/EWS/Exchange.asmx"

    @property
    def graph_url(self) -> str:
        """The Microsoft Graph v1.0 root this simulator serves (https://graph.microsoft.com/v1.0)."""
        return f"{self.base_url}/v1.0"

    @property
    def autodiscover_url(self) -> str:
        return f"{self.base_url}/autodiscover/autodiscover.svc"

    def token_url(self, tenant: str) -> str:
        """The OAuth 2.0 token endpoint for a tenant, shaped like login.microsoftonline.com's."""
        return f"{self.base_url}/{tenant}/oauth2/v2.0/token"

    @property
    def ca_file(self) -> Path | None:
        """The CA certificate that clients must trust to verify this server's TLS."""
        return self.tls_material.ca_file if self.tls_material else None

    @property
    def ntlm_user_file(self) -> Path:
        if self._ntlm_user_file is None:
            self._ntlm_user_file = default_user_file()
        return self._ntlm_user_file

    # Lifecycle --------------------------------------------------------------------------------

    def start(self) -> EwsSimulator:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="ewssim", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            # shutdown() waits for a serve_forever loop; only a started one will ever answer.
            self._httpd.shutdown()
            self._thread = None
        self._httpd.server_close()
        EwsSimulator._instances.discard(self)

    def serve_forever(self) -> None:
        """Serve in the calling thread (the command's main loop) until interrupted."""
        self._httpd.serve_forever()

    def __enter__(self) -> EwsSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @classmethod
    def running(cls) -> list[EwsSimulator]:
        """Every simulator in this process that has not been stopped."""
        return list(cls._instances)

    # Control API ------------------------------------------------------------------------------

    def seed(self, config: dict[str, Any]) -> None:
        """Add principals, room lists, grants and apps (the YAML/JSON seed shape)."""
        self.backend.seed(config)

    def reset(self) -> None:
        """Forget mailboxes, grants, subscriptions, tokens, fault rules, counts and the log."""
        self.backend.reset()

    def present(self, exchange_version: str | Product) -> None:
        """Present another Exchange release until the next reset: its build, its newest schema."""
        self.product = product(exchange_version)

    def _reset_own_state(self) -> None:
        self.product = self._default_product
        self.faults.reset()
        self.requests.clear()
        self.tokens.reset()

    def grant_folder_permission(
        self, owner: str, grantee: str, level: PermissionLevel | str, folder: str = "calendar"
    ) -> None:
        self.backend.grant_folder_permission(owner, grantee, PermissionLevel(level), folder)

    def grant_impersonation(self, smtp: str, allowed: bool = True) -> None:
        self.backend.grant_impersonation(smtp, allowed)

    def create_folder(self, owner: str, path: str, folder_class: str | None = None) -> str:
        """Add a folder (a secondary calendar: "Calendar/Interviews") with any missing parents; its id."""
        return self.backend.create_folder(owner, path, folder_class).folder_id

    def folder_items(self, smtp: str, folder: str) -> list[dict[str, Any]]:
        """A folder's items (a distinguished id, FolderId or path) as plain dicts (datetimes as ISO
        strings), oldest first."""
        mailbox = self.backend.mailbox(smtp)
        target = lookup_folder(mailbox, folder)
        with mailbox.lock:
            items = list(target.items.values())
        return [_plain(dataclasses.asdict(item)) | {"type": type(item).__name__} for item in items]

    def calendar(self, smtp: str) -> list[dict[str, Any]]:
        return self.folder_items(smtp, "calendar")

    def inbox(self, smtp: str) -> list[dict[str, Any]]:
        return self.folder_items(smtp, "inbox")

    def advance_clock(self, delta: timedelta | float) -> datetime:
        """Move simulated time forward (seconds or a timedelta); due push timers run."""
        return self.backend.clock.advance(delta if isinstance(delta, timedelta) else timedelta(seconds=delta))

    def request_counts(self) -> dict[str, int]:
        """Exact number of EWS requests per operation since the last reset (faulted ones included)."""
        return self.requests.counts()

    def request_log(self, operation: str | None = None) -> list[RequestRecord]:
        return self.requests.records(operation)

    def logons(self) -> list[LogonRecord]:
        """Every credential presented since the last reset, refused ones (HTTP 401) included."""
        return self.requests.logons()

    def issue_refresh_token(self, client_id: str, smtp: str) -> str:
        """A refresh token for a user, as the upstream app's OAuth consent would have obtained it."""
        return self.tokens.issue_refresh_token(client_id, smtp)

    def revoke_tokens(self, smtp: str) -> int:
        """End every refresh and access token of a user (revokeSignInSessions)."""
        return self.tokens.revoke(smtp)

    def take_schema_violations(self) -> list[str]:
        """Invalid responses recorded since the last call (and forget them)."""
        with self._violations_lock:
            taken, self._violations = self._violations, []
        return taken + self.graph.take_schema_violations()

    # EWS dispatch -----------------------------------------------------------------------------

    def handle_soap(self, caller: Caller | Principal, payload: bytes) -> SoapOutcome:
        """Run one EWS request for an authenticated caller."""
        if isinstance(caller, Principal):
            caller = Caller(caller)
        arrived = self.backend.clock.now().isoformat()
        try:
            request: SoapRequest | None = parse_request(payload)
        except EwsError as failure:
            request, bad_request = None, failure
        operation = request.operation if request is not None else "(unparseable)"
        self.requests.count(operation)
        decision = self.faults.decide(operation) if request is not None else Decision()
        stream: Iterator[bytes] | None = None
        if request is None:
            status, body, code = 500, render_fault(bad_request), bad_request.code
        elif decision.fault is not None:
            status, body, code = self._fault(decision.fault, request)
        else:
            status, body, code, stream = self._dispatch(caller, request)
        impersonated = (request.impersonate_smtp or request.impersonate_sid) if request else None
        self.requests.record(
            RequestRecord(
                operation, caller.principal.smtp, impersonated, status, code, arrived, caller.app_only,
                request.request_version if request else None,
            )
        )
        if status == 503:
            return SoapOutcome(503, body, "text/html", decision.delay_s)
        return SoapOutcome(status, body, delay_s=decision.delay_s, drop=status == 0, stream=stream)

    def _fault(self, rule: FaultRule, request: SoapRequest) -> tuple[int, bytes, str]:
        if rule.kind is FaultKind.DROP:
            return 0, b"", "(dropped)"
        if rule.kind is FaultKind.HTTP_503:
            return 503, b"<html><body>Service Unavailable</body></html>", "HTTP503"
        busy_text = rule.message or "The server cannot service this request right now. Try again later."
        if rule.kind is FaultKind.SERVER_BUSY_MESSAGE:
            busy = EwsError("ErrorServerBusy", busy_text, back_off_ms=rule.back_off_ms)
            try:
                answer = error_response(request.operation, request.body, busy)
                response = self._valid(request.operation, answer)
            except EwsError as invalid:
                return 500, render_fault(invalid), invalid.code
            return 200, render_response(response, self.product.server_version_info()), busy.code
        if rule.kind is FaultKind.SERVER_BUSY:
            failure = RequestFault("ErrorServerBusy", busy_text, back_off_ms=rule.back_off_ms)
        else:
            failure = RequestFault(rule.code, rule.message or f"ewssim injected {rule.code}.")
        return 500, render_fault(failure), failure.code

    def _dispatch(
        self, caller: Caller, request: SoapRequest
    ) -> tuple[int, bytes, str, Iterator[bytes] | None]:
        operation = request.operation
        try:
            version = admit(self.product, request.request_version, operation, request.body)
            if self.schema is not None and (
                errors := self.schema.header_errors(request.headers) or self.schema.errors(request.body)
            ):
                raise SchemaValidationError(errors[0])
            handler = OPERATIONS.get(operation)
            streamed = STREAMING_OPERATIONS.get(operation)
            if handler is None and streamed is None:
                # Not ErrorInvalidRequest: exchangelib takes that for a wrong API version and retries
                # every version before raising an unrelated error.
                raise RequestFault(
                    "ErrorInvalidOperation", f"ewssim does not implement the EWS operation {operation}."
                )
            impersonated = self._impersonated(caller, request)
            context = RequestContext(
                self.backend,
                caller.principal,
                impersonated,
                version,
                app_only=caller.app_only,
                time_zone=request.time_zone_context,
            )
            if streamed is not None:
                answers = streamed(context, request.body)
                return 200, b"", "NoError", self._streamed(operation, answers)
            assert handler is not None
            response = self._valid(operation, handler(context, request.body))
            return 200, render_response(response, self.product.server_version_info()), "NoError", None
        except EwsError as failure:
            return 500, render_fault(failure), failure.code, None

    def _streamed(self, operation: str, answers: Iterator[Element]) -> Iterator[bytes]:
        """The envelopes of a streamed answer; one that fails the schema check ends the stream."""
        version = self.product.server_version_info()
        for answer in answers:
            try:
                yield render_streamed(self._valid(operation, answer), version)
            except EwsError:
                return

    def _valid(self, operation: str, response: Element) -> Element:
        """The response, once messages.xsd accepts it (when the check is on); else the violation is
        recorded and the request fails with ErrorInternalServerError."""
        if self.schema is not None and (errors := self.schema.errors(response)):
            self._record_violation(f"{operation} response violates messages.xsd: {'; '.join(errors[:5])}")
            raise RequestFault(
                "ErrorInternalServerError", f"ewssim produced an invalid {operation} response."
            )
        return response

    def _impersonated(self, caller: Caller, request: SoapRequest) -> Principal | None:
        target = request.impersonate_smtp or request.impersonate_sid
        if not target:
            if caller.app_only:
                # Exchange Online's answer to an app-only token without a mailbox to act as.
                raise RequestFault(
                    "ErrorInvalidExchangeImpersonationHeaderData",
                    "ExchangeImpersonation SOAP header must be present for this type of OAuth token.",
                )
            return None
        if not caller.principal.can_impersonate:
            raise RequestFault(
                "ErrorImpersonateUserDenied", "The account does not have permission to impersonate."
            )
        found = self.backend.directory.find(target) or self.backend.directory.by_login(target)
        if found is None:
            raise RequestFault("ErrorNonExistentMailbox", f"No mailbox with address {target}.")
        return found

    def _record_violation(self, text: str) -> None:
        with self._violations_lock:
            self._violations.append(text)


def _plain(value: Any) -> Any:
    """Make dataclass dumps JSON-friendly: datetimes and enums become strings."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value
