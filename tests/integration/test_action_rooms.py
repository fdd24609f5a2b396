"""list_rooms through run_job: every connection method, one GetRooms in the common path."""

from __future__ import annotations

import pytest

from infra.ewssim import EwsSimulator
from pipeline.contract import JobStatus
from tests.integration.pipeline_support import METHOD_AUTH_PAIRS, PipelineHarness, pipeline
from tests.seed import smtp

__all__ = ["pipeline"]  # the fixture, re-exported for pytest

SERVICE_PAIRS = [(method, auth) for method, auth in METHOD_AUTH_PAIRS if method != "personal"]
PERSONAL_PAIRS = [(method, auth) for method, auth in METHOD_AUTH_PAIRS if method == "personal"]


@pytest.fixture(autouse=True)
def _local_oauth(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


@pytest.mark.parametrize(("method", "auth"), SERVICE_PAIRS)
def test_one_room_list_costs_one_get_rooms(
    pipeline: PipelineHarness, sim: EwsSimulator, method: str, auth: str
) -> None:
    integration_id = pipeline.install(method, auth)

    outcome = pipeline.run("list_rooms", integration_id=integration_id, room_list="Building-2@Example.com")

    assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    assert outcome.result == {
        "room_lists": [
            {
                "email": smtp("building-2"),
                "name": smtp("building-2"),  # not looked up: that would cost a second request
                "rooms": [
                    {"email": smtp("room-c"), "name": "Room C"},
                    {"email": smtp("room-d"), "name": "Room D"},
                ],
            }
        ]
    }
    assert sim.request_counts() == {"GetRooms": 1}


@pytest.mark.parametrize(("method", "auth"), SERVICE_PAIRS)
def test_every_room_list_with_its_rooms(
    pipeline: PipelineHarness, sim: EwsSimulator, method: str, auth: str
) -> None:
    integration_id = pipeline.install(method, auth)

    outcome = pipeline.run("list_rooms", integration_id=integration_id)

    assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    assert outcome.result is not None
    found = [
        (room_list["email"], room_list["name"], [room["email"] for room in room_list["rooms"]])
        for room_list in outcome.result["room_lists"]
    ]
    assert found == [
        (smtp("building-1"), "Building 1", [smtp("room-a"), smtp("room-b")]),
        (smtp("building-2"), "Building 2", [smtp("room-c"), smtp("room-d")]),
    ]
    assert sim.request_counts() == {"GetRoomLists": 1, "GetRooms": 2}


@pytest.mark.parametrize(("method", "auth"), PERSONAL_PAIRS)
def test_a_personal_integration_needs_a_user_to_list_rooms_with(
    pipeline: PipelineHarness, sim: EwsSimulator, method: str, auth: str
) -> None:
    # A personal integration holds only its users' own secrets: without a named user it has none.
    integration_id = pipeline.install(method, auth)

    outcome = pipeline.run("list_rooms", integration_id=integration_id, room_list=smtp("building-1"))

    assert outcome.status is JobStatus.FAILED and outcome.error is not None
    assert (outcome.error.code, outcome.error.retryable) == ("INVALID_KWARGS", False)
    assert "mailbox" in outcome.error.message
    assert sim.request_counts() == {}


@pytest.mark.parametrize(("method", "auth"), PERSONAL_PAIRS)
def test_a_personal_integration_lists_rooms_with_the_named_users_credentials(
    pipeline: PipelineHarness, sim: EwsSimulator, method: str, auth: str
) -> None:
    integration_id = pipeline.install(method, auth)

    outcome = pipeline.run(
        "list_rooms", integration_id=integration_id, room_list=smtp("building-1"), mailbox=smtp("carol")
    )

    assert outcome.status is JobStatus.SUCCEEDED and outcome.result is not None
    rooms = [room["email"] for room in outcome.result["room_lists"][0]["rooms"]]
    assert rooms == [smtp("room-a"), smtp("room-b")]
    assert sim.request_counts() == {"GetRooms": 1}
    assert {record.caller for record in sim.request_log("GetRooms")} == {smtp("carol")}


def test_an_unknown_room_list_fails_the_job_without_retry(
    pipeline: PipelineHarness, sim: EwsSimulator
) -> None:
    integration_id = pipeline.install("delegate")

    outcome = pipeline.run("list_rooms", integration_id=integration_id, room_list="nowhere@example.com")

    assert outcome.status is JobStatus.FAILED and outcome.error is not None
    assert outcome.error.retryable is False
    assert "ErrorNameResolutionNoResults" in outcome.error.message
    assert sim.request_counts() == {"GetRooms": 1}
