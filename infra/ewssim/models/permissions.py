"""Folder permission levels as Exchange names them, and what each allows."""

from __future__ import annotations

from enum import StrEnum


class PermissionLevel(StrEnum):
    """Calendar permission levels, lowest first; values are the EWS CalendarPermissionLevel names."""

    NONE = "None"
    FREE_BUSY_TIME_ONLY = "FreeBusyTimeOnly"
    FREE_BUSY_TIME_AND_SUBJECT_AND_LOCATION = "FreeBusyTimeAndSubjectAndLocation"
    REVIEWER = "Reviewer"
    AUTHOR = "Author"
    EDITOR = "Editor"
    DELEGATE = "Delegate"
    OWNER = "Owner"

    @property
    def rank(self) -> int:
        return list(PermissionLevel).index(self)

    def can_read_items(self) -> bool:
        return self.rank >= PermissionLevel.REVIEWER.rank

    def can_write_items(self) -> bool:
        """Exchange lets a delegate write another's items only with Editor or Delegate (or owner)."""
        return self.rank >= PermissionLevel.EDITOR.rank

    def free_busy_shows_details(self) -> bool:
        """Whether free/busy answers include subject and location."""
        return self.rank >= PermissionLevel.FREE_BUSY_TIME_AND_SUBJECT_AND_LOCATION.rank
