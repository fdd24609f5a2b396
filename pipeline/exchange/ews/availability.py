"""GetUserAvailability for any number of mailboxes over any window, in as few requests as EWS allows.

EWS takes at most 100 mailboxes per request ("the maximum number of identities that the
GetUserAvailability operation can request", learn.microsoft.com/en-us/exchange/client-developer/
web-service-reference/getuseravailability-operation) and 42 days by default (TimeWindow), so a
query becomes batches x chunks, sent concurrently (bounded by the protocol's session pool).
exchangelib's Protocol.get_free_busy_info() would add a GetServerTimeZones round trip before every
request; we ask in UTC instead, whose time-zone definition is a constant, so a job costs exactly
one GetUserAvailability per 100 mailboxes per 42-day chunk, warm or cold.

exchangelib carries each request (session pool, authentication, version negotiation, SOAP faults,
ErrorServerBusy back-off, per-message error codes); the request body is built by
availability_request.py and the answer read by availability_parser.py, both with lxml, without
exchangelib's objects: for a mailbox with 30 events over 42 days, about 0.5 ms of CPU instead of
exchangelib's 5 to 10 ms (bench/free_busy.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from exchangelib import UTC, Identity
from exchangelib.errors import ResponseMessageError
from exchangelib.services import GetUserAvailability
from lxml import etree

from pipeline.errors import ErrorCode, PermanentError
from pipeline.exchange import availability_chunks as chunks
from pipeline.exchange.availability_chunks import Chunk
from pipeline.exchange.ews import availability_parser
from pipeline.exchange.ews.availability_parser import FREE_BUSY_VIEW, RESPONSE_MESSAGE
from pipeline.exchange.ews.availability_request import build_request
from pipeline.exchange.ews.connection import LiveConnection
from pipeline.exchange.types import MailboxAvailability
from pipeline.integrations import AuthType

__all__ = [
    "MAX_DAYS_PER_REQUEST",
    "MAX_MAILBOXES_PER_REQUEST",
    "AvailabilityService",
    "fetch_availability",
    "plan_requests",
]

MAX_MAILBOXES_PER_REQUEST = 100  # beyond this EWS answers ErrorMailboxDataArrayTooBig
MAX_DAYS_PER_REQUEST = 42  # beyond this EWS answers ErrorTimeIntervalTooBig (the default policy)


class AvailabilityService(GetUserAvailability):
    """exchangelib's GetUserAvailability transport around our own request and parse.

    What stays exchangelib's: the POST through the protocol's session pool (auth, token refresh,
    TLS, timeouts), API-version negotiation, SOAP faults raised as its errors (ErrorServerBusy
    with BackOffMilliseconds, honoured by the retry policy) and the per-mailbox ResponseMessage
    turned into its exception classes (server_busy.py adds the back-off there too). What is ours:
    the request body, the XML parse (hardened, in one call instead of byte by byte) and each
    FreeBusyView read into MailboxAvailability. It may carry an ExchangeImpersonation header
    (exchangelib's protocol-level service never impersonates, except OAuth's fixed identity), and
    returns per-mailbox errors: one unknown address must not sink the other 99.
    """

    ERRORS_TO_CATCH_IN_RESPONSE = (ResponseMessageError,)

    def __init__(self, *args: Any, acting_as: Identity | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._acting_as = acting_as
        self.tzinfo = UTC  # the TimeZoneContext header; the body's TimeZone is UTC as well

    @property
    def _account_to_impersonate(self) -> Identity | None:
        return self._acting_as or super()._account_to_impersonate

    def ask(
        self, mailboxes: Sequence[str], start: dt.datetime, end: dt.datetime, view: str, interval: int
    ) -> list[MailboxAvailability]:
        """One request: free/busy of up to 100 mailboxes over at most 42 days, in request order."""
        payload = build_request(mailboxes, start, end, view, interval)
        return availability_parser.read_answers(mailboxes, self._get_elements(payload=payload))

    def read(self, mailboxes: Sequence[str], content: bytes) -> list[MailboxAvailability]:
        """What ask() makes of an answer's bytes, without sending anything (faults raise as there)."""
        _header, body = availability_parser.soap_parts(content)
        return availability_parser.read_answers(
            mailboxes, self._get_elements_in_response(response=self._get_soap_messages(body=body))
        )

    @classmethod
    def _get_soap_parts(cls, response: Any) -> tuple[etree._Element | None, etree._Element]:
        # exchangelib's own reads requests' iter_content() one byte at a time into a parser in
        # recover mode (a truncated body parses without an error); this reads the body whole.
        return availability_parser.soap_parts(response.content)

    def _get_elements_in_response(self, response: Any) -> Iterator[etree._Element | Exception | None]:
        for message in response:
            # The schema lets a FreeBusyResponse leave out its ResponseMessage (exchangelib then
            # fails): no error is stated, so its FreeBusyView, if any, is read.
            status = message.find(RESPONSE_MESSAGE)
            container_or_exc = None if status is None else self._get_element_container(message=status)
            if isinstance(container_or_exc, Exception):
                yield container_or_exc
            else:
                yield message.find(FREE_BUSY_VIEW)




