"""Liquid subject and body templates: the job's, the integration's and the pipeline's defaults.

kinds.py         the kinds of text (subject, plain-text body, HTML body)
environment.py   the Liquid environments (escaping per kind of text, strict undefined, limits),
                 imported with the first text rendered (render() in event_text.py)
limits.py        every limit, in one place
variables.py     the `booking` variable: people with their class and time zone, place, links, time
defaults.py      the default subject and bodies
event_text.py    how job text, defaults and integration templates combine; the subject check

docs/templates.md is the reference for template authors.
"""

from __future__ import annotations

from pipeline.templates.event_text import clean_subject, render, render_body, render_subject
from pipeline.templates.kinds import TextKind
from pipeline.templates.variables import (
    BookingFacts,
    TemplateLink,
    TemplatePerson,
    booking_variable,
    format_when,
)

__all__ = [
    "BookingFacts",
    "TemplateLink",
    "TemplatePerson",
    "TextKind",
    "booking_variable",
    "clean_subject",
    "format_when",
    "render",
    "render_body",
    "render_subject",
]
