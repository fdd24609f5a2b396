"""SOAP envelopes: read a request's header and body, write a response or a fault."""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from infra.ewssim.errors import EwsError, RequestFault, SchemaValidationError
from infra.ewssim.namespaces import MESSAGES_NS, NSMAP, SOAP_NS, TYPES_NS, Element, add, local_name, s, t
from infra.ewssim.raw_xml import splice
from infra.ewssim.versions import DEFAULT_PRODUCT, PRODUCTS

ERRORS_NS = "http://schemas.microsoft.com/exchange/services/2006/errors"
# ServerVersionInfo as Exchange 2019 CU sends it; Version is the schema name the server reports,
# which exchangelib recognises as an invalid request version and replaces with the one it sent.
# Other releases: infra/ewssim/versions.py.
SERVER_VERSION = PRODUCTS[DEFAULT_PRODUCT].server_version_info()

# Body elements whose name is the operation's plus "Request"; requests are counted and dispatched
# under the operation's name (GetUserAvailability), as Exchange's documentation names them.
_REQUEST_SUFFIXED = frozenset(
    {"GetUserAvailabilityRequest", "GetUserOofSettingsRequest", "SetUserOofSettingsRequest"}
)

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_blank_text=True)


@dataclass(frozen=True)
class SoapRequest:
    operation: str
    body: Element
    # RequestServerVersion's Version: None without the header, "" for a header without a Version.
    request_version: str | None
    impersonate_smtp: str | None
    impersonate_sid: str | None
    headers: tuple[Element, ...] = ()  # the soap:Header's elements, for the schema check
    # TimeZoneContext's TimeZoneDefinition Id: the zone of the request's times without an offset.
    time_zone_context: str | None = None


