"""Secondary and shared calendars through exchangelib: CreateFolder, FindFolder, per-folder
permissions, CalendarView and CreateItem (SavedItemFolderId) on any calendar; seeding and the
control API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from exchangelib import CalendarItem, EWSDateTime
from exchangelib.errors import ErrorAccessDenied, ErrorFolderExists
from exchangelib.fields import FieldPath
from exchangelib.folders import Calendar, Folder, MsgFolderRoot, Root
from exchangelib.properties import DistinguishedFolderId, Mailbox
from exchangelib.restriction import Q, Restriction
from exchangelib.services import FindFolder, GetFolder

from infra.ewssim.models import CalendarItem as SimCalendarItem
from infra.ewssim.models.folder_tree import lookup_folder
from infra.ewssim.server import EwsSimulator
from tests.conftest import AccountFactory
from tests.seed import smtp

START = datetime(2030, 1, 7, 9, tzinfo=UTC)


def distinguished(account: Any, owner: str, name: str = "calendar") -> Folder:
    """A mailbox's distinguished folder, addressed with its Mailbox (no request)."""
    cls = Calendar if name == "calendar" else MsgFolderRoot
    return cls(root=Root(account=account),
               _distinguished_id=DistinguishedFolderId(id=name, mailbox=Mailbox(email_address=smtp(owner))))


def fields() -> set[FieldPath]:
    names = ("name", "folder_class", "effective_rights")
    return {FieldPath(field=Folder.get_field_by_fieldname(name)) for name in names}


def find_folders(account: Any, parent: Folder, name: str | None = None, depth: str = "Shallow") -> list[Any]:
    """FindFolder beneath `parent`, optionally restricted to a display name."""
    restriction = None
    if name:
        restriction = Restriction(Q(name=name), folders=[parent], applies_to=Restriction.FOLDERS)
    found = list(FindFolder(account=account).call(
        folders=[parent], additional_fields=fields(), restriction=restriction, shape="IdOnly", depth=depth,
        max_items=100, offset=0,
    ))
    assert not any(isinstance(f, Exception) for f in found), found
    return found


def level(sim: EwsSimulator, owner: str, folder: str, grantee: str) -> str:
    mailbox = sim.backend.mailbox(smtp(owner))
    return mailbox.permission_for(lookup_folder(mailbox, folder).folder_id, smtp(grantee)).value


def test_an_owner_creates_a_secondary_calendar_and_finds_it_by_name(
    sim: EwsSimulator, account: AccountFactory
) -> None:
    alice = account("alice")
    interviews = Calendar(parent=alice.calendar, name="Interviews")
    interviews.save()

    folder = sim.backend.mailbox(smtp("alice")).folder(interviews.id)
    assert (folder.display_name, folder.folder_class, folder.parent_id) == (
        "Interviews", "IPF.Appointment", alice.calendar.id
    )
    assert [f.name for f in find_folders(alice, distinguished(alice, "alice"))] == ["Interviews"]
    # Names compare without regard to case, and one parent cannot hold the same name twice.
    [found] = find_folders(alice, distinguished(alice, "alice"), "interviews")
    assert (found.id, found.folder_class, found.effective_rights.create_hierarchy) == (
        interviews.id, "IPF.Appointment", True
    )
    with pytest.raises(ErrorFolderExists):
        Calendar(parent=alice.calendar, name="INTERVIEWS").save()


def test_a_delegate_may_not_create_folders(account: AccountFactory) -> None:
    # svc is alice's calendar Delegate: that is no CreateHierarchy right.
    calendar = account("svc", mailbox="alice").calendar
    with pytest.raises(ErrorAccessDenied):
        Calendar(parent=calendar, name="Mine").save()


def test_a_delegate_sees_only_the_sub_folders_shared_with_it(
    sim: EwsSimulator, account: AccountFactory
) -> None:
    # A new folder starts with its parent's grants (svc: FreeBusyTimeOnly on bob's calendar).
    sim.create_folder(smtp("bob"), "Calendar/Interviews")
    sim.create_folder(smtp("bob"), "Calendar/Private")
    sim.grant_folder_permission(smtp("bob"), smtp("svc"), "Reviewer", "Calendar/Interviews")
    sim.grant_folder_permission(smtp("bob"), smtp("svc"), "None", "Calendar/Private")
    svc = account("svc")
    parent = distinguished(svc, "bob")

    found = find_folders(svc, parent)

    assert [f.name for f in found] == ["Interviews"]
    assert find_folders(svc, parent, "private") == []
    # GetFolder by id, as a delegate: the rights of that folder's own grant
    [interviews] = GetFolder(account=svc).call(
        folders=[Folder(root=Root(account=svc), id=found[0].id)], additional_fields=fields(), shape="IdOnly"
    )
    rights = interviews.effective_rights
    assert rights.read and not (rights.modify or rights.delete or rights.create_contents)


