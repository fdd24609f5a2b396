"""SyncFolderItems on calendars (and the inbox's read flags), driven by exchangelib over HTTP.

Each page is one SyncFolderItems request through exchangelib's own service class, so a test sees
exactly what one answer carried: its changes, its SyncState and IncludesLastItemInRange.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from exchangelib import Account, CalendarItem, Message
from exchangelib.errors import ErrorAccessDenied, ErrorInvalidSyncStateData, ErrorSchemaValidation
from exchangelib.fields import FieldPath
from exchangelib.folders import Calendar, Inbox, Root
from exchangelib.services import SyncFolderItems

from infra.ewssim.server import EwsSimulator
from tests.conftest import AccountFactory
from tests.integration.ewssim.calendar_support import at
from tests.integration.ewssim.conftest import build_account
from tests.seed import smtp, standard_org


@pytest.fixture(autouse=True)
def valid_responses(sim: EwsSimulator) -> Iterator[None]:
    """Every response of these tests must satisfy messages.xsd when the schema check is on."""
    sim.take_schema_violations()
    yield
    assert sim.take_schema_violations() == []


class Page:
    """One SyncFolderItems answer: (change type, item or id) pairs, the new state, and the flag."""

    def __init__(self, changes: list[tuple[str, Any]], state: str, last: bool) -> None:
        self.changes, self.state, self.last = changes, state, last

    @property
    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.changes]

    def ids(self) -> list[str]:
        return [value.id if kind != "read_flag_change" else value[0].id for kind, value in self.changes]


def sync(
    acc: Account,
    folder: Any = None,
    state: str | None = None,
    max_changes: int = 100,
    fields: tuple[str, ...] = ("subject", "booking_key"),
    ignore: list[Any] | None = None,
    shape: str = "IdOnly",
    model: type[Any] = CalendarItem,
) -> Page:
    """Exactly one SyncFolderItems request (exchangelib's folder.sync_items loops over pages)."""
    service = SyncFolderItems(account=acc)
    changes = list(
        service.call(
            folder=folder if folder is not None else Calendar(root=Root(account=acc)),
            shape=shape,
            additional_fields={FieldPath(field=model.get_field_by_fieldname(name)) for name in fields},
            sync_state=state,
            ignore=ignore,
            max_changes_returned=max_changes,
            sync_scope=None,
        )
    )
    return Page(changes, service.sync_state, service.includes_last_item_in_range)


def book(acc: Account, subject: str, hour: int, **fields: Any) -> CalendarItem:
    item = CalendarItem(
        account=acc, folder=acc.calendar, subject=subject, start=at(1, hour), end=at(1, hour + 1), **fields
    )
    item.save(send_meeting_invitations="SendToNone")
    return item


def synced(acc: Account) -> str:
    """The state after a complete first sync."""
    page = sync(acc)
    assert page.last
    return page.state


# First sync ---------------------------------------------------------------------------------------


def test_the_first_sync_pages_through_every_item_as_creates(
    sim: EwsSimulator, account: AccountFactory
) -> None:
    alice = account("alice")
    booked = [book(alice, f"Meeting {n}", 8 + n, booking_key=f"key-{n}") for n in range(5)]
    before = sim.request_counts().get("SyncFolderItems", 0)

    pages = [sync(alice, max_changes=2)]
    while not pages[-1].last:
        pages.append(sync(alice, state=pages[-1].state, max_changes=2))

    assert [len(p.changes) for p in pages] == [2, 2, 1]
    assert [p.last for p in pages] == [False, False, True]
    assert sim.request_counts()["SyncFolderItems"] - before == 3
    changes = [change for page in pages for change in page.changes]
    assert {kind for kind, _ in changes} == {"create"}
    assert [item.id for _, item in changes] == [item.id for item in booked]
    assert [(item.subject, item.booking_key) for _, item in changes] == [
        (f"Meeting {n}", f"key-{n}") for n in range(5)
    ]
    assert len({p.state for p in pages}) == 3  # every page moves the state on


def test_an_empty_calendar_syncs_to_nothing_in_one_page(account: AccountFactory) -> None:
    page = sync(account("alice"), max_changes=1)

    assert page.changes == [] and page.last and page.state
    assert sync(account("alice"), state=page.state).changes == []


def test_the_shape_decides_the_properties(account: AccountFactory) -> None:
    alice = account("alice")
    book(alice, "Stamped", 9, booking_key="key-1", location="Room 1")

    [(_, id_only)] = sync(alice, fields=()).changes
    [(_, stamped)] = sync(alice, fields=("booking_key",)).changes
    [(_, default)] = sync(alice, fields=(), shape="Default").changes

    assert id_only.id and id_only.subject is None and id_only.booking_key is None
    assert stamped.booking_key == "key-1" and stamped.subject is None
    assert (default.subject, default.location, default.start) == ("Stamped", "Room 1", at(1, 9))
    assert default.booking_key is None  # extended properties only when asked for


def test_a_folder_id_and_the_distinguished_id_sync_the_same_calendar(account: AccountFactory) -> None:
    alice = account("alice")
    item = book(alice, "One", 9)

    by_id = sync(alice, folder=alice.calendar)  # a FolderId (exchangelib fetched the folder)
    by_name = sync(alice)  # DistinguishedFolderId "calendar"

    assert by_id.ids() == by_name.ids() == [item.id]


def test_exchangelib_sync_items_follows_the_pages_and_resumes(account: AccountFactory) -> None:
    alice = account("alice")
    booked = [book(alice, f"Meeting {n}", 8 + n) for n in range(3)]
    calendar = alice.calendar

    first = list(calendar.sync_items(max_changes_returned=1))
    booked[1].subject = "Renamed"
    booked[1].save(update_fields=["subject"])
    second = list(calendar.sync_items())

    assert [(kind, item.id) for kind, item in first] == [("create", item.id) for item in booked]
    assert [(kind, item.id, item.subject) for kind, item in second] == [("update", booked[1].id, "Renamed")]


# Later syncs --------------------------------------------------------------------------------------


def test_a_later_sync_returns_only_what_changed(account: AccountFactory) -> None:
    alice = account("alice")
    kept, renamed, deleted = book(alice, "Kept", 8), book(alice, "Old name", 9), book(alice, "Doomed", 10)
    state = synced(alice)

    renamed.subject = "New name"
    renamed.save(update_fields=["subject"])
    deleted_id = deleted.id
    deleted.delete()
    added = book(alice, "Added", 11, booking_key="key-new")
    page = sync(alice, state=state)

    # Changed items in change order, then deletions (the order ICS lists differences in).
    assert page.kinds == ["update", "create", "delete"] and page.last
    assert page.ids() == [renamed.id, added.id, deleted_id]
    assert page.changes[0][1].subject == "New name" and page.changes[0][1].changekey == renamed.changekey
    assert page.changes[1][1].booking_key == "key-new"
    assert kept.id not in page.ids()
    # Nothing since: an empty page, and the state stays valid.
    again = sync(alice, state=page.state)
    assert again.changes == [] and again.last


def test_later_changes_page_with_includes_last_item_in_range(account: AccountFactory) -> None:
    alice = account("alice")
    state = synced(alice)
    added = [book(alice, f"New {n}", 8 + n) for n in range(3)]

    first = sync(alice, state=state, max_changes=2)
    second = sync(alice, state=first.state, max_changes=2)

    assert (first.kinds, first.last) == (["create", "create"], False)
    assert (second.kinds, second.last) == (["create"], True)
    assert first.ids() + second.ids() == [item.id for item in added]


@pytest.mark.parametrize("remove", ["delete", "soft_delete", "move_to_trash"])
def test_every_way_out_of_the_calendar_is_a_delete(account: AccountFactory, remove: str) -> None:
    alice = account("alice")
    item = book(alice, "Leaving", 9)
    item_id = item.id
    state = synced(alice)

    getattr(item, remove)()
    page = sync(alice, state=state)

    assert page.kinds == ["delete"] and page.ids() == [item_id]


def test_an_item_created_and_deleted_between_syncs_is_never_reported(account: AccountFactory) -> None:
    alice = account("alice")
    state = synced(alice)
    book(alice, "Blink", 9).delete()

    assert sync(alice, state=state).changes == []


def test_a_change_made_behind_the_server_s_back_is_still_an_update(
    sim: EwsSimulator, account: AccountFactory
) -> None:
    alice = account("alice")
    item = book(alice, "Before", 9)
    state = synced(alice)
    stored = sim.backend.mailbox(smtp("alice")).find_item(item.id)
    assert stored is not None
    stored.subject = "After"  # no ChangeKey change, no event: only the content differs

    page = sync(alice, state=state)

    assert page.kinds == ["update"] and page.changes[0][1].subject == "After"


def test_ignored_items_are_passed_over(account: AccountFactory) -> None:
    alice = account("alice")
    mine, theirs = book(alice, "Mine", 9), book(alice, "Theirs", 10)
    state = synced(alice)
    for item in (mine, theirs):
        item.subject += " (edited)"
        item.save(update_fields=["subject"])

    page = sync(alice, state=state, ignore=[mine])

    assert page.kinds == ["update"] and page.ids() == [theirs.id]


def test_a_read_flag_change_is_reported_as_such(account: AccountFactory) -> None:
    alice = account("alice")
    Message(account=account("bob"), subject="Hello", to_recipients=[smtp("alice")]).send()
    inbox = Inbox(root=Root(account=alice))
    first = sync(alice, folder=inbox, fields=("subject", "is_read"), model=Message)
    [(_, message)] = first.changes
    assert message.subject == "Hello" and message.is_read is False

    message.is_read = True
    message.save(update_fields=["is_read"])
    page = sync(alice, folder=inbox, state=first.state, fields=("subject", "is_read"), model=Message)

    assert page.kinds == ["read_flag_change"]
    [(_, (item_id, is_read))] = page.changes
    assert item_id.id == message.id and is_read is True


# Errors -------------------------------------------------------------------------------------------


def test_a_state_the_server_did_not_issue_is_invalid_sync_state_data(account: AccountFactory) -> None:
    alice = account("alice")
    garbage = base64.b64encode(b"not a sync state").decode()

    for state in ("%%% not base64 %%%", garbage):
        with pytest.raises(ErrorInvalidSyncStateData, match="corrupt or otherwise invalid"):
            sync(alice, state=state)


def test_another_folder_s_state_is_invalid_sync_state_data(account: AccountFactory) -> None:
    alice = account("alice")
    inbox_state = sync(alice, folder=Inbox(root=Root(account=alice)), fields=(), model=Message).state
    bobs_state = synced(account("bob"))

    for foreign in (inbox_state, bobs_state):
        with pytest.raises(ErrorInvalidSyncStateData):
            sync(alice, state=foreign)


def test_a_state_from_before_a_reset_is_invalid_sync_state_data(
    sim: EwsSimulator, account: AccountFactory
) -> None:
    state = synced(account("alice"))
    sim.reset()
    sim.seed(standard_org())

    with pytest.raises(ErrorInvalidSyncStateData):
        sync(account("alice"), state=state)


@pytest.mark.parametrize("schema_check", [True, False], ids=["schema-on", "schema-off"])
def test_max_changes_returned_above_512_fails_schema_validation(
    sim: EwsSimulator, schema_check: bool
) -> None:
    # Without EWS_SCHEMA_DIR the session simulator cannot show the schema's answer: skip that case.
    if schema_check and sim.schema is None:
        pytest.skip("the schema check is off (EWS_SCHEMA_DIR unset)")
    server = sim if schema_check else EwsSimulator(schema_dir=None).start()
    try:
        if not schema_check:
            server.seed(standard_org())
        alice = build_account(server, "alice")
        assert sync(alice, max_changes=512).last
        with pytest.raises(ErrorSchemaValidation, match="MaxChangesReturned"):
            sync(alice, max_changes=513)
    finally:
        if server is not sim:
            server.stop()


# Access -------------------------------------------------------------------------------------------


def test_reading_needs_reviewer_as_find_item_does(account: AccountFactory) -> None:
    book(account("alice"), "Alice's", 9)
    book(account("carol"), "Carol's", 9)
    book(account("bob"), "Bob's", 9)

    delegate = sync(account("svc", mailbox="alice"))  # Delegate
    reviewer = sync(account("svc", mailbox="carol"))  # Reviewer
    with pytest.raises(ErrorAccessDenied):
        sync(account("svc", mailbox="bob"))  # FreeBusyTimeOnly

    assert [item.subject for _, item in delegate.changes] == ["Alice's"]
    assert [item.subject for _, item in reviewer.changes] == ["Carol's"]


def test_a_private_item_is_masked_for_a_delegate_but_not_for_its_owner(account: AccountFactory) -> None:
    book(account("alice"), "Doctor", 9, sensitivity="Private")
    fields = ("subject", "sensitivity")

    [(_, seen_by_delegate)] = sync(account("svc", mailbox="alice"), fields=fields).changes
    [(_, seen_by_owner)] = sync(account("alice"), fields=fields).changes

    assert (seen_by_delegate.sensitivity, seen_by_delegate.subject) == ("Private", None)
    assert (seen_by_owner.sensitivity, seen_by_owner.subject) == ("Private", "Doctor")