def parse_request(payload: bytes) -> SoapRequest:
    """Split an EWS SOAP request into its operation element and the headers the simulator uses."""
    try:
        envelope = etree.fromstring(payload, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise RequestFault("ErrorInvalidRequest", f"The request is not well-formed XML: {exc}") from exc
    body = envelope.find(s("Body"))
    if body is None or len(body) == 0:
        raise RequestFault("ErrorInvalidRequest", "The SOAP envelope has no Body element.")
    operation = body[0]
    header = envelope.find(s("Header"))
    version: str | None = None
    smtp = sid = zone = None
    if header is not None:
        version_el = header.find(t("RequestServerVersion"))
        if version_el is not None:
            version = version_el.get("Version", "")
        impersonation = header.find(t("ExchangeImpersonation"))
        if impersonation is not None:
            smtp = impersonation.findtext(f"{t('ConnectingSID')}/{t('PrimarySmtpAddress')}")
            smtp = smtp or impersonation.findtext(f"{t('ConnectingSID')}/{t('SmtpAddress')}")
            sid = impersonation.findtext(f"{t('ConnectingSID')}/{t('PrincipalName')}")
            sid = sid or impersonation.findtext(f"{t('ConnectingSID')}/{t('SID')}")
        definition = header.find(f"{t('TimeZoneContext')}/{t('TimeZoneDefinition')}")
        if definition is not None:
            zone = definition.get("Id") or definition.get("Name") or None
    name = local_name(operation)
    if name in _REQUEST_SUFFIXED:
        name = name.removesuffix("Request")
    headers = tuple(child for child in header if isinstance(child.tag, str)) if header is not None else ()
    return SoapRequest(name, operation, version, smtp, sid, headers, zone)


def _envelope() -> tuple[Element, Element, Element]:
    envelope = etree.Element(s("Envelope"), nsmap=NSMAP)
    header = add(envelope, s("Header"))
    body = add(envelope, s("Body"))
    return envelope, header, body


def render_response(response_body: Element, server_version: dict[str, str] | None = None) -> bytes:
    """Wrap an operation's response element in an envelope with ServerVersionInfo."""
    envelope, header, body = _envelope()
    version = etree.SubElement(header, t("ServerVersionInfo"))
    for key, value in (server_version or SERVER_VERSION).items():
        version.set(key, value)
    inline = _inline(response_body)
    if inline is None:
        body.append(response_body)
        return splice(etree.tostring(envelope, xml_declaration=True, encoding="utf-8"))
    head, _, tail = etree.tostring(envelope, xml_declaration=True, encoding="utf-8").partition(_EMPTY_BODY)
    return b"".join((head, b"<s:Body>", splice(inline), b"</s:Body>", tail))


_EMPTY_BODY = b"<s:Body/>"
_DECLARATIONS = "".join(f' xmlns:{prefix}="{uri}"' for prefix, uri in NSMAP.items())


def _inline(response_body: Element) -> bytes | None:
    """The response element's bytes as they read inside the envelope, or None to move it in.

    Appending a detached element to the envelope moves it between documents, and lxml then
    visits every node of it to reconcile its namespaces (about 2 ms for a 1.5 MB
    GetUserAvailability answer). A root built by `new` declares exactly the envelope's prefixes,
    so it is serialised alone and its declarations, which the move would drop as redundant, are
    cut from its start tag: the same bytes.
    """
    prefix = response_body.prefix
    if prefix is None or response_body.getparent() is not None or response_body.nsmap != NSMAP:
        return None
    start_tag = f"<{prefix}:{etree.QName(response_body).localname}"
    opening = f"{start_tag}{_DECLARATIONS}".encode()
    data = etree.tostring(response_body, encoding="utf-8")
    if not data.startswith(opening):
        return None
    return b"".join((start_tag.encode(), data[len(opening):]))


def render_streamed(response_body: Element, server_version: dict[str, str] | None = None) -> bytes:
    """One envelope of a streamed answer (GetStreamingEvents), as Exchange writes them on the open
    connection: in the SOAP namespace by default (`<Envelope xmlns="...soap/envelope/">`), without
    an XML declaration, which is where the EWS Managed API's stream parser looks for each one."""
    envelope = etree.Element(s("Envelope"), nsmap={None: SOAP_NS, "m": MESSAGES_NS, "t": TYPES_NS})
    header = add(envelope, s("Header"))
    version = etree.SubElement(header, t("ServerVersionInfo"))
    for key, value in (server_version or SERVER_VERSION).items():
        version.set(key, value)
    add(envelope, s("Body")).append(response_body)
    return splice(etree.tostring(envelope, encoding="utf-8"))


def render_fault(failure: EwsError) -> bytes:
    """A SOAP fault as Exchange sends it: faultcode, faultstring and an errors-namespace detail."""
    envelope = etree.Element(s("Envelope"), nsmap={"s": SOAP_NS})
    body = add(envelope, s("Body"))
    fault = add(body, s("Fault"))
    code = etree.SubElement(fault, "faultcode", nsmap={"a": TYPES_NS})
    code.text = f"a:{failure.code}"
    add(fault, "faultstring", failure.message)
    detail = add(fault, "detail")
    add(detail, f"{{{ERRORS_NS}}}ResponseCode", failure.code)
    add(detail, f"{{{ERRORS_NS}}}Message", failure.message)
    back_off = getattr(failure, "back_off_ms", None)
    if back_off is not None:
        message_xml = etree.SubElement(detail, t("MessageXml"), nsmap={"t": TYPES_NS})
        add(message_xml, t("Value"), str(back_off), Name="BackOffMilliseconds")
    if isinstance(failure, SchemaValidationError):
        # The shape Exchange uses for ErrorSchemaValidation, which exchangelib folds into its message.
        message_xml = etree.SubElement(detail, t("MessageXml"), nsmap={"t": TYPES_NS})
        add(message_xml, t("LineNumber"), str(failure.line))
        add(message_xml, t("LinePosition"), "0")
        add(message_xml, t("Violation"), failure.violation)
    return etree.tostring(envelope, xml_declaration=True, encoding="utf-8")
