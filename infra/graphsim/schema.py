"""Checks JSON bodies against Microsoft's published Graph v1.0 metadata (CSDL), GRAPH_SCHEMA_DIR.

The CSDL (../shared/graph-schema/v1.0-metadata.xml, from microsoftgraph/msgraph-metadata) is
parsed once per process with lxml's iterparse, keeping only each entity, complex and enum type's
base type, properties (type, nullability) and navigation properties (~0.05 s for 3.5 MB). A body
is checked for: property names the type (or a base type) declares, JSON kinds matching Edm
primitives, enum members, nested complex types (an "@odata.type" may name a derived type), nulls
only where Nullable is not false. Open types (event is one) are held to their declared
properties all the same: the simulator must not invent properties.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree

__all__ = ["METADATA_FILE", "GraphSchema", "schema_dir_from_env"]

METADATA_FILE = "v1.0-metadata.xml"
_EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
_DATE_TIME_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$")
_DATE = re.compile(r"^\d{4}-\d\d-\d\d$")
_TIME_OF_DAY = re.compile(r"^\d\d:\d\d(:\d\d(\.\d+)?)?$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


@dataclass
class _Type:
    base: str | None
    properties: dict[str, tuple[str, bool]] = field(default_factory=dict)  # name -> (type, nullable)
    members: frozenset[str] | None = None  # enum members (None: not an enum)
    flags: bool = False


def schema_dir_from_env() -> Path | None:
    value = os.environ.get("GRAPH_SCHEMA_DIR", "").strip()
    return Path(value).resolve() if value else None


@functools.cache
def _load(path: Path) -> tuple[dict[str, _Type], dict[str, str]]:
    """Types by qualified name ("microsoft.graph.event") and the schemas' aliases ("graph")."""
    types: dict[str, _Type] = {}
    aliases: dict[str, str] = {}
    wanted = (f"{_EDM}EntityType", f"{_EDM}ComplexType", f"{_EDM}EnumType")
    for _, element in etree.iterparse(str(path), events=("end",), tag=wanted):
        schema = element.getparent()
        namespace = schema.get("Namespace", "") if schema is not None else ""
        if schema is not None and schema.get("Alias"):
            aliases[schema.get("Alias")] = namespace
        name = f"{namespace}.{element.get('Name')}"
        if element.tag == f"{_EDM}EnumType":
            members = frozenset(m.get("Name") for m in element.iterfind(f"{_EDM}Member"))
            types[name] = _Type(None, members=members, flags=element.get("IsFlags") == "true")
        else:
            found = _Type(element.get("BaseType"))
            for child in element:
                if child.tag in (f"{_EDM}Property", f"{_EDM}NavigationProperty"):
                    found.properties[child.get("Name")] = (
                        child.get("Type"),
                        child.get("Nullable") != "false",
                    )
            types[name] = found
        element.clear()
    return types, aliases


class GraphSchema:
    """The CSDL's types; `errors(type_name, body)` lists the body's violations."""

    def __init__(self, folder: Path) -> None:
        path = folder / METADATA_FILE
        if not path.is_file():
            raise FileNotFoundError(f"GRAPH_SCHEMA_DIR {folder} has no {METADATA_FILE}")
        self.folder = folder
        self._types, self._aliases = _load(path)

    def qualified(self, name: str) -> str:
        """ "event", "graph.event", "#microsoft.graph.event" -> "microsoft.graph.event"."""
        name = name.removeprefix("#")
        head, dot, tail = name.partition(".")
        if not dot:
            return f"microsoft.graph.{name}"
        return f"{self._aliases.get(head, head)}.{tail}" if head in self._aliases else name

    def has_type(self, name: str) -> bool:
        return self.qualified(name) in self._types

    def _property(self, type_name: str, name: str) -> tuple[str, bool] | None:
        current: str | None = type_name
        while current is not None:
            found = self._types.get(current)
            if found is None:
                return None
            if name in found.properties:
                return found.properties[name]
            current = self.qualified(found.base) if found.base else None
        return None

    def _derives(self, derived: str, base: str) -> bool:
        current: str | None = derived
        while current is not None:
            if current == base:
                return True
            found = self._types.get(current)
            current = self.qualified(found.base) if found is not None and found.base else None
        return False

    def errors(self, type_name: str, body: Any, where: str = "") -> list[str]:
        """Violations of `body` against `type_name` ("event", "Collection(event)", "Edm.String")."""
        where = where or type_name
        if type_name.startswith("Collection("):
            inner = type_name[len("Collection(") : -1]
            if not isinstance(body, list):
                return [f"{where}: expected a collection"]
            return [
                e for index, item in enumerate(body) for e in self.errors(inner, item, f"{where}[{index}]")
            ]
        if type_name.startswith("Edm."):
            return _primitive(type_name, body, where)
        short = self.qualified(type_name)
        found = self._types.get(short)
        if found is None:
            return [f"{where}: the CSDL has no type {type_name}"]
        if found.members is not None:
            return self._enum(found, body, where, short)
        if not isinstance(body, dict):
            return [f"{where}: expected an object of type {short}"]
        actual = short
        declared = body.get("@odata.type")
        if isinstance(declared, str):
            actual = self.qualified(declared)
            if actual not in self._types or not self._derives(actual, short):
                return [f"{where}: @odata.type {declared} is not a {short}"]
        problems: list[str] = []
        for key, value in body.items():
            if key.startswith("@") or "@odata." in key:
                continue
            prop = self._property(actual, key)
            if prop is None:
                problems.append(f"{where}.{key}: {actual} has no property {key}")
                continue
            prop_type, nullable = prop
            if value is None:
                if not nullable:
                    problems.append(f"{where}.{key}: null where the CSDL says Nullable=false")
                continue
            problems.extend(self.errors(prop_type, value, f"{where}.{key}"))
        return problems

    def _enum(self, found: _Type, body: Any, where: str, name: str) -> list[str]:
        if not isinstance(body, str):
            return [f"{where}: expected a member of {name}"]
        values = [v.strip() for v in body.split(",")] if found.flags else [body]
        assert found.members is not None
        bad = [v for v in values if v not in found.members]
        return [f"{where}: {v!r} is not a member of {name}" for v in bad]


def _primitive(type_name: str, value: Any, where: str) -> list[str]:
    ok: bool
    if type_name == "Edm.String":
        ok = isinstance(value, str)
    elif type_name == "Edm.Boolean":
        ok = isinstance(value, bool)
    elif type_name in ("Edm.Int32", "Edm.Int64", "Edm.Int16", "Edm.Byte"):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif type_name in ("Edm.Double", "Edm.Single", "Edm.Decimal"):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif type_name == "Edm.DateTimeOffset":
        ok = isinstance(value, str) and bool(_DATE_TIME_OFFSET.match(value))
    elif type_name == "Edm.Date":
        ok = isinstance(value, str) and bool(_DATE.match(value))
    elif type_name == "Edm.TimeOfDay":
        ok = isinstance(value, str) and bool(_TIME_OF_DAY.match(value))
    elif type_name == "Edm.Guid":
        ok = isinstance(value, str) and bool(_GUID.match(value))
    else:
        ok = True  # Edm.Binary, Edm.Stream, Edm.Duration, ...: not used by the calendar work
    return [] if ok else [f"{where}: {value!r} is not an {type_name}"]
