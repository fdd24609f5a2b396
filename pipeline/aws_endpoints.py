"""botocore's endpoints.json kept only for the services the pipeline makes clients for.

A botocore session keeps the whole of endpoints.json (1.3 MB of JSON, every service in every
partition) for as long as it lives: 6.7 MiB of Python objects, 7 MiB of a Lambda's peak memory.
The pipeline's clients need four services' entries of it. `install_pipeline_endpoints` gives a
session a resolver that holds the partitions (regions, DNS suffixes, defaults) and those services'
entries, read from the file botocore would read: each other service's entry is parsed and dropped
at once (0.4 MiB while reading, no slower than json.load). A client for any other service makes
the resolver read the whole file then, as botocore does, so what every client resolves is unchanged.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any

from botocore.loaders import Loader
from botocore.regions import EndpointResolver
from botocore.session import Session

__all__ = ["PIPELINE_SERVICES", "PipelineEndpointResolver", "install_pipeline_endpoints"]

# The services of pipeline.aws_clients' clients and of the SQS broker's (pipeline/runtimes/sqs).
PIPELINE_SERVICES = frozenset({"dynamodb", "secretsmanager", "sqs", "events"})

_ENDPOINTS = "endpoints"


class PipelineEndpointResolver(EndpointResolver):
    """An EndpointResolver over the partitions and `services`' entries only; asked about another
    service, it answers from the whole endpoints data, loaded then (`load_whole`)."""

    def __init__(self, endpoint_data: dict[str, Any], services: Iterable[str],
                 load_whole: Callable[[], dict[str, Any]], *, uses_builtin_data: bool) -> None:
        super().__init__(endpoint_data, uses_builtin_data=uses_builtin_data)
        self.services = frozenset(services)
        self._load_whole = load_whole
        self._whole: EndpointResolver | None = None

    def whole(self) -> EndpointResolver:
        """botocore's resolver over the whole endpoints data (read on the first call)."""
        if self._whole is None:
            self._whole = EndpointResolver(self._load_whole(), uses_builtin_data=self.uses_builtin_data)
        return self._whole

    def get_service_endpoints_data(self, service_name: str, partition_name: str = "aws") -> Any:
        if service_name not in self.services:
            return self.whole().get_service_endpoints_data(service_name, partition_name)
        return super().get_service_endpoints_data(service_name, partition_name)

    def get_available_endpoints(self, service_name: str, *args: Any, **kwargs: Any) -> Any:
        if service_name not in self.services:
            return self.whole().get_available_endpoints(service_name, *args, **kwargs)
        return super().get_available_endpoints(service_name, *args, **kwargs)

    def construct_endpoint(self, service_name: str, *args: Any, **kwargs: Any) -> Any:
        if service_name not in self.services:
            return self.whole().construct_endpoint(service_name, *args, **kwargs)
        return super().construct_endpoint(service_name, *args, **kwargs)


def _endpoints_file(loader: Loader) -> tuple[str, str] | None:
    """The endpoints file the loader's search path finds first (as botocore's
    Loader.load_data_with_path looks: each search path in turn, each extension in turn): its path
    without the extension (what is_builtin_path takes) and its text."""
    for search_path in loader.search_paths:
        if not os.path.isdir(search_path):
            continue
        path = os.path.join(search_path, _ENDPOINTS)
        for extension, open_file in _OPEN_BY_EXTENSION:
            if os.path.isfile(path + extension):
                with open_file(path + extension, "rb") as data:
                    return path, data.read().decode("utf-8")
    return None


def _whole_endpoints(loader: Loader) -> dict[str, Any]:
    """The whole endpoints data, as botocore's own resolver loads it (not kept in the loader's cache)."""
    found = _endpoints_file(loader)
    if found is None:
        loaded: dict[str, Any] = loader.load_data_with_path(_ENDPOINTS)[0]  # botocore's own error
        return loaded
    whole: dict[str, Any] = loader.file_loader.load_file(found[0])
    return whole


def kept_endpoints(text: str, services: frozenset[str]) -> dict[str, Any]:
    """The endpoints JSON `text` parsed as botocore parses it (OrderedDicts), except that each
    partition's "services" keeps only `services`. Every other service's entry is parsed on its own
    and dropped at once, so the whole data never exists in memory."""
    value, end = _value(text, _skip_space(text, 0), (), services)
    if _skip_space(text, end) != len(text):
        raise json.JSONDecodeError("Extra data", text, end)
    kept: dict[str, Any] = value
    return kept


