"""The Liquid environments subjects and bodies render in: escaping by kind of text, and the limits.

Three kinds of text: a subject (plain text, never escaped), a plain-text body (never escaped) and
an HTML body (every value HTML-escaped unless a template marks it `safe`). All three are strict
about undefined variables and share the limits in `limits.py`; a subject may write less.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from liquid import BoundTemplate, Environment, RenderContext, StrictUndefined
from liquid.exceptions import (
    BlockNestingError,
    ContextDepthError,
    LiquidError,
    LocalNamespaceLimitError,
    LoopIterationLimitError,
    OutputStreamLimitError,
    ResourceLimitError,
    UndefinedError,
)

from pipeline.errors import ErrorCode, PermanentError
from pipeline.templates.kinds import TextKind
from pipeline.templates.limits import (
    BLOCK_NESTING_LIMIT,
    BODY_OUTPUT_LIMIT_BYTES,
    CONTEXT_DEPTH_LIMIT,
    LOCAL_NAMESPACE_LIMIT_BYTES,
    LOOP_ITERATION_BUDGET,
    LOOP_ITERATION_LIMIT,
    SUBJECT_OUTPUT_LIMIT_BYTES,
)

__all__ = ["TextKind", "render"]

# Compiled integration and default templates (few, reused by every job). A job's own text is
# compiled for that job only: caching it would keep up to the cache's size of 500 KB bodies.
_CACHE_SIZE = 256


class _LoopBudgetError(LoopIterationLimitError):
    """All the loops of one render together ran more iterations than LOOP_ITERATION_BUDGET."""


class _BudgetedContext(RenderContext):
    """A render context that also adds up the iterations of every loop it starts.

    python-liquid checks each nest of loops on its own; this counts each loop by its length as it
    starts (a loop left by `break` counts in full), across the whole render.
    """

    def raise_for_loop_limit(self, length: int = 1) -> None:
        super().raise_for_loop_limit(length)
        spent: int = getattr(self, "_iterations", 0) + length
        self._iterations = spent
        if spent > LOOP_ITERATION_BUDGET:
            raise _LoopBudgetError("loop iteration budget reached", token=None)


class _BudgetedTemplate(BoundTemplate):
    context_class = _BudgetedContext


class _LimitedEnvironment(Environment):
    template_class = _BudgetedTemplate
    loop_iteration_limit = LOOP_ITERATION_LIMIT
    output_stream_limit = BODY_OUTPUT_LIMIT_BYTES
    context_depth_limit = CONTEXT_DEPTH_LIMIT
    local_namespace_limit = LOCAL_NAMESPACE_LIMIT_BYTES
    block_nesting_limit = BLOCK_NESTING_LIMIT


class _SubjectEnvironment(_LimitedEnvironment):
    output_stream_limit = SUBJECT_OUTPUT_LIMIT_BYTES


# Strict undefined: a template naming a variable the job did not supply is a configuration error
# the operator must see, not a silently blank subject in someone's calendar.
_ENVIRONMENTS: dict[TextKind, Environment] = {
    TextKind.SUBJECT: _SubjectEnvironment(autoescape=False, undefined=StrictUndefined),
    TextKind.TEXT: _LimitedEnvironment(autoescape=False, undefined=StrictUndefined),
    TextKind.HTML: _LimitedEnvironment(autoescape=True, undefined=StrictUndefined),
}
_OUTPUT_LIMITS = {
    TextKind.SUBJECT: SUBJECT_OUTPUT_LIMIT_BYTES,
    TextKind.TEXT: BODY_OUTPUT_LIMIT_BYTES,
    TextKind.HTML: BODY_OUTPUT_LIMIT_BYTES,
}


@lru_cache(maxsize=_CACHE_SIZE)
def _compiled(kind: TextKind, source: str) -> BoundTemplate:
    return _ENVIRONMENTS[kind].from_string(source)


def render(
    source: str, kind: TextKind, variables: Mapping[str, Any], *, what: str, cache: bool = False
) -> str:
    """Render `source` as `kind` of text; any failure is a permanent TEMPLATE_ERROR.

    `what` names the template in the error ("the job's subject"). The message never holds the
    template's text, its output or a variable's value (they may be personal data), and the Liquid
    error is not chained, since its text quotes the template.
    """
    try:
        template = _compiled(kind, source) if cache else _ENVIRONMENTS[kind].from_string(source)
        return template.render(**variables)
    except ResourceLimitError as exc:
        message = f"{what} went over a limit: {_limit_text(exc, kind)}"
    except LiquidError as exc:
        message = f"{what} failed to render{_where(exc)}: {type(exc).__name__}"
        if isinstance(exc, UndefinedError):
            # The name of a variable, from the template: configuration, never a value.
            message += f" ({exc.message})"
    raise PermanentError(ErrorCode.TEMPLATE_ERROR, message)


def _limit_text(exc: ResourceLimitError, kind: TextKind) -> str:
    if isinstance(exc, _LoopBudgetError):
        return f"more than {LOOP_ITERATION_BUDGET} loop iterations in all"
    if isinstance(exc, LoopIterationLimitError):
        return f"more than {LOOP_ITERATION_LIMIT} iterations of nested loops"
    if isinstance(exc, OutputStreamLimitError):
        return f"more than {_OUTPUT_LIMITS[kind]} bytes of output"
    if isinstance(exc, ContextDepthError):
        return f"scopes nested more than {CONTEXT_DEPTH_LIMIT} deep"
    if isinstance(exc, LocalNamespaceLimitError):
        return f"more than {LOCAL_NAMESPACE_LIMIT_BYTES} bytes of assigned variables"
    if isinstance(exc, BlockNestingError):
        return f"blocks nested more than {BLOCK_NESTING_LIMIT} deep"
    return type(exc).__name__


def _where(exc: LiquidError) -> str:
    context = exc.context()
    if context is None:
        return ""
    line, column, *_ = context
    return f" at line {line}, column {column}"
