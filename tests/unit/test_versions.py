"""server_version: every name operators and EWS use maps to the right API version and build; names
that are no version are refused naming the accepted ones; a version gap is VERSION_NOT_SUPPORTED;
Exchange 2007 gets a MeetingTimeZone its schema accepts.

No I/O: exchangelib's refusals are raised by exchangelib itself, on a protocol that is never used.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from exchangelib import Build, EWSDateTime, EWSTimeZone, Version
from exchangelib import errors as ews
from exchangelib.fields import InvalidFieldForVersion
from exchangelib.services import GetRoomLists, GetRooms
from exchangelib.services.common import EWSService
from lxml import etree

from pipeline.errors import ErrorCode, PermanentError
from pipeline.exchange.ews.errors import ews_errors, to_pipeline_error
from pipeline.exchange.ews.legacy_time_zone import calendar_item_class
from pipeline.exchange.ews.protocol import pinned_version
from pipeline.exchange.versions import EXCHANGE_VERSIONS, accepted_names, resolve
from pipeline.integrations import load_integration


def settings(server_version: str) -> dict[str, Any]:
    return {
        "integration_id": "acme-1",
        "connection_method": "delegate",
        "auth_type": "basic",
        "ews_url": "https://mail.example.com/EWS/Exchange.asmx",
        "secret_name": "ews/acme-1/service",
        "service_mailbox": "svc@example.com",
        "server_version": server_version,
    }


@pytest.mark.parametrize(
    ("name", "api_version", "build"),
    [
        ("Exchange 2007 SP1", "Exchange2007_SP1", (8, 1, 0, 0)),
        ("Exchange 2007 SP2", "Exchange2007_SP1", (8, 2, 0, 0)),
        ("Exchange 2007 SP3", "Exchange2007_SP1", (8, 3, 0, 0)),
        ("Exchange 2010", "Exchange2010", (14, 0, 0, 0)),
        ("Exchange 2010 SP1", "Exchange2010_SP1", (14, 1, 0, 0)),
        ("Exchange 2010 SP2", "Exchange2010_SP2", (14, 2, 0, 0)),
        ("Exchange 2010 SP3", "Exchange2010_SP2", (14, 3, 0, 0)),
        ("Exchange 2013", "Exchange2013", (15, 0, 0, 0)),
        ("Exchange 2013 SP1", "Exchange2013_SP1", (15, 0, 847, 0)),
        ("Exchange 2016", "Exchange2016", (15, 1, 0, 0)),
        ("Exchange 2019", "Exchange2016", (15, 2, 0, 0)),  # 2019 speaks the 2016 API
        ("Exchange Online", "Exchange2016", (15, 20, 0, 0)),
        # As operators type them: any case, any spacing, the long product name
        ("exchange 2007 sp1", "Exchange2007_SP1", (8, 1, 0, 0)),
        ("  EXCHANGE  2010  SP2 ", "Exchange2010_SP2", (14, 2, 0, 0)),
        ("Microsoft Exchange Server 2019", "Exchange2016", (15, 2, 0, 0)),
        ("Exchange 2013 Service Pack 1", "Exchange2013_SP1", (15, 0, 847, 0)),
        ("exchange online", "Exchange2016", (15, 20, 0, 0)),
        # The EWS API version names (RequestServerVersion values), and Exchange2019
        ("Exchange2007_SP1", "Exchange2007_SP1", (8, 1, 0, 0)),
        ("Exchange2010", "Exchange2010", (14, 0, 0, 0)),
        ("Exchange2010_SP1", "Exchange2010_SP1", (14, 1, 0, 0)),
        ("Exchange2010_SP2", "Exchange2010_SP2", (14, 2, 0, 0)),
        ("Exchange2013", "Exchange2013", (15, 0, 0, 0)),
        ("Exchange2013_SP1", "Exchange2013_SP1", (15, 0, 847, 0)),
        ("Exchange2016", "Exchange2016", (15, 1, 0, 0)),
        ("Exchange2019", "Exchange2016", (15, 2, 0, 0)),
        # Builds, as today: the release they belong to, the build itself pinned
        ("8.1.240.6", "Exchange2007_SP1", (8, 1, 240, 6)),
        ("14.3.123.4", "Exchange2010_SP2", (14, 3, 123, 4)),
        ("15.0.516.32", "Exchange2013", (15, 0, 516, 32)),
        ("15.0.847.32", "Exchange2013_SP1", (15, 0, 847, 32)),
        ("15.1", "Exchange2016", (15, 1, 0, 0)),
        ("15.2.1118", "Exchange2016", (15, 2, 1118, 0)),
        ("15.20.5000.10", "Exchange2016", (15, 20, 5000, 10)),
    ],
)
def test_every_name_maps_to_its_api_version_and_build(
    name: str, api_version: str, build: tuple[int, int, int, int]
) -> None:
    # Given the name as an operator stores it
    integration = load_integration(settings(name))
    # Then the settings accept it as written, and it pins that API version and build
    assert integration.server_version == name
    assert (resolve(name).api_version, resolve(name).build) == (api_version, build)
    pinned = pinned_version(name)
    assert pinned is not None
    assert (pinned.api_version, pinned.build) == (api_version, Build(*build))


def test_each_release_has_one_row_named_as_its_operators_know_it() -> None:
    names = [version.name for version in EXCHANGE_VERSIONS]
    assert len(set(names)) == len(names)
    assert all(resolve(name).name == name for name in names)
    # exchangelib agrees on the API version of every release's oldest build
    for version in EXCHANGE_VERSIONS:
        assert Version(build=Build(*version.build)).api_version == version.api_version, version.name
    # Room lists arrived with Exchange 2010
    assert [v.name for v in EXCHANGE_VERSIONS if not v.has_room_lists] == [
        "Exchange 2007 SP1", "Exchange 2007 SP2", "Exchange 2007 SP3",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "bad", ["Exchange2099", "Exchange 2099", "2019", "latest", "Exchange", "Exchange2007", "Exchange2015",
            "15.x", "16.0", "8.0.685.24", "Exchange 2016 SP1"],
)  # fmt: skip
def test_anything_else_is_an_invalid_integration_naming_what_is_accepted(bad: str) -> None:
    with pytest.raises(PermanentError) as refused:
        load_integration(settings(bad))
    assert refused.value.code is ErrorCode.INVALID_INTEGRATION
    assert "server_version" in refused.value.message
    if not bad[0].isdigit():
        assert all(name in refused.value.message for name in accepted_names())
        assert "Exchange 2010 SP2" in refused.value.message and "Exchange2019" in refused.value.message


def test_no_version_means_detect() -> None:
    assert pinned_version(None) is None
    assert (
        load_integration({k: v for k, v in settings("x").items() if k != "server_version"}).server_version
        is None
    )


def exchange_2007_protocol() -> Any:
    """What exchangelib's services read from a protocol before sending: only its version."""
    return SimpleNamespace(version=pinned_version("Exchange 2007 SP1"))


