"""GetFolder through exchangelib: own, delegated and impersonated distinguished folders."""

from __future__ import annotations

import pytest
from exchangelib.errors import ErrorAccessDenied, ErrorNonExistentMailbox

from infra.ewssim.server import EwsSimulator
from tests.conftest import AccountFactory
from tests.seed import smtp


def test_own_calendar_inbox_and_trash(sim: EwsSimulator, account: AccountFactory) -> None:
    alice = account("alice")
    mailbox = sim.backend.mailbox(smtp("alice"))

    assert alice.calendar.id == mailbox.folder("calendar").folder_id
    assert alice.calendar.name == "Calendar"
    assert alice.inbox.id == mailbox.folder("inbox").folder_id
    assert alice.trash.id == mailbox.folder("deleteditems").folder_id
    rights = alice.calendar.effective_rights
    assert rights.read and rights.modify and rights.delete and rights.view_private_items


def test_delegate_opens_another_mailboxs_calendar(sim: EwsSimulator, account: AccountFactory) -> None:
    calendar = account("svc", mailbox="alice").calendar

    assert calendar.id == sim.backend.mailbox(smtp("alice")).folder("calendar").folder_id
    assert calendar.effective_rights.modify
    assert not calendar.effective_rights.view_private_items


def test_impersonation_opens_the_users_calendar_as_owner(sim: EwsSimulator, account: AccountFactory) -> None:
    calendar = account("svc-imp", mailbox="alice", impersonate=True).calendar

    assert calendar.id == sim.backend.mailbox(smtp("alice")).folder("calendar").folder_id
    assert calendar.effective_rights.view_private_items


def test_reviewer_sees_read_only_rights(account: AccountFactory) -> None:
    rights = account("svc", mailbox="carol").calendar.effective_rights

    assert rights.read
    assert not rights.modify
    assert not rights.delete


def test_unknown_mailbox_is_non_existent(account: AccountFactory) -> None:
    with pytest.raises(ErrorNonExistentMailbox):
        _ = account("svc", mailbox="nobody").calendar


def test_mailbox_without_any_grant_is_access_denied(account: AccountFactory) -> None:
    with pytest.raises(ErrorAccessDenied):
        _ = account("bob", mailbox="alice").calendar
