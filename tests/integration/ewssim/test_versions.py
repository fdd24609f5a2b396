"""The simulator honours RequestServerVersion as Exchange does: unknown or too new versions are
ErrorInvalidServerVersion, operations and properties newer than the requested version are refused
or left out, the SOAP header is schema-checked, and each release reports its own build."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests
from exchangelib import Build
from lxml import etree

from infra.ewssim import EwsSimulator
from infra.ewssim.models import CalendarItem
from infra.ewssim.namespaces import MESSAGES_NS, SOAP_NS, TYPES_NS
from infra.ewssim.versions import PRODUCTS
from tests.integration.ewssim.conftest import build_account
from tests.seed import PASSWORDS, smtp

ERRORS_NS = "http://schemas.microsoft.com/exchange/services/2006/errors"
RESOLVE_BOB = (
    '<m:ResolveNames ReturnFullContactData="false"><m:UnresolvedEntry>bob</m:UnresolvedEntry>'
    "</m:ResolveNames>"
)
CALENDAR_ALL_PROPERTIES = (
    '<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>AllProperties</t:BaseShape></m:ItemShape>'
    '<m:ParentFolderIds><t:DistinguishedFolderId Id="calendar"/></m:ParentFolderIds></m:FindItem>'
)


def post(sim: EwsSimulator, body: str, version: str | None, header: str = "") -> requests.Response:
    """One EWS request as alice with Basic, with `Version=` (None: no RequestServerVersion at all)."""
    if version is not None:
        header = (
            f'<t:RequestServerVersion Version="{version}"/>' if version else "<t:RequestServerVersion/>"
        ) + header
    envelope = (
        f'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{SOAP_NS}" xmlns:m="{MESSAGES_NS}" '
        f'xmlns:t="{TYPES_NS}"><s:Header>{header}</s:Header><s:Body>{body}</s:Body></s:Envelope>'
    )
    return requests.post(
        sim.ews_url, data=envelope.encode(), auth=(smtp("alice"), PASSWORDS["alice"]),
        headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=10,
    )  # fmt: skip


def fault_code(response: requests.Response) -> str:
    assert response.status_code == 500, response.text
    return str(etree.fromstring(response.content).findtext(f".//{{{ERRORS_NS}}}ResponseCode"))


def response_code(response: requests.Response) -> str:
    assert response.status_code == 200, response.text
    return str(etree.fromstring(response.content).findtext(f".//{{{MESSAGES_NS}}}ResponseCode"))


@pytest.mark.parametrize("version", ["Exchange2099", "Exchange2019", "exchange2016", ""])
def test_a_version_exchange_does_not_know_is_error_invalid_server_version(
    sim: EwsSimulator, version: str
) -> None:
    response = post(sim, RESOLVE_BOB, version)

    assert fault_code(response) == "ErrorInvalidServerVersion"
    assert b"The specified server version is invalid." in response.content
    assert [(r.operation, r.code, r.request_version) for r in sim.request_log()] == [
        ("ResolveNames", "ErrorInvalidServerVersion", version)
    ]


def test_a_server_refuses_versions_newer_than_itself(sim: EwsSimulator) -> None:
    # Given the simulator presenting Exchange 2010 SP2
    sim.present("Exchange 2010 SP2")
    # Then the 2013 schema is unknown to it, its own and older ones are served
    assert fault_code(post(sim, RESOLVE_BOB, "Exchange2013")) == "ErrorInvalidServerVersion"
    for version in ("Exchange2010_SP2", "Exchange2009", "Exchange2007_SP1"):
        assert response_code(post(sim, RESOLVE_BOB, version)) == "NoError", version


def test_operations_newer_than_the_requested_version_are_refused(sim: EwsSimulator) -> None:
    room_lists = "<m:GetRoomLists/>"
    assert fault_code(post(sim, room_lists, "Exchange2007_SP1")) == "ErrorIncorrectSchemaVersion"
    assert response_code(post(sim, room_lists, "Exchange2010")) == "NoError"
    # Without a header a request is served as Exchange 2007, which had no ConvertId yet
    convert = (
        '<m:ConvertId DestinationFormat="EntryId"><m:SourceIds><t:AlternateId Format="EwsId" Id="DUMMY" '
        f'Mailbox="{smtp("alice")}"/></m:SourceIds></m:ConvertId>'
    )
    assert fault_code(post(sim, convert, None)) == "ErrorIncorrectSchemaVersion"
    assert response_code(post(sim, RESOLVE_BOB, None)) == "NoError"


def test_is_organizer_is_left_out_below_exchange_2013(sim: EwsSimulator) -> None:
    # Given a meeting alice organises
    start = datetime(2030, 1, 7, 9, tzinfo=UTC)
    sim.backend.mailbox(smtp("alice")).put(
        "calendar",
        CalendarItem(subject="Plan", start=start, end=start + timedelta(hours=1), organizer=smtp("alice")),
    )
    is_organizer = f"{{{TYPES_NS}}}IsOrganizer"

    def all_properties(version: str) -> etree._Element:
        response = post(sim, CALENDAR_ALL_PROPERTIES, version)
        assert response_code(response) == "NoError"
        [item] = etree.fromstring(response.content).iter(f"{{{TYPES_NS}}}CalendarItem")
        return item

    # Then 2013 and later answer IsOrganizer, 2010 SP2 (and 2007 SP1) have no such element
    assert all_properties("Exchange2013").findtext(is_organizer) == "true"
    assert all_properties("Exchange2016").findtext(is_organizer) == "true"
    assert all_properties("Exchange2010_SP2").find(is_organizer) is None
    old = all_properties("Exchange2007_SP1")
    assert old.find(is_organizer) is None and old.find(f"{{{TYPES_NS}}}Subject") is not None
    # And asking for it by name under 2010 SP2 fails that version's schema
    by_name = CALENDAR_ALL_PROPERTIES.replace(
        "<t:BaseShape>AllProperties</t:BaseShape>",
        "<t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>"
        '<t:FieldURI FieldURI="calendar:IsOrganizer"/></t:AdditionalProperties>',
    )
    assert fault_code(post(sim, by_name, "Exchange2010_SP2")) == "ErrorSchemaValidation"
    assert response_code(post(sim, by_name, "Exchange2013")) == "NoError"


def test_the_soap_header_is_schema_checked(sim: EwsSimulator) -> None:
    if sim.schema is None:
        pytest.skip("EWS_SCHEMA_DIR is not set")
    bad_impersonation = "<t:ExchangeImpersonation><t:ConnectingSID/></t:ExchangeImpersonation>"
    assert fault_code(post(sim, RESOLVE_BOB, "Exchange2016", bad_impersonation)) == "ErrorSchemaValidation"
    good_zone = '<t:TimeZoneContext><t:TimeZoneDefinition Id="UTC"/></t:TimeZoneContext>'
    assert response_code(post(sim, RESOLVE_BOB, "Exchange2016", good_zone)) == "NoError"


@pytest.mark.parametrize(
    "version", ["Exchange 2007 SP1", "Exchange 2010 SP2", "Exchange 2013", "Exchange Online"]
)
def test_exchangelib_finds_each_release_by_its_server_version_info(sim: EwsSimulator, version: str) -> None:
    # Given the simulator presenting a release and a client that does not know which
    sim.present(version)
    account = build_account(sim, "bob", pin_version=False)
    presented = PRODUCTS[version]
    # When exchangelib guesses (newest API first, down to one the server accepts)
    guessed = account.version
    # Then it has the release's build, and an API version the release serves
    assert guessed.build == Build(*presented.build)
    expected = presented.schema if presented.schema.startswith("Exchange") else "Exchange2016"
    assert guessed.api_version == expected
    assert account.protocol.resolve_names(["carol@example.com"])[0].email_address == smtp("carol")