@pytest.mark.parametrize("service", [GetRoomLists, GetRooms])
def test_exchangelibs_refusal_of_a_newer_operation_is_version_not_supported(service: type) -> None:
    # Given exchangelib refusing a 2010 operation on a 2007 SP1 protocol, before any request
    with pytest.raises(PermanentError) as refused, ews_errors(service.SERVICE_NAME):
        service(protocol=exchange_2007_protocol())
    # Then it is permanent, with the stable code and a message naming the operation and the version
    assert refused.value.code is ErrorCode.VERSION_NOT_SUPPORTED
    assert not refused.value.retryable
    assert refused.value.message.startswith(f"{service.SERVICE_NAME} is not supported by this server version")
    assert "Exchange2007_SP1" in refused.value.message


@pytest.mark.parametrize(
    "exc",
    [
        ews.ErrorInvalidServerVersion("Tried versions ('Exchange2016',) but all were invalid"),
        ews.ErrorIncorrectSchemaVersion("valid, but not for the request server version"),
        ews.ErrorInvalidSchemaVersionForMailboxVersion("mailbox on an older server"),
        InvalidFieldForVersion("Field 'text_body' is not supported on server version ..."),
    ],
)
def test_version_answers_from_exchange_are_version_not_supported(exc: Exception) -> None:
    mapped = to_pipeline_error(exc, "GetItem")
    assert isinstance(mapped, PermanentError)
    assert mapped.code is ErrorCode.VERSION_NOT_SUPPORTED


def test_a_not_implemented_error_of_our_own_is_a_bug_not_a_version_gap() -> None:
    try:
        raise NotImplementedError("not supported yet: a pipeline bug")
    except NotImplementedError as exc:
        assert to_pipeline_error(exc, "GetItem") is None
    # Nor is exchangelib's bare NotImplementedError of a method a service forgot to implement
    service = GetRooms(protocol=SimpleNamespace(version=pinned_version("Exchange 2010")))
    with pytest.raises(NotImplementedError) as abstract:
        EWSService._elem_to_obj(service, None)
    assert to_pipeline_error(abstract.value, "GetRooms") is None


def zone_elements(version_name: str) -> list[tuple[str, dict[str, str]]]:
    """The time zone elements a calendar item is written with for a server of this version."""
    version = pinned_version(version_name)
    assert version is not None
    london = EWSTimeZone("Europe/London")
    item = calendar_item_class(version)(
        subject="Interview", start=EWSDateTime(2026, 11, 3, 14, tzinfo=london),
        end=EWSDateTime(2026, 11, 3, 15, tzinfo=london),
    )  # fmt: skip
    written = item.to_xml(version=version)
    return [(etree.QName(el).localname, dict(el.attrib)) for el in written if "TimeZone" in el.tag]


def test_exchange_2007_gets_its_own_meeting_time_zone_and_2010_the_start_and_end_zones() -> None:
    # exchangelib alone would write MeetingTimeZone with Id and Name, which 2007's schema refuses
    assert zone_elements("Exchange 2007 SP1") == [("MeetingTimeZone", {"TimeZoneName": "GMT Standard Time"})]
    assert zone_elements("Exchange 2010") == [
        ("StartTimeZone", {"Id": "GMT Standard Time"}), ("EndTimeZone", {"Id": "GMT Standard Time"}),
    ]  # fmt: skip