def plan_requests(
    mailboxes: Sequence[str], start: dt.datetime, end: dt.datetime
) -> list[tuple[list[str], Chunk]]:
    """Every (mailbox batch, time chunk) pair the query needs, at this backend's limits."""
    return chunks.plan_requests(
        mailboxes, start, end, per_request=MAX_MAILBOXES_PER_REQUEST, days=MAX_DAYS_PER_REQUEST
    )


def fetch_availability(
    live: LiveConnection,
    mailboxes: Sequence[str],
    start: dt.datetime,
    end: dt.datetime,
    *,
    detailed: bool,
    merged_interval_minutes: int | None,
    max_workers: int,
) -> list[MailboxAvailability]:
    if start.tzinfo is None or end.tzinfo is None:
        raise PermanentError(ErrorCode.INVALID_KWARGS, "free/busy start and end need a time zone")
    if end <= start:
        raise PermanentError(ErrorCode.INVALID_KWARGS, "free/busy end must be after start")
    unique = list(dict.fromkeys(m.strip().lower() for m in mailboxes))
    if not unique:
        return []
    view = ("Detailed" if detailed else "FreeBusy") + ("Merged" if merged_interval_minutes else "")
    interval, acting_as = merged_interval_minutes or 30, _impersonation(live)
    plan = plan_requests(unique, start.astimezone(dt.UTC), end.astimezone(dt.UTC))
    workers = max(1, min(len(plan), max_workers))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ews-availability") as pool:
        answers = list(
            pool.map(lambda job: _request(live, job[0], job[1], view, interval, acting_as), plan)
        )
    merged: dict[str, list[MailboxAvailability]] = {m: [] for m in unique}
    for (batch, _chunk), views in zip(plan, answers, strict=True):
        for mailbox, answer in zip(batch, views, strict=True):
            merged[mailbox].append(answer)
    combined = {mailbox: chunks.combine(mailbox, parts) for mailbox, parts in merged.items()}
    return [combined[m.strip().lower()] for m in mailboxes]


def _impersonation(live: LiveConnection) -> Identity | None:
    """Whose rights apply to free/busy: the impersonated user, when the method acts as someone."""
    if not live.impersonating:
        return None
    if live.settings.auth_type is not AuthType.OAUTH2 and live.target.user is None:
        return None  # a service logon reading free/busy in its own right
    return Identity(primary_smtp_address=live.target.mailbox)


def _request(
    live: LiveConnection,
    batch: list[str],
    chunk: Chunk,
    view: str,
    interval: int,
    acting_as: Identity | None,
) -> list[MailboxAvailability]:
    service = AvailabilityService(protocol=live.protocol, acting_as=acting_as)
    return service.ask(batch, chunk[0], chunk[1], view, interval)
