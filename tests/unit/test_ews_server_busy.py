"""BackOffMilliseconds read from a ResponseMessage's MessageXml (pipeline/exchange/ews/server_busy.py).

Crafted XML only, no I/O: exchangelib's own EWSService._get_exception and response-message
handling run on it, with the pipeline's wrapper installed as in production (nothing is mocked).
"""

from __future__ import annotations

import pytest
from exchangelib import errors as ews
from exchangelib.services import CreateItem, ResolveNames
from exchangelib.services.common import EWSService
from lxml import etree

from pipeline.errors import ErrorCode, RetryableError
from pipeline.exchange.ews.errors import to_pipeline_error
from pipeline.exchange.ews.server_busy import back_off_seconds, install_server_busy_back_off

M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"


def message_xml(*values: tuple[str, str]) -> etree._Element:
    """An m:MessageXml with t:Value children, as Exchange puts it in an error response message."""
    inner = "".join(f'<t:Value Name="{name}">{text}</t:Value>' for name, text in values)
    return etree.fromstring(f'<m:MessageXml xmlns:m="{M}" xmlns:t="{T}">{inner}</m:MessageXml>')


def response_message(tag: str, code: str, *values: tuple[str, str]) -> etree._Element:
    inner = "".join(f'<t:Value Name="{name}">{text}</t:Value>' for name, text in values)
    return etree.fromstring(
        f'<m:{tag} xmlns:m="{M}" xmlns:t="{T}" ResponseClass="Error">'
        "<m:MessageText>The server cannot service this request right now. Try again later.</m:MessageText>"
        f"<m:ResponseCode>{code}</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>"
        f"<m:MessageXml>{inner}</m:MessageXml><m:Items/></m:{tag}>"
    )


@pytest.mark.parametrize(
    ("values", "seconds"),
    [
        ((("BackOffMilliseconds", "30000"),), 30.0),
        ((("BackOffMilliseconds", " 250 "),), 0.25),
        # Not necessarily the first value (exchangelib's fault parser only looks at the first).
        ((("Policy", "EWS"), ("BackOffMilliseconds", "1500")), 1.5),
        ((("BackOffMilliseconds", "soon"),), None),
        ((("BackOffMilliseconds", "0"),), None),
        ((("BackOffMilliseconds", "-5"),), None),
        ((("BackOffMilliseconds", ""),), None),
        ((("InnerErrorResponseCode", "ErrorServerBusy"),), None),
        ((), None),
    ],
)
def test_back_off_seconds(values: tuple[tuple[str, str], ...], seconds: float | None) -> None:
    assert back_off_seconds(message_xml(*values)) == seconds


def test_no_message_xml_no_back_off() -> None:
    assert back_off_seconds(None) is None


def test_server_busy_response_message_gets_its_back_off() -> None:
    exc = EWSService._get_exception(
        code="ErrorServerBusy", text="busy", msg_xml=message_xml(("BackOffMilliseconds", "30000"))
    )
    assert isinstance(exc, ews.ErrorServerBusy)
    assert exc.back_off == 30.0
    mapped = to_pipeline_error(exc, "CreateItem")
    assert isinstance(mapped, RetryableError)
    assert (mapped.code, mapped.delay_ms) == (ErrorCode.SERVER_BUSY, 30_000)


def test_server_busy_without_a_value_keeps_exchangelibs_none() -> None:
    exc = EWSService._get_exception(code="ErrorServerBusy", text="busy", msg_xml=None)
    assert isinstance(exc, ews.ErrorServerBusy) and exc.back_off is None


def test_server_busy_as_inner_error_gets_its_back_off() -> None:
    # ErrorInternalServerError naming ErrorServerBusy as its inner code: exchangelib raises the inner one.
    exc = EWSService._get_exception(
        code="ErrorInternalServerError",
        text="failed",
        msg_xml=message_xml(
            ("InnerErrorResponseCode", "ErrorServerBusy"),
            ("InnerErrorMessageText", "busy"),
            ("BackOffMilliseconds", "2000"),
        ),
    )
    assert isinstance(exc, ews.ErrorServerBusy) and exc.back_off == 2.0


def test_other_codes_are_exchangelibs_own() -> None:
    exc = EWSService._get_exception(
        code="ErrorItemNotFound", text="gone", msg_xml=message_xml(("BackOffMilliseconds", "30000"))
    )
    assert type(exc) is ews.ErrorItemNotFound
    assert not hasattr(exc, "back_off")


def test_raised_from_a_services_response_message() -> None:
    # exchangelib's own path for an HTTP 200 answer: the message's ResponseClass="Error" is raised.
    service = CreateItem.__new__(CreateItem)  # _get_element_container needs no protocol or account
    message = response_message(
        "CreateItemResponseMessage", "ErrorServerBusy", ("BackOffMilliseconds", "30000")
    )
    with pytest.raises(ews.ErrorServerBusy) as raised:
        service._get_element_container(message=message, name=f"{{{M}}}Items")
    assert raised.value.back_off == 30.0


def test_every_service_shares_the_one_wrapper() -> None:
    wrapper = EWSService.__dict__["_get_exception"].__func__
    install_server_busy_back_off()  # again: idempotent, no wrapper around the wrapper
    assert EWSService.__dict__["_get_exception"].__func__ is wrapper
    assert getattr(wrapper, "reads_back_off", False)
    for service in (CreateItem, ResolveNames):
        assert "_get_exception" not in vars(service)
        assert service._get_exception is wrapper
