"""One botocore data loader for every boto3/botocore session in the test process.

Each botocore session builds its own `Loader`, and a loader caches what it reads only for itself:
every new session (and tests make one per stack, store or client) reads and parses the service
models and endpoints.json from disk again, about 8 ms of CPU per file and a tenth of the
integration tests' time. The files never change while the tests run, so `share_botocore_loader()`
makes every session get one shared loader per data path; what a client is built from is unchanged.
"""

from __future__ import annotations

import threading

import botocore.loaders
import botocore.session

__all__ = ["share_botocore_loader"]

_create_loader = botocore.loaders.create_loader
_loaders: dict[str | None, botocore.loaders.Loader] = {}
_lock = threading.Lock()


class _SearchPaths(list[str]):
    """A loader's search paths, each once: boto3 appends its own to the loader of every session."""

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


def _shared_loader(search_path_string: str | None = None) -> botocore.loaders.Loader:
    with _lock:
        loader = _loaders.get(search_path_string)
        if loader is None:
            loader = _create_loader(search_path_string)
            loader._search_paths = _SearchPaths(loader.search_paths)
            _loaders[search_path_string] = loader
        return loader


def share_botocore_loader() -> None:
    """Give every botocore session created from now on the shared loader for its data path."""
    botocore.session.create_loader = _shared_loader
