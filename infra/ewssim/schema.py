"""Validation of request headers and bodies and of response bodies against Microsoft's messages.xsd
(EWS_SCHEMA_DIR).

The schema files stay where they are (../shared/ews-schema); this only carries the small resolver
that lets libxml2 load them offline: types.xsd imports the XML namespace without a
schemaLocation, which is pointed at the local xml.xsd.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lxml import etree

from infra.ewssim.namespaces import TYPES_NS, Element
from infra.ewssim.raw_xml import expanded

__all__ = ["SchemaValidator", "schema_dir_from_env"]

_XS = "http://www.w3.org/2001/XMLSchema"
_XML_NS = "http://www.w3.org/XML/1998/namespace"


class _Resolver(etree.Resolver):
    def __init__(self, folder: Path) -> None:
        super().__init__()
        self._folder = folder

    def resolve(self, system_url: str, public_id: str, context: Any) -> Any:
        if Path(system_url).name != "types.xsd":
            return None
        tree = etree.parse(str(self._folder / "types.xsd"))
        for imported in tree.getroot().iterfind(f"{{{_XS}}}import"):
            if imported.get("namespace") == _XML_NS:
                imported.set("schemaLocation", (self._folder / "xml.xsd").as_uri())
        return self.resolve_string(etree.tostring(tree), context, base_url=system_url)


@functools.cache
def _load(folder: Path) -> etree.XMLSchema:
    # Cached per folder: loading takes ~0.15 s, and every simulator in the process shares it.
    parser = etree.XMLParser()
    parser.resolvers.add(_Resolver(folder))
    return etree.XMLSchema(etree.parse(str(folder / "messages.xsd"), parser))


def schema_dir_from_env() -> Path | None:
    """The folder named by EWS_SCHEMA_DIR, or None when the check is off."""
    value = os.environ.get("EWS_SCHEMA_DIR", "").strip()
    return Path(value).resolve() if value else None


class SchemaValidator:
    """Validates the child of soap:Body; an lxml XMLSchema is not thread-safe, hence the lock."""

    def __init__(self, folder: Path) -> None:
        if not (folder / "messages.xsd").is_file():
            raise FileNotFoundError(f"EWS_SCHEMA_DIR {folder} has no messages.xsd")
        self.folder = folder
        self._schema = _load(folder)
        self._lock = threading.Lock()

    def errors(self, element: Element) -> list[str]:
        """Schema violations of one body element; empty when it is valid."""
        try:
            element = expanded(element)  # text written into the answer (raw_xml.py) as elements
        except etree.XMLSyntaxError as exc:
            return [f"XML written as text is not well-formed: {exc}"]
        with self._lock:
            if self._schema.validate(element):
                return []
            return [f"line {e.line}: {e.message}" for e in self._schema.error_log]

    def header_errors(self, headers: Iterable[Element]) -> list[str]:
        """Schema violations of the SOAP header's EWS elements (RequestServerVersion,
        ExchangeImpersonation, TimeZoneContext, ...); headers of other namespaces are not Exchange's."""
        return [
            problem
            for header in headers
            if etree.QName(header).namespace == TYPES_NS
            for problem in self.errors(header)
        ]
