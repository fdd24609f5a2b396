"""FindItem restrictions and sort orders, compiled once per request into Python callables.

Supported: IsEqualTo, IsNotEqualTo, IsGreaterThan(OrEqualTo), IsLessThan(OrEqualTo), Exists,
Contains, And, Or and Not, on the FieldURIs in item_fields and on extended properties. String
comparisons ignore case, as Exchange's do; an unset property matches no comparison.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import datetime
from typing import Any

from infra.ewssim.errors import EwsError
from infra.ewssim.models.items import Item
from infra.ewssim.namespaces import Element, local_name, t
from infra.ewssim.responses.item_fields import FIELDS
from infra.ewssim.responses.item_values import extended_key, parse_bool, parse_datetime

__all__ = ["Predicate", "compile_restriction", "compile_sort"]

Predicate = Callable[[Item], bool]
Getter = Callable[[Item], Any]

_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "IsEqualTo": operator.eq,
    "IsNotEqualTo": operator.ne,
    "IsGreaterThan": operator.gt,
    "IsGreaterThanOrEqualTo": operator.ge,
    "IsLessThan": operator.lt,
    "IsLessThanOrEqualTo": operator.le,
}
_EXTENDED_KINDS: dict[str, type] = {
    "Integer": int, "Long": int, "Short": int, "Boolean": bool, "SystemTime": datetime,
    "Double": float, "Float": float,
}  # fmt: skip


def compile_restriction(restriction: Element | None) -> Predicate | None:
    """A predicate for an m:Restriction element, or None when there is none."""
    if restriction is None or len(restriction) == 0:
        return None
    return _compile(restriction[0])


def _compile(expression: Element) -> Predicate:
    name = local_name(expression)
    if name == "And":
        parts = [_compile(child) for child in expression]
        return lambda item: all(part(item) for part in parts)
    if name == "Or":
        parts = [_compile(child) for child in expression]
        return lambda item: any(part(item) for part in parts)
    if name == "Not":
        inner = _compile(expression[0])
        return lambda item: not inner(item)
    if name == "Exists":
        getter, _ = _path(expression[0])
        return lambda item: getter(item) not in (None, "")
    if name == "Contains":
        return _contains(expression)
    if name in _COMPARISONS:
        return _comparison(expression, _COMPARISONS[name])
    raise EwsError("ErrorInvalidRestriction", f"ewssim does not support the restriction {name}.")


def _path(element: Element) -> tuple[Getter, type]:
    """A getter and value type for a t:FieldURI or t:ExtendedFieldURI."""
    name = local_name(element)
    if name == "FieldURI":
        uri = element.get("FieldURI", "")
        field = FIELDS.get(uri)
        if field is None:
            raise EwsError("ErrorUnsupportedPathForQuery", f"ewssim cannot search on {uri}.")
        return field.value, field.kind
    if name == "ExtendedFieldURI":
        key = extended_key(element)
        kind = _EXTENDED_KINDS.get(element.get("PropertyType", "String"), str)
        return (lambda item: _typed(item.extended_properties.get(key), kind)), kind
    raise EwsError("ErrorUnsupportedPathForQuery", f"ewssim cannot search on {name}.")


def _typed(text: str | None, kind: type) -> Any:
    if text is None:
        return None
    if kind is str:
        return text
    if kind is bool:
        return parse_bool(text)
    if kind is datetime:
        return parse_datetime(text)
    return kind(text)


def _fold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _comparison(expression: Element, compare: Callable[[Any, Any], bool]) -> Predicate:
    getter, kind = _path(expression[0])
    operand = expression.find(t("FieldURIOrConstant"))
    if operand is None or len(operand) == 0:
        raise EwsError("ErrorInvalidRestriction", "A comparison needs a FieldURIOrConstant.")
    if local_name(operand[0]) == "Constant":
        constant = _fold(_typed(operand[0].get("Value", ""), kind))

        def against_constant(item: Item) -> bool:
            value = getter(item)
            return value is not None and bool(compare(_fold(value), constant))

        return against_constant
    other, _ = _path(operand[0])

    def against_field(item: Item) -> bool:
        left, right = getter(item), other(item)
        return left is not None and right is not None and bool(compare(_fold(left), _fold(right)))

    return against_field


def _contains(expression: Element) -> Predicate:
    getter, _ = _path(expression[0])
    wanted = expression.find(t("Constant"))
    needle = wanted.get("Value", "") if wanted is not None else ""
    mode = expression.get("ContainmentMode", "Substring")
    exact = expression.get("ContainmentComparison", "IgnoreCase") == "Exact"
    if not exact:
        needle = needle.casefold()

    def contains(item: Item) -> bool:
        value = getter(item)
        if not isinstance(value, str):
            return False
        text = value if exact else value.casefold()
        if mode == "FullString":
            return text == needle
        if mode == "Prefixed":
            return text.startswith(needle)
        if mode in ("PrefixOnWords", "ExactPhrase"):
            return (
                any(word.startswith(needle) for word in text.split())
                if mode == "PrefixOnWords"
                else needle in text
            )
        return needle in text

    return contains


def compile_sort(sort_order: Element | None) -> list[tuple[Getter, bool]]:
    """(getter, descending) pairs for an m:SortOrder element, most significant first."""
    if sort_order is None:
        return []
    keys = []
    for order in sort_order.iterfind(t("FieldOrder")):
        getter, _ = _path(order[0])
        keys.append((getter, order.get("Order", "Ascending") == "Descending"))
    return keys
