"""Exchange's access rules on items: owners, impersonation, delegate permission levels and
private items, exercised through exchangelib."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from exchangelib import Account, CalendarItem
from exchangelib.errors import ErrorAccessDenied

from infra.ewssim.models.items import CalendarItem as SimCalendarItem
from infra.ewssim.models.permissions import PermissionLevel
from infra.ewssim.server import EwsSimulator
from tests.conftest import AccountFactory
from tests.integration.ewssim.calendar_support import at, folder_items
from tests.seed import smtp


@pytest.fixture(autouse=True)
def valid_responses(sim: EwsSimulator) -> Iterator[None]:
    sim.take_schema_violations()
    yield
    assert sim.take_schema_violations() == []


def book(acc: Account, subject: str = "Booked", **fields: object) -> CalendarItem:
    item = CalendarItem(
        account=acc, folder=acc.calendar, subject=subject, start=at(1, 9), end=at(1, 10), **fields
    )
    item.save(send_meeting_invitations="SendToNone")
    return item


def grant(sim: EwsSimulator, level: PermissionLevel, owner: str = "alice", grantee: str = "svc") -> None:
    sim.backend.grant_folder_permission(smtp(owner), smtp(grantee), level)


@pytest.mark.parametrize("level", [PermissionLevel.EDITOR, PermissionLevel.DELEGATE])
def test_editor_and_delegate_may_write(
    sim: EwsSimulator, account: AccountFactory, level: PermissionLevel
) -> None:
    grant(sim, level)
    delegate = account("svc", mailbox="alice")

    item = book(delegate)
    item.subject = "Moved"
    item.save(update_fields=["subject"])
    assert [i.subject for i in folder_items(sim, "alice", "calendar")] == ["Moved"]
    item.delete()
    assert folder_items(sim, "alice", "calendar") == []


@pytest.mark.parametrize(
    "level",
    [
        PermissionLevel.AUTHOR,
        PermissionLevel.REVIEWER,
        PermissionLevel.FREE_BUSY_TIME_AND_SUBJECT_AND_LOCATION,
        PermissionLevel.FREE_BUSY_TIME_ONLY,
    ],
)
def test_lower_levels_may_not_create(
    sim: EwsSimulator, account: AccountFactory, level: PermissionLevel
) -> None:
    grant(sim, level)

    with pytest.raises(ErrorAccessDenied):
        book(account("svc", mailbox="alice"))
    assert folder_items(sim, "alice", "calendar") == []


def test_reviewer_reads_but_may_not_change_or_delete(sim: EwsSimulator, account: AccountFactory) -> None:
    book(account("carol"), "Carol's meeting", booking_key="key-1")
    reviewer = account("svc", mailbox="carol")  # seeded as Reviewer

    found = list(reviewer.calendar.filter(booking_key="key-1"))
    assert [i.subject for i in found] == ["Carol's meeting"]

    found[0].subject = "Hijacked"
    with pytest.raises(ErrorAccessDenied):
        found[0].save(update_fields=["subject"])
    with pytest.raises(ErrorAccessDenied):
        found[0].delete()
    assert [i.subject for i in folder_items(sim, "carol", "calendar")] == ["Carol's meeting"]


def test_free_busy_grantee_gets_a_calendar_view_without_details(account: AccountFactory) -> None:
    book(account("bob"), "Secret plans", location="Basement")
    free_busy = account("svc", mailbox="bob")  # seeded as FreeBusyTimeOnly

    # only() with simple fields keeps exchangelib to FindItem; GetItem needs Reviewer.
    seen = list(free_busy.calendar.view(start=at(1, 0), end=at(2, 0)).only("subject", "start", "end"))
    assert [(i.subject, i.start, i.end) for i in seen] == [(None, at(1, 9), at(1, 10))]
    with pytest.raises(ErrorAccessDenied):
        list(free_busy.calendar.filter(subject="Secret plans"))


def test_subject_and_location_grantee_sees_the_subject_in_a_calendar_view(
    sim: EwsSimulator, account: AccountFactory
) -> None:
    book(account("bob"), "Open plans", location="Atrium", body="agenda")
    grant(sim, PermissionLevel.FREE_BUSY_TIME_AND_SUBJECT_AND_LOCATION, owner="bob")

    view = account("svc", mailbox="bob").calendar.view(start=at(1, 0), end=at(2, 0))
    seen = list(view.only("subject", "legacy_free_busy_status"))

    assert [(i.subject, i.legacy_free_busy_status) for i in seen] == [("Open plans", "Busy")]


def test_impersonation_acts_as_the_owner(sim: EwsSimulator, account: AccountFactory) -> None:
    # svc-imp holds no folder permission on bob's calendar: impersonation alone is enough.
    impersonating = account("svc-imp", mailbox="bob", impersonate=True)

    item = book(impersonating, "Booked as Bob", sensitivity="Private")

    stored = sim.backend.mailbox(smtp("bob")).find_item(item.id)
    assert isinstance(stored, SimCalendarItem) and stored.modified_by == smtp("bob")
    assert impersonating.calendar.get(id=item.id).subject == "Booked as Bob"  # owners see private items


def test_private_items_hide_their_subject_from_delegates(sim: EwsSimulator, account: AccountFactory) -> None:
    book(account("alice"), "Doctor", sensitivity="Private", location="Clinic")
    delegate = account("svc", mailbox="alice")

    hidden = next(iter(delegate.calendar.all()))
    assert (hidden.subject, hidden.location, hidden.sensitivity) == (None, None, "Private")

    sim.backend.grant_private_items(smtp("alice"), smtp("svc"))
    shown = next(iter(delegate.calendar.all()))
    assert (shown.subject, shown.location) == ("Doctor", "Clinic")
