"""The HTTP front and EWS dispatch: routing, unknown operations, version headers and guessing."""

from __future__ import annotations

import pytest
import requests
from exchangelib import Build
from exchangelib.errors import ErrorInvalidOperation
from exchangelib.services import GetSearchableMailboxes

from infra.ewssim import EwsSimulator
from tests.integration.ewssim.conftest import build_account
from tests.seed import smtp


def test_resolve_names_round_trip_over_http(sim: EwsSimulator) -> None:
    # Given alice logged on with Basic
    account = build_account(sim, "alice")
    # When she resolves bob
    resolved = account.protocol.resolve_names(["bob@example.com"])
    # Then the simulator answers with bob's mailbox, and counted exactly one ResolveNames
    assert [m.email_address for m in resolved] == [smtp("bob")]
    assert sim.request_counts() == {"ResolveNames": 1}
    record = sim.request_log()[-1]
    assert (record.operation, record.caller, record.status, record.code) == (
        "ResolveNames",
        smtp("alice"),
        200,
        "NoError",
    )


def test_unknown_operation_is_a_fault_naming_the_operation(sim: EwsSimulator) -> None:
    account = build_account(sim, "alice")
    with pytest.raises(ErrorInvalidOperation, match="GetSearchableMailboxes"):
        list(
            GetSearchableMailboxes(protocol=account.protocol).call(
                search_filter=None, expand_group_membership=False
            )
        )
    # One request: exchangelib did not mistake the fault for a version mismatch and cycle versions.
    assert sim.request_counts() == {"GetSearchableMailboxes": 1}
    assert sim.request_log()[-1].code == "ErrorInvalidOperation"


def test_version_guessing_reads_server_version_info(sim: EwsSimulator) -> None:
    # Given an account whose version is not pinned
    account = build_account(sim, "bob", pin_version=False)
    # When exchangelib guesses the version (it sends ConvertId and reads the SOAP header)
    version = account.version
    # Then it found the Exchange 2019 build the simulator reports, with a valid API version
    assert version.build == Build(15, 2, 1118, 7)
    assert version.api_version == "Exchange2016"
    assert sim.request_counts().get("ConvertId", 0) >= 1
    # And the guessed version works for real operations
    assert account.protocol.resolve_names(["carol@example.com"])[0].email_address == smtp("carol")


def test_unknown_paths_and_methods(sim: EwsSimulator) -> None:
    assert requests.post(f"{sim.base_url}/nowhere", data=b"x", timeout=5).status_code == 404
    # IIS authenticates whatever the verb: a GET without credentials gets the challenge, and only an
    # authenticated one learns that EWS takes POST.
    challenged = requests.get(sim.ews_url, timeout=5)
    assert challenged.status_code == 401 and "NTLM" in challenged.headers["WWW-Authenticate"]
    assert requests.get(sim.ews_url, auth=(smtp("alice"), "alice-Secret-1"), timeout=5).status_code == 405
    assert sim.request_counts() == {}


def test_keep_alive_serves_many_requests_on_one_connection(sim: EwsSimulator) -> None:
    account = build_account(sim, "alice")
    for _ in range(5):
        account.protocol.resolve_names(["bob@example.com"])
    assert sim.request_counts() == {"ResolveNames": 5}
    # exchangelib's default pool is one session; all five went through it without reconnecting.
    assert account.protocol.session_pool_size == 1


def test_garbage_body_is_a_soap_fault(sim: EwsSimulator) -> None:
    response = requests.post(sim.ews_url, data=b"<not-xml", auth=(smtp("alice"), "alice-Secret-1"), timeout=5)
    assert response.status_code == 500
    assert b"ErrorInvalidRequest" in response.content
    assert sim.request_counts() == {"(unparseable)": 1}
