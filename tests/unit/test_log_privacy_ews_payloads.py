"""EwsPayloadFilter: exchangelib's records keep the operation, status and retries, and no personal data."""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Iterator
from typing import Any

import exchangelib
import exchangelib.account
import exchangelib.services.common
import exchangelib.util
import pytest

from pipeline.log_privacy import ews_values
from pipeline.log_privacy.ews_payloads import EWS_LOGGERS, EwsPayloadFilter, withhold_ews_payloads
from pipeline.secrets import SecretScrubbingFilter

ALICE = "alice@contoso.com"
SUBJECT = "Interview: Dana Diaz"
REQUEST = (b"<?xml version='1.0' encoding='utf-8'?>\n<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/"
           b"envelope/\"><s:Header><t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>"
           + ALICE.encode() + b"</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>"
           b"</s:Header><s:Body><m:CreateItem SendMeetingInvitations=\"SendToAllAndSaveCopy\"><m:Items>"
           b"<t:CalendarItem><t:Subject>" + SUBJECT.encode() + b"</t:Subject></t:CalendarItem></m:Items>"
           b"</m:CreateItem></s:Body></s:Envelope>")
RESPONSE = (b"<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>"
            b"<m:CreateItemResponse><m:ResponseMessages><m:CreateItemResponseMessage ResponseClass=\"Error\">"
            b"<m:MessageText>Mailbox " + ALICE.encode() + b" is busy</m:MessageText>"
            b"<m:ResponseCode>ErrorServerBusy</m:ResponseCode></m:CreateItemResponseMessage>"
            b"</m:ResponseMessages></m:CreateItemResponse></s:Body></s:Envelope>")


def literal(function: Any, start: str) -> str:
    """One of exchangelib's own message templates, as its code holds it."""
    return next(c for c in function.__code__.co_consts if isinstance(c, str) and c.startswith(start))


def record(name: str, template: str, args: Any, *, module: Any = None, level: int = logging.DEBUG,
           exc_info: Any = None) -> logging.LogRecord:
    """A record as exchangelib's module `module` (by default the logger's) makes it."""
    pathname = str((module or importlib.import_module(name)).__file__)
    return logging.LogRecord(name, level, pathname, 1, template, args, exc_info)


def filtered(log_record: logging.LogRecord) -> str:
    assert EwsPayloadFilter().filter(log_record)  # never dropped
    return logging.Formatter().format(log_record)


def test_a_post_keeps_status_session_timing_and_header_names() -> None:
    template = literal(exchangelib.util.post_ratelimited, "Timeout:")
    values: dict[str, Any] = {"timeout": 120, "session_id": 4711, "thread_id": 1, "auth": object(),
              "url": "https://mail.contoso.com/EWS/Exchange.asmx", "adapter": object(), "stream": False,
              "response_time": 0.25, "status_code": 503,
              "request_headers": {"X-AnchorMailbox": ALICE, "Authorization": "Basic YWxpY2U6cHc=",
                                  "Content-Length": "812"},
              "response_headers": {"Retry-After": "5", "Set-Cookie": f"X-Who={ALICE}", "request-id": "r-1"}}
    log_record = record("exchangelib.util", template, (values,))

    line = filtered(log_record)

    assert "Session: 4711" in line and "Status code: 503" in line and "Timeout: 120" in line
    assert "URL: https://mail.contoso.com/EWS/Exchange.asmx" in line
    assert "'Retry-After': '5'" in line and "'request-id': 'r-1'" in line
    assert "'Content-Length': '812'" in line
    assert "'X-AnchorMailbox': '<withheld>'" in line and "'Set-Cookie': '<withheld>'" in line
    assert ALICE not in line and "YWxpY2U6cHc" not in line
    assert values["request_headers"]["X-AnchorMailbox"] == ALICE  # exchangelib's own dict is left alone


def test_soap_bodies_keep_only_their_operation_response_codes_and_size() -> None:
    template = literal(exchangelib.util.post_ratelimited, "Request XML:")
    bodies = {"xml_request": REQUEST, "xml_response": RESPONSE}
    log_record = record("exchangelib.util.xml", template, (bodies,), module=exchangelib.util)

    line = filtered(log_record)

    assert line == (f"Request XML: <CreateItem: {len(REQUEST)} bytes withheld>\n"
                    f"Response XML: <CreateItemResponse (ErrorServerBusy): {len(RESPONSE)} bytes withheld>")


@pytest.mark.parametrize(("template", "args"), [
    ("Added account: %s", ("Account(primary_smtp_address='alice@contoso.com')",)),
    ("Adding items for %s (folder %s, message_disposition: %s, send_meeting_invitations: %s)",
     ("Account(alice@contoso.com)", "Calendar (alice@contoso.com)", "SaveOnly", "SendToAllAndSaveCopy")),
])
def test_an_account_or_a_folder_is_withheld_and_the_options_stay(template: str,
                                                                   args: tuple[Any, ...]) -> None:
    line = filtered(record("exchangelib.account", template, args))

    assert ALICE not in line and "<withheld: an Account>" in line
    assert len(args) == 1 or "SendToAllAndSaveCopy" in line


