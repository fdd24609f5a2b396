"""The connectivity check's answers, without I/O: found, unknown and malformed integration ids."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pipeline.callback_check import CheckAnswer, check_connectivity, check_url
from pipeline.integrations import IntegrationSettings, is_integration_id
from pipeline.store.records import IntegrationRecord

SUCCESS = "You have successfully reached ews-pipeline, integration is: {}"
MALFORMED = ["", "a b", "a/b", "../acme", "acme\n", "acme%2F", "é", "a" * 129, "<script>", "acme;drop"]


class IntegrationLookups:
    """The integration part of the store, in memory, counting what is looked up."""

    def __init__(self, *integration_ids: str) -> None:
        self.known = set(integration_ids)
        self.looked_up: list[str] = []

    def get_integration_record(self, integration_id: str) -> IntegrationRecord | None:
        self.looked_up.append(integration_id)
        return IntegrationRecord(integration_id) if integration_id in self.known else None


def check(store: IntegrationLookups, integration_id: str):
    return check_connectivity(integration_id, store=store)  # type: ignore[arg-type]


def test_a_known_integration_is_greeted_by_name():
    store = IntegrationLookups("acme-onprem", "a" * 128)

    assert check(store, "acme-onprem") == CheckAnswer(200, SUCCESS.format("acme-onprem"))
    assert check(store, "a" * 128).status == 200
    assert store.looked_up == ["acme-onprem", "a" * 128]


def test_an_unknown_integration_is_not_found_after_the_same_lookup():
    store = IntegrationLookups("acme-onprem")

    answer = check(store, "acme-cloud")

    assert (answer.status, answer.text) == (404, "Not found")
    assert store.looked_up == ["acme-cloud"]


@pytest.mark.parametrize("integration_id", MALFORMED)
def test_a_malformed_id_is_not_found_and_never_reaches_the_store(integration_id):
    store = IntegrationLookups("acme-onprem")

    answer = check(store, integration_id)

    assert (answer.status, answer.text) == (404, "Not found")
    # One lookup all the same (the cost of a well-formed one), but of a stand-in, never the input.
    [looked_up] = store.looked_up
    assert looked_up != integration_id and is_integration_id(looked_up)


def test_a_stored_stand_in_id_still_does_not_make_a_malformed_id_found():
    store = IntegrationLookups("acme-onprem")
    check(store, "a b")
    store.known.add(store.looked_up[0])

    assert check(store, "a b").status == 404


@pytest.mark.parametrize("integration_id", [*MALFORMED, "acme", "acme.eu-1_x", "a" * 128, "A.B-c_9"])
def test_the_shape_check_agrees_with_the_integration_settings_model(integration_id):
    try:
        IntegrationSettings.model_validate({
            "integration_id": integration_id, "connection_method": "delegate", "auth_type": "basic",
            "ews_url": "https://mail.example.com/EWS/Exchange.asmx", "secret_name": "ews-pipeline/x",
            "service_mailbox": "svc@example.com"})
        valid = True
    except ValidationError:
        valid = False

    assert is_integration_id(integration_id) is valid


def test_the_check_url_is_the_callback_base_with_the_integration():
    assert check_url("https://callbacks.example.com/", "acme") == "https://callbacks.example.com/check/acme"
