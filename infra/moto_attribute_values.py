"""moto's DynamoDB answers without its generic walk over every AttributeValue member.

moto renders a response by walking the operation's output shape: for each member of each
structure it builds a context and tries the member's aliases on the value. An item's attribute is
an AttributeValue structure of ten members (S, N, B, ...), so every attribute of every item
returned costs about 150 such look-ups, a third of the CPU of a GetItem or UpdateItem. An
attribute value in moto's result is already a small dict in the wire's shape ({"S": "..."},
{"M": {...}}, bytes for B), so `speed_up_moto_attribute_values()` renders a plain one directly:
the same JSON as moto's walk (strings and booleans as they are, blobs in base64, maps and lists
recursively). Anything else (a value of another type, a key that is not a member, a None, a map
entry with an empty name) takes moto's own path, as do every other shape and service.
"""

from __future__ import annotations

import functools
from typing import Any

from moto.core.serialize import BaseJSONSerializer

__all__ = ["render_attribute_value", "speed_up_moto_attribute_values"]

_MEMBERS = frozenset({"S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL"})
_MARK = "_ews_pipeline_attribute_values"


class NotPlain(Exception):
    """The value is not a plain wire-shaped attribute value: moto's own walk renders it."""


def render_attribute_value(value: Any, base64: Any) -> dict[str, Any]:
    """The JSON form of one plain attribute value, as moto's serializer gives it; NotPlain if not plain.

    `base64` encodes bytes as the serializer does (its `_base64`).
    """
    if type(value) is not dict or not value.keys() <= _MEMBERS:
        raise NotPlain
    rendered: dict[str, Any] = {}
    for kind, member in value.items():
        if kind in ("S", "N"):
            if type(member) is not str:
                raise NotPlain
            rendered[kind] = member
        elif kind in ("BOOL", "NULL"):
            if type(member) is not bool:
                raise NotPlain
            rendered[kind] = member
        elif kind == "B":
            if type(member) is not bytes:
                raise NotPlain
            rendered[kind] = base64(member)
        elif kind in ("SS", "NS"):
            if type(member) is not list or any(type(one) is not str for one in member):
                raise NotPlain
            rendered[kind] = list(member)
        elif kind == "BS":
            if type(member) is not list or any(type(one) is not bytes for one in member):
                raise NotPlain
            rendered[kind] = [base64(one) for one in member]
        elif kind == "M":
            if type(member) is not dict or "" in member:  # moto's walk renders an empty name oddly
                raise NotPlain
            rendered[kind] = {name: render_attribute_value(one, base64) for name, one in member.items()}
        else:  # L
            if type(member) is not list:
                raise NotPlain
            rendered[kind] = [render_attribute_value(one, base64) for one in member]
    return rendered


def _is_attribute_value(shape: Any) -> bool:
    """The AttributeValue structure, with no member renamed on the wire (checked once per shape)."""
    known: bool | None = shape.__dict__.get(_MARK)
    if known is None:
        known = (shape.name == "AttributeValue" and set(shape.members) == _MEMBERS
                 and not any(member.serialization.get("name") for member in shape.members.values()))
        setattr(shape, _MARK, known)
    return known


def speed_up_moto_attribute_values() -> None:
    """Render plain attribute values directly in every moto JSON response of this process (idempotent)."""
    original = BaseJSONSerializer._serialize_type_structure
    if getattr(original, _MARK, False):
        return

    @functools.wraps(original)
    def serialize_structure(self: BaseJSONSerializer, serialized: Any, value: Any, shape: Any,
                            key: str) -> None:
        transformers = getattr(self._value_picker, "response_transformers", None)
        if key and type(value) is dict and not transformers and _is_attribute_value(shape):
            try:
                rendered = render_attribute_value(value, self._base64)
            except NotPlain:
                pass
            else:
                self._default_serialize(serialized, rendered, shape, key)
                return
        original(self, serialized, value, shape, key)

    setattr(serialize_structure, _MARK, True)
    BaseJSONSerializer._serialize_type_structure = serialize_structure  # type: ignore[method-assign]