def test_autodiscover_keeps_the_url_it_tries_and_not_the_email() -> None:
    import exchangelib.autodiscover.discovery as discovery

    template = literal(discovery.Autodiscovery._step_1, "Step 1")
    line = filtered(record(discovery.__name__, template, ("https://contoso.com/Autodiscover/Autodiscover.xml",
                                                         ALICE), level=logging.INFO))

    assert line == ("Step 1: Trying autodiscover on 'https://contoso.com/Autodiscover/Autodiscover.xml' "
                    "with email '<withheld: a mailbox>'")


def test_the_service_and_back_off_stay() -> None:
    common = "exchangelib.services.common"
    assert filtered(record(common, "Calling service %s", ("GetUserAvailability",))) == (
        "Calling service GetUserAvailability")
    assert filtered(record(common, "Got ErrorServerBusy (back off %s seconds)", (30.0,))) == (
        "Got ErrorServerBusy (back off 30.0 seconds)")


def test_an_argument_no_rule_names_is_shown_only_when_it_is_a_number() -> None:
    folder = f"Calendar ({ALICE})"
    line = filtered(record("exchangelib.services.common", "Folder %s still has items", (folder,)))
    assert line == "Folder <withheld: a str> still has items"


def test_text_made_at_run_time_is_withheld_whole_not_dropped() -> None:
    # services.common logs `log.warning(str(e))`: the text of an EWS warning, which may name anyone
    log_record = record("exchangelib.services.common", f"Mailbox {ALICE} is over its quota", None,
                        level=logging.WARNING)

    line = filtered(log_record)

    assert line == ("<withheld: a record of exchangelib.services.common that could not be checked "
                    "for personal data>")
    assert log_record.levelno == logging.WARNING


def test_a_record_another_file_logs_on_exchangelibs_logger_is_withheld_whole() -> None:
    log_record = record("exchangelib.account", "Added account: %s", (ALICE,), module=exchangelib.util)
    assert "could not be checked" in filtered(log_record) and ALICE not in filtered(log_record)


def test_an_error_keeps_its_exception_class_and_loses_its_text_and_the_request() -> None:
    try:
        raise ValueError(f"cannot post for {ALICE}")
    except ValueError as error:
        args = (type(error).__name__, str(error), f"Request headers: {{'X-AnchorMailbox': '{ALICE}'}}",
                REQUEST.decode())
        log_record = record("exchangelib.util", "%s: %s\n%s\n%s", args, level=logging.ERROR,
                            exc_info=(type(error), error, error.__traceback__))

    line = filtered(log_record)

    assert line.startswith("ValueError: <withheld: a str>\n") and "(ValueError: its text withheld)" in line
    assert ALICE not in line and SUBJECT not in line and "Traceback" not in line


def test_a_record_the_filter_cannot_read_is_withheld_not_dropped() -> None:
    class Exploding(tuple[object, ...]):
        def __iter__(self) -> Iterator[object]:
            raise RuntimeError("no")

    log_record = record("exchangelib.services.common", "Calling service %s", Exploding((ALICE,)))
    assert "could not be checked" in filtered(log_record)


@pytest.mark.parametrize(("url", "shown"), [
    ("https://mail.contoso.com/EWS/Exchange.asmx", "https://mail.contoso.com/EWS/Exchange.asmx"),
    ("https://autodiscover.contoso.com/autodiscover/autodiscover.json/v1.0/alice%40contoso.com?Protocol=EWS",
     "https://autodiscover.contoso.com/autodiscover/autodiscover.json/v1.0/<mailbox>?<withheld>"),
    ("https://alice%40contoso.com:pw@mail.contoso.com:8443/EWS/Exchange.asmx",
     "https://mail.contoso.com:8443/EWS/Exchange.asmx"),
])
def test_urls_keep_host_and_path_and_lose_mailboxes_queries_and_userinfo(url: str, shown: str) -> None:
    assert ews_values.url(url) == shown


def test_every_exchangelib_logger_is_filtered() -> None:
    for module in pkgutil.walk_packages(exchangelib.__path__, "exchangelib."):
        importlib.import_module(module.name)
    loggers = {name for name, found in logging.root.manager.loggerDict.items()
               if name.startswith("exchangelib.") and isinstance(found, logging.Logger)}
    assert loggers - set(EWS_LOGGERS) == set()


def test_the_filter_runs_before_the_credential_scrubbing() -> None:
    from pipeline.exchange.ews.errors import install_log_scrubbing

    install_log_scrubbing()

    filters = logging.getLogger("exchangelib.util").filters
    assert isinstance(filters[0], EwsPayloadFilter)
    assert any(isinstance(f, SecretScrubbingFilter) for f in filters)


def test_with_debug_off_no_record_is_made_or_filtered(monkeypatch: pytest.MonkeyPatch) -> None:
    withhold_ews_payloads()
    seen: list[logging.LogRecord] = []
    checked = EwsPayloadFilter.filter

    def spy(self: EwsPayloadFilter, log_record: logging.LogRecord) -> bool:
        seen.append(log_record)
        return checked(self, log_record)

    monkeypatch.setattr(EwsPayloadFilter, "filter", spy)
    logger = logging.getLogger("exchangelib.services.common")
    level = logger.level
    try:
        logger.setLevel(logging.INFO)
        exchangelib.services.common.log.debug("Calling service %s", "CreateItem")
        assert seen == []  # isEnabledFor returned before a record existed
        logger.setLevel(logging.DEBUG)
        exchangelib.services.common.log.debug("Calling service %s", "CreateItem")
        assert len(seen) == 1
    finally:
        logger.setLevel(level)
