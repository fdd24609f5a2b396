"""SOAP Autodiscover: GetUserSettings at /autodiscover/autodiscover.svc, answering with the EWS URL.

exchangelib 5 speaks only this SOAP flavour (not POX autodiscover.xml). Settings the simulator
does not know are left out of the answer, which clients treat as "not available".
"""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from infra.ewssim.models.backend import EwsBackend
from infra.ewssim.namespaces import AUTODISCOVER_NS, SOAP_NS, WSA_NS, Element, add
from infra.ewssim.soap import SERVER_VERSION

__all__ = ["AUTODISCOVER_PATH", "SUPPORTED_SCHEMAS", "handle_get_user_settings"]

AUTODISCOVER_PATH = "/autodiscover/autodiscover.svc"
SUPPORTED_SCHEMAS = (
    "Exchange2007, Exchange2007_SP1, Exchange2010, Exchange2010_SP1, Exchange2010_SP2, "
    "Exchange2013, Exchange2013_SP1, Exchange2016"
)
_XSI = "http://www.w3.org/2001/XMLSchema-instance"
_ACTION = "http://schemas.microsoft.com/exchange/2010/Autodiscover/Autodiscover/GetUserSettingsResponse"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True)


def _a(tag: str) -> str:
    return f"{{{AUTODISCOVER_NS}}}{tag}"


class AutodiscoverFault(Exception):
    """A request the Autodiscover service cannot read (answered with HTTP 400)."""


def _settings_for(backend: EwsBackend, smtp: str, ews_url: str) -> dict[str, str] | None:
    principal = backend.directory.find(smtp)
    if principal is None:
        return None
    major, minor = SERVER_VERSION["MajorVersion"], SERVER_VERSION["MinorVersion"]
    build = f"{int(major):02d}.{int(minor):02d}.{int(SERVER_VERSION['MajorBuildNumber']):04d}.{0:03d}"
    return {
        "UserDisplayName": principal.display_name,
        "AutoDiscoverSMTPAddress": principal.smtp,
        "InternalEwsUrl": ews_url,
        "ExternalEwsUrl": ews_url,
        "EwsSupportedSchemas": SUPPORTED_SCHEMAS,
        "CasVersion": build,
        "ExternalEwsVersion": build,
    }


def handle_get_user_settings(backend: EwsBackend, payload: bytes, ews_url: Callable[[], str]) -> bytes:
    """Answer one GetUserSettingsRequestMessage; raises AutodiscoverFault for anything else."""
    try:
        envelope = etree.fromstring(payload, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise AutodiscoverFault(f"not XML: {exc}") from exc
    request = envelope.find(f"{{{SOAP_NS}}}Body/{_a('GetUserSettingsRequestMessage')}/{_a('Request')}")
    if request is None:
        raise AutodiscoverFault("only GetUserSettings is supported")
    users = [m.text or "" for m in request.iterfind(f"{_a('Users')}/{_a('User')}/{_a('Mailbox')}")]
    wanted = {s.text for s in request.iterfind(f"{_a('RequestedSettings')}/{_a('Setting')}")}

    root = etree.Element(f"{{{SOAP_NS}}}Envelope", nsmap={"s": SOAP_NS, "a": WSA_NS})
    header = add(root, f"{{{SOAP_NS}}}Header")
    add(header, f"{{{WSA_NS}}}Action", _ACTION)
    info = etree.SubElement(header, _a("ServerVersionInfo"), nsmap={"h": AUTODISCOVER_NS})
    for key in ("MajorVersion", "MinorVersion", "MajorBuildNumber", "MinorBuildNumber"):
        add(info, _a(key), SERVER_VERSION[key])
    add(info, _a("Version"), "Exchange2015")
    body = add(root, f"{{{SOAP_NS}}}Body")
    message = etree.SubElement(body, _a("GetUserSettingsResponseMessage"), nsmap={None: AUTODISCOVER_NS})
    response = etree.SubElement(message, _a("Response"), nsmap={"i": _XSI})
    add(response, _a("ErrorCode"), "NoError")
    add(response, _a("ErrorMessage"), "")
    responses = add(response, _a("UserResponses"))
    for smtp in users:
        _user_response(add(responses, _a("UserResponse")), _settings_for(backend, smtp, ews_url()), wanted)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def _user_response(element: Element, settings: dict[str, str] | None, wanted: set[str | None]) -> None:
    if settings is None:
        add(element, _a("ErrorCode"), "InvalidUser")
        add(element, _a("ErrorMessage"), "Invalid user.")
        return
    add(element, _a("ErrorCode"), "NoError")
    add(element, _a("ErrorMessage"), "No error.")
    add(element, _a("RedirectTarget")).set(f"{{{_XSI}}}nil", "true")
    add(element, _a("UserSettingErrors"))
    container = add(element, _a("UserSettings"))
    for name, value in settings.items():
        if name in wanted:
            setting = add(container, _a("UserSetting"))
            setting.set(f"{{{_XSI}}}type", "StringSetting")
            add(setting, _a("Name"), name)
            add(setting, _a("Value"), value)
