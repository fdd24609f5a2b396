"""infra.moto_attribute_values renders moto's DynamoDB answers exactly as moto's own walk does."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from moto.core.serialize import BaseJSONSerializer, JSONSerializer, XFormedAttributePicker
from moto.core.utils import get_service_model

from infra import moto_attribute_values
from infra.moto_attribute_values import NotPlain, render_attribute_value, speed_up_moto_attribute_values

# The conftest installs the fast path; moto's own method is the one it wraps.
FAST = BaseJSONSerializer._serialize_type_structure
MOTOS_OWN = getattr(FAST, "__wrapped__", FAST)

texts = st.text(max_size=8)
blobs = st.binary(max_size=8)
numbers = st.from_regex(r"-?\d{1,5}", fullmatch=True)
scalars = st.one_of(
    st.builds(lambda v: {"S": v}, texts), st.builds(lambda v: {"N": v}, numbers),
    st.builds(lambda v: {"B": v}, blobs), st.builds(lambda v: {"BOOL": v}, st.booleans()),
    st.just({"NULL": True}),
    st.builds(lambda v: {"SS": v}, st.lists(texts, min_size=1, max_size=3, unique=True)),
    st.builds(lambda v: {"NS": v}, st.lists(numbers, min_size=1, max_size=3, unique=True)),
    st.builds(lambda v: {"BS": v}, st.lists(blobs, min_size=1, max_size=3, unique=True)),
)
attribute_values = st.recursive(scalars, lambda inner: st.one_of(
    st.builds(lambda v: {"M": v}, st.dictionaries(texts, inner, max_size=3)),
    st.builds(lambda v: {"L": v}, st.lists(inner, max_size=3))), max_leaves=8)
# What moto's walk also takes but the fast path leaves to it: other types, Nones, unknown keys.
odd_values = st.one_of(
    st.just({"S": None}), st.just({"N": 5}), st.just({"B": "AAE="}), st.just({"L": [None]}),
    st.just({"M": {"a": None}}), st.just({"SS": ["a", None]}), st.just({"s": "lower"}), st.just({}),
    st.just({"S": "a", "N": "1"}), st.just({"M": {"": {"NULL": True}}}),
)


def serialize(method: Any, operation: str, result: dict[str, Any]) -> str:
    """The body moto answers for `result`, with `method` rendering structures."""
    serializer = JSONSerializer(operation_model=get_service_model("dynamodb").operation_model(operation),
                                pretty_print=False, value_picker=XFormedAttributePicker())
    original = BaseJSONSerializer._serialize_type_structure
    BaseJSONSerializer._serialize_type_structure = method  # type: ignore[method-assign]
    try:
        body = serializer.serialize(result)["body"]
    finally:
        BaseJSONSerializer._serialize_type_structure = original  # type: ignore[method-assign]
    return body if isinstance(body, str) else body.decode()


@pytest.fixture(autouse=True)
def _fast_path_installed() -> Iterator[None]:
    speed_up_moto_attribute_values()
    yield


@settings(max_examples=100, deadline=None)
@given(item=st.dictionaries(texts, st.one_of(attribute_values, odd_values), max_size=4))
def test_an_item_is_rendered_as_motos_own_walk_renders_it(item: dict[str, Any]) -> None:
    for operation, result in (("GetItem", {"Item": item}), ("Query", {"Items": [item, item], "Count": 2}),
                              ("UpdateItem", {"Attributes": item})):
        assert serialize(FAST, operation, result) == serialize(MOTOS_OWN, operation, result)


def test_only_plain_values_take_the_fast_path() -> None:
    nested = {"M": {"a": {"B": b"\x00\x01"}, "b": {"L": [{"N": "1"}]}}}
    rendered = render_attribute_value(nested, lambda b: "b64")
    assert rendered == {"M": {"a": {"B": "b64"}, "b": {"L": [{"N": "1"}]}}}
    for odd in ({"S": None}, {"N": 5}, {"B": "AAE="}, {"L": [None]}, {"M": {"a": None}}, {"s": "x"}, ["S"],
                {"M": {"": {"S": "x"}}}):
        with pytest.raises(NotPlain):
            render_attribute_value(odd, lambda b: "b64")


def test_installing_twice_wraps_once() -> None:
    speed_up_moto_attribute_values()
    assert BaseJSONSerializer._serialize_type_structure is FAST
    assert getattr(FAST, moto_attribute_values._MARK)
