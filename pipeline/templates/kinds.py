"""The kinds of text a template renders (here, not in environment.py, so that naming one does not
import Liquid)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["TextKind"]


class TextKind(StrEnum):
    """What a template renders: it decides the escaping and the output limit."""

    SUBJECT = "subject"
    TEXT = "text"
    HTML = "html"
