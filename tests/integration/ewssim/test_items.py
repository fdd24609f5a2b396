"""FindItem, GetItem, CreateItem, UpdateItem and DeleteItem on calendar items and messages,
driven by exchangelib over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from exchangelib import Account, CalendarItem, EWSDateTime, EWSTimeZone, HTMLBody, Message, Q
from exchangelib.errors import ErrorInvalidRestriction, ErrorIrresolvableConflict

from infra.ewssim.models.backend import Change
from infra.ewssim.models.items import CalendarItem as SimCalendarItem
from infra.ewssim.server import EwsSimulator
from tests.conftest import AccountFactory
from tests.integration.ewssim.calendar_support import at, folder_items
from tests.seed import smtp


@pytest.fixture(autouse=True)
def valid_responses(sim: EwsSimulator) -> Iterator[None]:
    """Every response of these tests must satisfy messages.xsd when the schema check is on."""
    sim.take_schema_violations()
    yield
    assert sim.take_schema_violations() == []


def book(acc: Account, subject: str, start: EWSDateTime, end: EWSDateTime, **fields: object) -> CalendarItem:
    item = CalendarItem(account=acc, folder=acc.calendar, subject=subject, start=start, end=end, **fields)
    item.save(send_meeting_invitations="SendToNone")
    return item


def test_created_item_reads_back_with_every_field(sim: EwsSimulator, account: AccountFactory) -> None:
    alice = account("alice")
    london = EWSTimeZone("Europe/London")
    start = EWSDateTime(2030, 7, 1, 10, 0, tzinfo=london)  # 09:00 UTC in summer
    created = book(
        alice, "Interview", start, start + (at(1, 11) - at(1, 10)),
        location="Room 1", body=HTMLBody("<p>Hello</p>"), legacy_free_busy_status="OOF",
        categories=["Booking"], booking_key="key-1",
    )  # fmt: skip

    fetched = alice.calendar.get(id=created.id)

    assert fetched.subject == "Interview"
    assert fetched.start == EWSDateTime(2030, 7, 1, 9, 0, tzinfo=EWSTimeZone("UTC"))
    assert fetched.end == EWSDateTime(2030, 7, 1, 10, 0, tzinfo=EWSTimeZone("UTC"))
    assert fetched.location == "Room 1"
    assert fetched.body == "<p>Hello</p>" and isinstance(fetched.body, HTMLBody)
    assert fetched.legacy_free_busy_status == "OOF"
    assert fetched.categories == ["Booking"]
    assert fetched.booking_key == "key-1"
    assert fetched.organizer.email_address == smtp("alice")
    stored = sim.backend.mailbox(smtp("alice")).find_item(created.id)
    assert isinstance(stored, SimCalendarItem) and stored.time_zone == "GMT Standard Time"


def test_booking_key_lookup_finds_only_the_stamped_item(account: AccountFactory) -> None:
    alice = account("alice")
    book(alice, "one", at(1, 9), at(1, 10), booking_key="key-1")
    book(alice, "two", at(1, 11), at(1, 12), booking_key="key-2")
    book(alice, "unstamped", at(1, 13), at(1, 14))

    assert [i.subject for i in alice.calendar.filter(booking_key="key-1")] == ["one"]
    assert [i.subject for i in alice.calendar.filter(booking_key="KEY-2")] == ["two"]  # case-insensitive
    assert list(alice.calendar.filter(booking_key="key-3")) == []
    assert {i.subject for i in alice.calendar.filter(booking_key__exists=True)} == {"one", "two"}


def test_booking_key_lookup_through_a_delegate(account: AccountFactory) -> None:
    book(account("alice"), "mine", at(1, 9), at(1, 10), booking_key="key-9")

    found = list(account("svc", mailbox="alice").calendar.filter(booking_key="key-9"))

    assert [i.booking_key for i in found] == ["key-9"]


def test_calendar_view_returns_items_overlapping_the_window(account: AccountFactory) -> None:
    alice = account("alice")
    for subject, start, end in [
        ("before", at(1, 7), at(1, 8)),
        ("ends-at-window-start", at(1, 8), at(1, 9)),
        ("overlaps-start", at(1, 8, 30), at(1, 9, 30)),
        ("inside", at(1, 10), at(1, 11)),
        ("spans-window", at(1, 6), at(1, 18)),
        ("overlaps-end", at(1, 11, 30), at(1, 12, 30)),
        ("starts-at-window-end", at(1, 12), at(1, 13)),
        ("zero-length-inside", at(1, 10, 30), at(1, 10, 30)),
        ("after", at(2, 9), at(2, 10)),
    ]:
        book(alice, subject, start, end)

    seen = [i.subject for i in alice.calendar.view(start=at(1, 9), end=at(1, 12))]

    assert seen == ["spans-window", "overlaps-start", "inside", "zero-length-inside", "overlaps-end"]


def test_calendar_view_returns_requested_extended_properties(account: AccountFactory) -> None:
    alice = account("alice")
    book(alice, "stamped", at(1, 9), at(1, 10), booking_key="key-1")

    seen = list(alice.calendar.view(start=at(1, 0), end=at(2, 0)).only("subject", "booking_key"))

    assert [(i.subject, i.booking_key) for i in seen] == [("stamped", "key-1")]


def test_calendar_view_refuses_restrictions_as_exchange_does(account: AccountFactory) -> None:
    alice = account("alice")

    with pytest.raises(ErrorInvalidRestriction):
        list(alice.calendar.view(start=at(1, 0), end=at(2, 0)).filter(booking_key="key-1"))


def test_restrictions_and_sorting_on_fields(account: AccountFactory) -> None:
    alice = account("alice")
    book(alice, "Alpha", at(1, 9), at(1, 10), location="North")
    book(alice, "Beta", at(1, 11), at(1, 12), location="South")
    book(alice, "Gamma", at(1, 13), at(1, 14), location="North")

    def subjects(query: object) -> list[str]:
        return [i.subject for i in query]  # type: ignore[attr-defined]

    calendar = alice.calendar
    assert subjects(calendar.filter(start__gte=at(1, 11)).order_by("start")) == ["Beta", "Gamma"]
    assert subjects(calendar.filter(Q(subject="Alpha") | Q(subject="Gamma")).order_by("-start")) == [
        "Gamma", "Alpha",
    ]  # fmt: skip
    assert subjects(calendar.filter(~Q(location="North"))) == ["Beta"]
    assert subjects(calendar.filter(location="North", start__lt=at(1, 12))) == ["Alpha"]
    assert subjects(calendar.filter(subject__contains="amm")) == ["Gamma"]
    assert subjects(calendar.filter(subject__startswith="be")) == []  # case-sensitive
    assert subjects(calendar.filter(subject__istartswith="be")) == ["Beta"]


def test_paging_returns_every_item_once(account: AccountFactory) -> None:
    alice = account("alice")
    for hour in range(8, 15):
        book(alice, f"slot {hour}", at(1, hour), at(1, hour, 30))

    query = alice.calendar.all().order_by("start")
    query.page_size = 3

    assert [i.subject for i in query] == [f"slot {hour}" for hour in range(8, 15)]
    assert alice.calendar.all().count() == 7


def test_update_sets_and_deletes_fields(sim: EwsSimulator, account: AccountFactory) -> None:
    alice = account("alice")
    item = book(alice, "Draft", at(1, 9), at(1, 10), location="Room 1", booking_key="key-1")
    old_change_key = item.changekey

    item.subject = "Final"
    item.end = at(1, 11)
    item.location = None
    item.booking_key = "key-2"
    item.save(update_fields=["subject", "end", "location", "booking_key"])

    stored = sim.backend.mailbox(smtp("alice")).find_item(item.id)
    assert isinstance(stored, SimCalendarItem)
    assert (stored.subject, stored.location, stored.end) == ("Final", "", at(1, 11))
    assert item.changekey == stored.change_key != old_change_key
    fetched = alice.calendar.get(id=item.id)
    assert (fetched.subject, fetched.location, fetched.booking_key) == ("Final", None, "key-2")


def test_stale_change_key_is_an_irresolvable_conflict(account: AccountFactory) -> None:
    alice = account("alice")
    item = book(alice, "Original", at(1, 9), at(1, 10))
    stale = alice.calendar.get(id=item.id)
    item.subject = "First writer"
    item.save(update_fields=["subject"])

    stale.subject = "Second writer"
    with pytest.raises(ErrorIrresolvableConflict):
        stale.save(update_fields=["subject"])
    assert alice.calendar.get(id=item.id).subject == "First writer"

    stale.save(update_fields=["subject"], conflict_resolution="AlwaysOverwrite")
    assert alice.calendar.get(id=item.id).subject == "Second writer"


@pytest.mark.parametrize("how", ["delete", "soft_delete", "move_to_trash"])
def test_delete_types(sim: EwsSimulator, account: AccountFactory, how: str) -> None:
    alice = account("alice")
    item = book(alice, "Doomed", at(1, 9), at(1, 10))

    getattr(item, how)()

    assert folder_items(sim, "alice", "calendar") == []
    trashed = [i.subject for i in folder_items(sim, "alice", "deleteditems")]
    assert trashed == (["Doomed"] if how == "move_to_trash" else [])
    # Exchange keeps soft-deleted items in Recoverable Items, out of every client-visible folder.
    recoverable = [i.subject for i in folder_items(sim, "alice", "recoverableitemsdeletions")]
    assert recoverable == (["Doomed"] if how == "soft_delete" else [])
    if how == "move_to_trash":
        assert [i.subject for i in alice.trash.all()] == ["Doomed"]


def test_messages_send_save_and_send_with_copy(sim: EwsSimulator, account: AccountFactory) -> None:
    alice, bob = account("alice"), account("bob")

    Message(account=alice, subject="only sent", body="hi", to_recipients=[smtp("bob")]).send(save_copy=False)
    Message(
        account=alice, subject="sent and kept", to_recipients=[smtp("bob"), "x@elsewhere.test"]
    ).send_and_save()
    Message(account=alice, folder=alice.drafts, subject="draft", to_recipients=[smtp("bob")]).save()

    assert sorted(m.subject for m in bob.inbox.all()) == ["only sent", "sent and kept"]
    assert [m.subject for m in alice.sent.all()] == ["sent and kept"]
    assert [m.subject for m in alice.drafts.all()] == ["draft"]
    received = bob.inbox.get(subject="only sent")
    assert received.sender.email_address == smtp("alice") and received.is_read is False
    assert [i.subject for i in folder_items(sim, "bob", "inbox")] == ["only sent", "sent and kept"]


def test_every_change_is_recorded_for_subscriptions(sim: EwsSimulator, account: AccountFactory) -> None:
    changes: list[Change] = []
    sim.backend.on_change(changes.append)
    alice = account("alice")
    calendar_id = alice.calendar.id

    item = book(alice, "Watched", at(1, 9), at(1, 10))
    item_id = item.id
    item.subject = "Watched again"
    item.save(update_fields=["subject"])
    item.move_to_trash()
    Message(account=alice, subject="note", to_recipients=[smtp("bob")]).send(save_copy=False)

    mine = [(c.mailbox, c.event_type) for c in changes if c.item_id == item_id]
    assert mine == [(smtp("alice"), "CreatedEvent"), (smtp("alice"), "ModifiedEvent"),
                    (smtp("alice"), "MovedEvent")]  # fmt: skip
    moved = next(c for c in changes if c.event_type == "MovedEvent")
    assert moved.old_folder_id == calendar_id
    assert [(c.mailbox, c.event_type) for c in changes if c.mailbox == smtp("bob")] == [
        (smtp("bob"), "CreatedEvent"), (smtp("bob"), "NewMailEvent"),
    ]  # fmt: skip


def test_every_item_kind_renders_valid_xml_with_all_properties(
    sim: EwsSimulator, account: AccountFactory
) -> None:
    """exchangelib only asks for named fields; other clients ask for AllProperties. Render every kind
    of item the simulator holds that way and hold it to messages.xsd."""
    if sim.schema is None:
        pytest.skip("EWS_SCHEMA_DIR is not set")
    from infra.ewssim.namespaces import add, m
    from infra.ewssim.responses.common import operation_response, success
    from infra.ewssim.responses.item_fields import RenderContext
    from infra.ewssim.responses.item_xml import Shape, render_item

    alice, bob = account("alice"), account("bob")
    meeting = CalendarItem(account=alice, folder=alice.calendar, subject="All", start=at(1, 9), end=at(1, 10),
                           required_attendees=[smtp("bob")], categories=["x"], booking_key="k")  # fmt: skip
    meeting.save(send_meeting_invitations="SendToAllAndSaveCopy")
    next(iter(bob.inbox.all())).accept()
    alice.calendar.get(id=meeting.id).delete(send_meeting_cancellations="SendToAllAndSaveCopy")
    Message(account=alice, subject="note", to_recipients=[smtp("bob")]).send()
    held = [i for who in ("alice", "bob") for f in ("inbox", "sentitems", "calendar", "deleteditems")
            for i in folder_items(sim, who, f)]  # fmt: skip
    kinds = {type(i).__name__ + getattr(i, "item_class", "") for i in held}
    assert len(kinds) >= 5

    root, messages = operation_response("GetItem")
    context = RenderContext((True,) * 6, True, lambda email: email)
    for item in held:
        items = add(success(messages, "GetItemResponseMessage"), m("Items"))
        render_item(items, item, Shape("AllProperties"), context)
    assert sim.schema.errors(root) == []
