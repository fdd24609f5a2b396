"""Fidelity: request and response bodies validated against messages.xsd when a schema folder is set."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from exchangelib.errors import ErrorInternalServerError, ErrorSchemaValidation
from exchangelib.services import ResolveNames
from lxml import etree

from infra.ewssim import EwsSimulator
from infra.ewssim.namespaces import Element, add, m
from infra.ewssim.responses import OPERATIONS, RequestContext
from tests.integration.ewssim.conftest import SCHEMA_DIR, build_account
from tests.seed import PASSWORDS, smtp, standard_org

pytestmark = pytest.mark.skipif(not (SCHEMA_DIR / "messages.xsd").is_file(), reason="no EWS schema folder")


@pytest.fixture(scope="module")
def checked_simulator() -> Iterator[EwsSimulator]:
    server = EwsSimulator(schema_dir=SCHEMA_DIR).start()
    yield server
    server.stop()


@pytest.fixture
def checked(checked_simulator: EwsSimulator) -> EwsSimulator:
    checked_simulator.reset()
    checked_simulator.seed(standard_org())
    return checked_simulator


def test_valid_traffic_passes(checked: EwsSimulator) -> None:
    assert build_account(checked, "alice").protocol.resolve_names(["bob"])[0].email_address == smtp("bob")
    assert checked.take_schema_violations() == []


def test_invalid_request_gets_error_schema_validation(checked: EwsSimulator) -> None:
    # exchangelib's own ResolveNames request, with the required UnresolvedEntry taken out.
    account = build_account(checked, "alice")
    service = ResolveNames(protocol=account.protocol)
    payload = service.get_payload(
        unresolved_entries=["bob"],
        parent_folders=None,
        return_full_contact_data=False,
        search_scope=None,
        contact_data_shape=None,
    )
    payload.remove(payload.find(m("UnresolvedEntry")))
    envelope = service.wrap(content=payload, api_version="Exchange2016")
    response = requests.post(
        checked.ews_url, data=envelope, auth=(smtp("alice"), PASSWORDS["alice"]), timeout=5
    )
    assert response.status_code == 500
    with pytest.raises(ErrorSchemaValidation, match="UnresolvedEntry"):
        service._get_soap_messages(
            body=etree.fromstring(response.content).find("{http://schemas.xmlsoap.org/soap/envelope/}Body")
        )
    assert checked.request_log()[-1].code == "ErrorSchemaValidation"


def test_invalid_response_is_recorded_and_answered_with_a_fault(
    checked: EwsSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(context: RequestContext, body: Element) -> Element:
        root = etree.Element(m("ResolveNamesResponse"))
        add(root, m("NotInTheSchema"), "x")
        return root

    monkeypatch.setitem(OPERATIONS, "ResolveNames", broken)
    with pytest.raises(ErrorInternalServerError, match="invalid ResolveNames response"):
        build_account(checked, "alice").protocol.resolve_names(["bob"])
    violations = checked.take_schema_violations()
    # Taken here, so the autouse check in tests/conftest.py does not fail this test.
    assert len(violations) == 1 and "NotInTheSchema" in violations[0]


def test_schema_is_loaded_once_per_process(checked: EwsSimulator) -> None:
    other = EwsSimulator(schema_dir=SCHEMA_DIR)
    try:
        assert other.schema is not None and checked.schema is not None
        assert other.schema._schema is checked.schema._schema
    finally:
        other.stop()