# botocore's JSONFileLoader reads these, in this order.
_OPEN_BY_EXTENSION: tuple[tuple[str, Callable[..., Any]], ...] = ((".json", open), (".json.gz", gzip.open))
_DECODER = json.JSONDecoder(object_pairs_hook=OrderedDict)
_SPACE = re.compile(r"[ \t\n\r]*")


def _skip_space(text: str, at: int) -> int:
    match = _SPACE.match(text, at)
    return match.end() if match else at


def _value(text: str, at: int, path: tuple[str | int, ...], services: frozenset[str]) -> tuple[Any, int]:
    """The JSON value at `at` and where it ends. The containers on the way to a partition's
    services (the top object, its "partitions" array, each partition) are walked here; any other
    value is json's own decoding."""
    opening = text[at:at + 1]
    if opening == "{" and (not path or len(path) == 2):  # the top object, or a partition
        return _object(text, at, path, services, keep=None)
    if len(path) == 3 and path[2] == "services" and opening == "{":
        return _object(text, at, path, services, keep=services)
    if path == ("partitions",) and opening == "[":
        return _array(text, at, path, services)
    return _DECODER.raw_decode(text, at)


def _object(text: str, at: int, path: tuple[str | int, ...], services: frozenset[str],
            *, keep: frozenset[str] | None) -> tuple[OrderedDict[str, Any], int]:
    pairs: list[tuple[str, Any]] = []
    at = _skip_space(text, at + 1)
    if text[at:at + 1] == "}":
        return OrderedDict(), at + 1
    while True:
        if text[at:at + 1] != '"':
            raise json.JSONDecodeError("Expecting property name enclosed in double quotes", text, at)
        key, at = scanstring(text, at + 1)
        at = _skip_space(text, at)
        if text[at:at + 1] != ":":
            raise json.JSONDecodeError("Expecting ':' delimiter", text, at)
        at = _skip_space(text, at + 1)
        if keep is not None and key not in keep:
            _, at = _DECODER.raw_decode(text, at)  # another service's entry: parsed, and dropped
        else:
            value, at = _value(text, at, (*path, key), services)
            pairs.append((key, value))
        at = _skip_space(text, at)
        if text[at:at + 1] == ",":
            at = _skip_space(text, at + 1)
        elif text[at:at + 1] == "}":
            return OrderedDict(pairs), at + 1
        else:
            raise json.JSONDecodeError("Expecting ',' delimiter", text, at)


def _array(text: str, at: int, path: tuple[str | int, ...],
           services: frozenset[str]) -> tuple[list[Any], int]:
    items: list[Any] = []
    at = _skip_space(text, at + 1)
    if text[at:at + 1] == "]":
        return items, at + 1
    while True:
        value, at = _value(text, at, (*path, len(items)), services)
        items.append(value)
        at = _skip_space(text, at)
        if text[at:at + 1] == ",":
            at = _skip_space(text, at + 1)
        elif text[at:at + 1] == "]":
            return items, at + 1
        else:
            raise json.JSONDecodeError("Expecting ',' delimiter", text, at)


def install_pipeline_endpoints(session: Session, services: Iterable[str] = PIPELINE_SERVICES) -> bool:
    """Make the botocore `session` build a PipelineEndpointResolver, when its first client asks for
    one, in place of botocore's own. For a session that has no client yet; False (nothing changed)
    when this botocore keeps its components otherwise."""
    components = getattr(session, "_internal_components", None)
    if components is None or not hasattr(components, "lazy_register_component"):
        return False
    wanted = frozenset(services)

    def pipeline_resolver() -> EndpointResolver:
        loader: Loader = session.get_component("data_loader")
        found = _endpoints_file(loader)
        if found is None:  # botocore's own resolver, and its error
            return EndpointResolver(_whole_endpoints(loader))
        path, text = found
        return PipelineEndpointResolver(kept_endpoints(text, wanted), wanted,
                                        lambda: _whole_endpoints(loader),
                                        uses_builtin_data=loader.is_builtin_path(path))

    components.lazy_register_component("endpoint_resolver", pipeline_resolver)
    return True
