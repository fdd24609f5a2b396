"""Graph's single-value extended property ids, mapped onto the keys the EWS simulator stores.

Graph names a property "{type} {guid} Name {name}", "{type} {guid} Id {hex id}" or
"{type} {proptag}" (https://learn.microsoft.com/en-us/graph/api/resources/singlevaluelegacyextendedproperty);
EWS names the same MAPI property with ExtendedFieldURI attributes, stored by the EWS simulator as
"PropertySetId=<guid>|PropertyName=<name>|PropertyType=<type>" (infra/ewssim/responses/item_values.py,
extended_key). One key for both, so that a stamp written through one API is read through the other.
"""

from __future__ import annotations

import re

from infra.ewssim.errors import EwsError
from infra.ewssim.responses.item_values import EXTENDED_ATTRIBUTES, extended_key_attributes

__all__ = ["graph_id", "is_single_value", "store_key"]

_PUBLIC_STRINGS_GUID = "00020329-0000-0000-c000-000000000046"
_NAMED = re.compile(r"^\s*(\w+)\s+\{?([0-9a-fA-F-]{36})\}?\s+(Name|Id)\s+(.+?)\s*$")
_TAGGED = re.compile(r"^\s*(\w+)\s+(0x[0-9a-fA-F]+)\s*$")


def _invalid() -> EwsError:
    return EwsError("ErrorInvalidExtendedPropertyValue", "The extended property id is not valid.")


def store_key(graph_property_id: str) -> str:
    """The EWS simulator's storage key for a Graph extended property id."""
    parts: dict[str, str] = {}
    named = _NAMED.match(graph_property_id)
    if named is not None:
        kind, guid, how, value = named.groups()
        guid = guid.lower()
        if guid == _PUBLIC_STRINGS_GUID:
            parts["DistinguishedPropertySetId"] = "PublicStrings"
        else:
            parts["PropertySetId"] = guid
        if how.lower() == "name":
            parts["PropertyName"] = value
        else:
            try:
                parts["PropertyId"] = str(int(value, 0))
            except ValueError as exc:
                raise _invalid() from exc
    else:
        tagged = _TAGGED.match(graph_property_id)
        if tagged is None:
            raise _invalid()
        kind, tag = tagged.groups()
        parts["PropertyTag"] = f"0x{int(tag, 16):04x}"
    parts["PropertyType"] = kind
    return "|".join(f"{name}={parts[name]}" for name in EXTENDED_ATTRIBUTES if name in parts)


def graph_id(key: str) -> str:
    """The Graph id of a stored property (GUIDs in braces, lower case, as Graph renders them)."""
    attributes = extended_key_attributes(key)
    kind = attributes.get("PropertyType", "String")
    if "PropertyTag" in attributes:
        return f"{kind} {attributes['PropertyTag']}"
    guid = attributes.get("PropertySetId")
    if guid is None and attributes.get("DistinguishedPropertySetId") == "PublicStrings":
        guid = _PUBLIC_STRINGS_GUID
    if guid is None:
        # A distinguished set other than PublicStrings: Graph names those by their GUID too; the
        # simulator keeps the name.
        guid = attributes.get("DistinguishedPropertySetId", "")
    if "PropertyName" in attributes:
        return f"{kind} {{{guid}}} Name {attributes['PropertyName']}"
    return f"{kind} {{{guid}}} Id 0x{int(attributes.get('PropertyId', '0')):04x}"


def is_single_value(key: str) -> bool:
    """Multi-value (…Array) properties are multiValueExtendedProperties in Graph."""
    return not key.endswith("Array")
