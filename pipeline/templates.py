"""Liquid subject and body templates from an integration's settings."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from liquid import BoundTemplate, Environment, StrictUndefined
from liquid.exceptions import LiquidError

from pipeline.errors import ErrorCode, PermanentError

# Strict undefined: a template naming a variable the job did not supply is a configuration error
# the operator must see, not a silently blank subject in someone's calendar.
_ENVIRONMENT = Environment(autoescape=False, undefined=StrictUndefined)


@lru_cache(maxsize=256)
def _compile(source: str) -> BoundTemplate:
    return _ENVIRONMENT.from_string(source)


def render_template(source: str | None, fallback: str, variables: Mapping[str, Any]) -> str:
    """Render `source` with `variables`; without a template, the job's own text is used as is."""
    if not source:
        return fallback
    try:
        return _compile(source).render(**variables)
    except LiquidError as exc:
        # The template text is operator configuration, not a secret, but values may be personal
        # data: name only the kind of failure.
        raise PermanentError(
            ErrorCode.TEMPLATE_ERROR, f"Template failed to render: {type(exc).__name__}"
        ) from exc
