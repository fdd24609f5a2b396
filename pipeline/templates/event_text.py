"""An event's subject and body: the job's text (or the default), then the integration's template.

Per field: the job's own text rendered as Liquid, or, when the job gives none and `defaults` is
set, the pipeline's default template; then the integration's template, if it has one, which sees
that text as `subject` or `body`. A rendered subject is plain text on one line and at most 255
characters; anything else is a permanent TEMPLATE_ERROR before anything is written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# python-liquid's Markup is this one (liquid re-exports it).
from markupsafe import Markup

from pipeline.errors import ErrorCode, PermanentError
from pipeline.templates.defaults import DEFAULT_HTML_BODY, DEFAULT_SUBJECT, DEFAULT_TEXT_BODY
from pipeline.templates.kinds import TextKind
from pipeline.templates.limits import BODY_OUTPUT_LIMIT_BYTES, SUBJECT_MAX_LENGTH, SUBJECT_OUTPUT_LIMIT_BYTES

__all__ = ["clean_subject", "render", "render_body", "render_subject"]

# Control characters (C0, DEL, C1) and the Unicode line and paragraph separators: a subject is one
# line. A run of them, with any spaces around it, becomes one space.
_CONTROL_CHARACTERS = "\x00-\x1f\x7f-\x9f\u2028\u2029"
_CONTROL = re.compile(f"[ {_CONTROL_CHARACTERS}]*[{_CONTROL_CHARACTERS}][ {_CONTROL_CHARACTERS}]*")


def render(
    source: str, kind: TextKind, variables: Mapping[str, Any], *, what: str, cache: bool = False
) -> str:
    """environment.render, which see. Liquid (and babel, which Liquid imports) loads with the first
    text that has Liquid markup, not with this package: a job whose texts have none never imports
    it (3 MiB of the Lambda's peak memory)."""
    if _renders_as_itself(source, kind):
        return source
    from pipeline.templates.environment import render as render_liquid

    return render_liquid(source, kind, variables, what=what, cache=cache)


def _renders_as_itself(source: str, kind: TextKind) -> bool:
    """Whether Liquid would render `source` as it is: no markup (every tag, output and comment
    starts with "{"), no carriage return (Liquid's output turns "\r\n" and "\r" into "\n"), and
    within the kind's output limit (over it, Liquid gives the error)."""
    if "{" in source or "\r" in source:
        return False
    limit = SUBJECT_OUTPUT_LIMIT_BYTES if kind is TextKind.SUBJECT else BODY_OUTPUT_LIMIT_BYTES
    # Encoded as Liquid counts its output (a lone surrogate fails here as it fails there).
    return len(source.encode("utf-8")) <= limit


def render_subject(
    job_subject: str | None,
    integration_template: str | None,
    variables: Mapping[str, Any],
    *,
    defaults: bool,
) -> str | None:
    """The event's subject, or None when the job gives none and `defaults` is off."""
    if job_subject is not None:
        own, source = render(job_subject, TextKind.SUBJECT, variables, what="the job's subject"), "job"
    elif defaults:
        own = render(DEFAULT_SUBJECT, TextKind.SUBJECT, variables, what="the default subject", cache=True)
        source = "default"
    else:
        return None
    text = own
    if integration_template:
        text = render(
            integration_template, TextKind.SUBJECT, {**variables, "subject": own},
            what="the integration's subject_template", cache=True,
        )
        source += " + integration"
    subject = clean_subject(text)
    if len(subject) > SUBJECT_MAX_LENGTH:
        # The length and where the text came from; never the text (it holds names).
        raise PermanentError(
            ErrorCode.TEMPLATE_ERROR,
            f"the rendered subject ({source} template) is {len(subject)} characters; "
            f"Exchange takes at most {SUBJECT_MAX_LENGTH}",
        )
    return subject


def render_body(
    job_body: str | None,
    integration_template: str | None,
    variables: Mapping[str, Any],
    *,
    html: bool,
    defaults: bool,
) -> str | None:
    """The event's body, or None when the job gives none and `defaults` is off.

    An HTML body escapes every value; the job's rendered HTML reaches the integration's template
    as markup (its values are escaped already), so `{{ body }}` does not escape it again.
    """
    kind = TextKind.HTML if html else TextKind.TEXT
    if job_body is not None:
        own = render(job_body, kind, variables, what="the job's body")
    elif defaults:
        default = DEFAULT_HTML_BODY if html else DEFAULT_TEXT_BODY
        own = render(default, kind, variables, what="the default body", cache=True)
    else:
        return None
    if not integration_template:
        return own
    return render(
        integration_template, kind, {**variables, "body": Markup(own) if html else own},
        what="the integration's body_template", cache=True,
    )


def clean_subject(text: str) -> str:
    """`text` on one line: each run of control characters (newlines too), with the spaces around
    it, becomes one space; then no space at either end."""
    return _CONTROL.sub(" ", text).strip()