def test_calendar_view_and_create_item_on_a_secondary_calendar(
    sim: EwsSimulator, account: AccountFactory
) -> None:
    folder_id = sim.create_folder(smtp("alice"), "Calendar/Interviews")
    sim.backend.mailbox(smtp("alice")).put(
        folder_id, SimCalendarItem(subject="Panel", start=START, end=START + timedelta(hours=1))
    )
    delegate = account("svc", mailbox="alice")  # inherits svc's Delegate grant
    interviews = Calendar(root=Root(account=delegate), id=folder_id)

    window = interviews.view(start=EWSDateTime.from_datetime(START - timedelta(hours=1)),
                             end=EWSDateTime.from_datetime(START + timedelta(days=1)))
    assert [item.subject for item in window] == ["Panel"]

    CalendarItem(account=delegate, folder=interviews, subject="Second", start=START + timedelta(hours=2),
                 end=START + timedelta(hours=3)).save(send_meeting_invitations="SendToNone")
    subjects = [i["subject"] for i in sim.folder_items(smtp("alice"), "Calendar/Interviews")]
    assert subjects == ["Panel", "Second"]
    assert sim.calendar(smtp("alice")) == []  # not in the default calendar
    # GetUserAvailability reads only the default calendar, as Exchange's does.
    assert sim.backend.mailbox(smtp("alice")).folder("calendar").items == {}


def test_writing_needs_editor_on_that_very_folder(sim: EwsSimulator, account: AccountFactory) -> None:
    folder_id = sim.create_folder(smtp("carol"), "Calendar/Team")  # svc: Reviewer, inherited
    reviewer = account("svc", mailbox="carol")
    team = Calendar(root=Root(account=reviewer), id=folder_id)
    item = CalendarItem(account=reviewer, folder=team, subject="No", start=START,
                        end=START + timedelta(hours=1))
    with pytest.raises(ErrorAccessDenied):
        item.save(send_meeting_invitations="SendToNone")

    sim.grant_folder_permission(smtp("carol"), smtp("svc"), "Editor", folder_id)
    item.save(send_meeting_invitations="SendToNone")
    assert [i["subject"] for i in sim.folder_items(smtp("carol"), folder_id)] == ["No"]
    assert level(sim, "carol", "calendar", "svc") == "Reviewer"


def test_a_calendar_beneath_the_top_of_the_store(sim: EwsSimulator, account: AccountFactory) -> None:
    sim.create_folder(smtp("alice"), "Team Calendars/Sales", "IPF.Appointment")
    alice = account("alice")
    top = distinguished(alice, "alice", "msgfolderroot")
    [team] = find_folders(alice, top, "Team Calendars")
    [sales] = find_folders(alice, team)
    assert (sales.name, sales.folder_class) == ("Sales", "IPF.Appointment")
    assert find_folders(alice, top, "Sales") == []  # Shallow: children only
    assert [f.name for f in find_folders(alice, top, "Sales", depth="Deep")] == ["Sales"]


def test_seeding_folders_with_their_permissions(sim: EwsSimulator) -> None:
    sim.seed({
        "users": [{"smtp": "team@example.com", "name": "Team", "password": "team-Pw-1"}],
        "folders": [{"owner": "team@example.com", "path": "Calendar/Interviews"}],
        "permissions": [{"owner": "team@example.com", "grantee": smtp("svc"), "level": "Editor",
                         "folder": "Calendar/Interviews"}],
    })
    assert level(sim, "team", "Calendar/Interviews", "svc") == "Editor"
    assert level(sim, "team", "calendar", "svc") == "FreeBusyTimeOnly"  # the Calendar's Default entry


def test_folders_over_the_control_api(sim: EwsSimulator) -> None:
    base = f"{sim.base_url}/_sim"
    made = requests.post(f"{base}/folders", json={"owner": smtp("bob"), "path": "Calendar/Interviews"},
                         timeout=5).json()
    sim.backend.mailbox(smtp("bob")).put(
        made["folder_id"], SimCalendarItem(subject="Panel", start=START, end=START + timedelta(hours=1))
    )
    by_path = requests.get(f"{base}/mailboxes/{smtp('bob')}/Calendar/Interviews", timeout=5).json()
    by_id = requests.get(f"{base}/mailboxes/{smtp('bob')}/{made['folder_id']}", timeout=5).json()
    assert [i["subject"] for i in by_path] == [i["subject"] for i in by_id] == ["Panel"]
    grant = {"owner": smtp("bob"), "grantee": smtp("carol"), "level": "Reviewer",
             "folder": "Calendar/Interviews"}
    assert requests.post(f"{base}/grants/folder", json=grant, timeout=5).status_code == 200
    assert level(sim, "bob", made["folder_id"], "carol") == "Reviewer"
