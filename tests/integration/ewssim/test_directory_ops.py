"""ResolveNames, GetRoomLists and GetRooms, driven by exchangelib over HTTP against the simulator.

One name per ResolveNames call: messages.xsd allows a single UnresolvedEntry per request.
"""

from __future__ import annotations

import pytest
from exchangelib.errors import ErrorNameResolutionNoResults
from exchangelib.items import Contact
from exchangelib.properties import Mailbox

from infra.ewssim.models.directory import RoomList
from tests.integration.ewssim.test_availability import schema_checked
from tests.seed import smtp

__all__ = ["schema_checked"]  # the autouse fixture validates every response these tests cause


def test_room_lists(sim, account) -> None:
    room_lists = list(account("alice").protocol.get_roomlists())

    assert [(r.name, r.email_address, r.mailbox_type) for r in room_lists] == [
        ("Building 1", smtp("building-1"), "PublicDL"),
        ("Building 2", smtp("building-2"), "PublicDL"),
    ]


def test_no_room_lists(sim, account) -> None:
    sim.backend.directory.room_lists.clear()

    assert list(account("alice").protocol.get_roomlists()) == []


@pytest.mark.parametrize(
    ("room_list", "rooms"),
    [("building-1", ["room-a", "room-b"]), ("building-2", ["room-c", "room-d"])],
)
def test_rooms_of_a_room_list(sim, account, room_list, rooms) -> None:
    found = list(account("svc").protocol.get_rooms(smtp(room_list)))

    assert [r.email_address for r in found] == [smtp(room) for room in rooms]
    assert [r.name for r in found] == [f"Room {room[-1].upper()}" for room in rooms]


def test_empty_room_list(sim, account) -> None:
    sim.backend.directory.add_room_list(RoomList(smtp=smtp("annex"), display_name="Annex"))

    assert list(account("svc").protocol.get_rooms(smtp("annex"))) == []


def test_unknown_room_list(sim, account) -> None:
    with pytest.raises(ErrorNameResolutionNoResults):
        list(account("svc").protocol.get_rooms(smtp("no-such-list")))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (smtp("carol"), "carol"),
        (f"SMTP:{smtp('BOB')}", "bob"),
        ("Alice Arch", "alice"),
        ("car", "carol"),
        ("Baker", "bob"),
    ],
)
def test_resolve_one(sim, account, query, expected) -> None:
    [mailbox] = account("svc").protocol.resolve_names([query])

    assert isinstance(mailbox, Mailbox)
    assert (mailbox.email_address, mailbox.mailbox_type, mailbox.routing_type) == (
        smtp(expected),
        "Mailbox",
        "SMTP",
    )


def test_resolve_many_returns_every_candidate(sim, account) -> None:
    rooms = account("svc").protocol.resolve_names(["room"])
    lists = account("svc").protocol.resolve_names(["build"])

    assert [m.email_address for m in rooms] == [smtp(r) for r in ("room-a", "room-b", "room-c", "room-d")]
    assert {(m.email_address, m.mailbox_type) for m in lists} == {
        (smtp("building-1"), "PublicDL"),
        (smtp("building-2"), "PublicDL"),
    }


def test_resolve_with_full_contact_data(sim, account) -> None:
    [(mailbox, contact)] = account("svc").protocol.resolve_names(["alice"], return_full_contact_data=True)

    assert mailbox.name == "Alice Archer"
    assert isinstance(contact, Contact)
    assert (contact.display_name, contact.given_name, contact.surname) == ("Alice Archer", "Alice", "Archer")
    assert contact.contact_source == "ActiveDirectory"
    assert [e.email for e in contact.email_addresses] == [f"SMTP:{smtp('alice')}"]


def test_resolve_nothing(sim, account) -> None:
    [result] = account("svc").protocol.resolve_names(["zebra"])

    assert isinstance(result, ErrorNameResolutionNoResults)
