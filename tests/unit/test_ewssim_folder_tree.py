"""The simulator's folder tree: paths, names, classes and the grants a new folder starts with."""

from __future__ import annotations

import pytest

from infra.ewssim.errors import EwsError
from infra.ewssim.models.folder_tree import create_folder, ensure_path, folder_by_path, lookup_folder
from infra.ewssim.models.mailbox import Mailbox
from infra.ewssim.models.permissions import PermissionLevel


def test_a_calendars_sub_folder_is_a_calendar_with_its_parents_grants() -> None:
    mailbox = Mailbox("Bob@Example.com")
    mailbox.folder("calendar").permissions["svc@example.com"] = PermissionLevel.REVIEWER
    interviews = create_folder(mailbox, mailbox.folder("calendar"), " Interviews ")
    assert (interviews.display_name, interviews.folder_class, interviews.distinguished_id) == (
        "Interviews", "IPF.Appointment", ""
    )
    # The Calendar's Default entry (FreeBusyTimeOnly out of the box) comes along with the grants.
    assert interviews.permissions == {"default": PermissionLevel.FREE_BUSY_TIME_ONLY,
                                      "svc@example.com": PermissionLevel.REVIEWER}
    # Later grants on the parent stay on the parent, as in Exchange: carol has what Default gives.
    mailbox.folder("calendar").permissions["carol@example.com"] = PermissionLevel.EDITOR
    carols = mailbox.permission_for(interviews.folder_id, "carol@example.com")
    assert carols is PermissionLevel.FREE_BUSY_TIME_ONLY
    assert mailbox.children(mailbox.folder("calendar")) == [interviews]


def test_paths_ignore_case_and_names_are_unique_per_parent() -> None:
    mailbox = Mailbox("bob@example.com")
    made = ensure_path(mailbox, "Team Calendars/Sales", "IPF.Appointment")
    assert folder_by_path(mailbox, "team calendars/SALES") is made
    assert lookup_folder(mailbox, made.folder_id) is made
    assert lookup_folder(mailbox, "calendar") is mailbox.folder("calendar")
    assert folder_by_path(mailbox, "Team Calendars").folder_class == "IPF.Note"
    assert ensure_path(mailbox, "Team Calendars/Sales") is made  # already there
    with pytest.raises(EwsError) as exists:
        create_folder(mailbox, folder_by_path(mailbox, "Team Calendars"), "sales")
    assert exists.value.code == "ErrorFolderExists"
    with pytest.raises(EwsError) as missing:
        folder_by_path(mailbox, "Calendar/Nowhere")
    assert missing.value.code == "ErrorFolderNotFound"


def test_items_in_sub_folders_are_found_and_removed() -> None:
    from infra.ewssim.models.items import CalendarItem

    mailbox = Mailbox("bob@example.com")
    folder = ensure_path(mailbox, "Calendar/Interviews")
    item = mailbox.put(folder.folder_id, CalendarItem(subject="Panel"))
    assert mailbox.find_item(item.item_id) is item and mailbox.folder_of(item) is folder
    mailbox.remove(item)
    assert mailbox.find_item(item.item_id) is None
