"""Seed files for the simulator: YAML or JSON, in the shape EwsBackend.seed documents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

__all__ = ["SeedFileError", "load_seed"]


class SeedFileError(ValueError):
    """The seed file is missing, unreadable, or not a mapping."""


def load_seed(path: Path | str) -> dict[str, Any]:
    """Read a seed file; .json is parsed as JSON, anything else as YAML (a superset of JSON)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise SeedFileError(f"cannot read seed file {file}: {exc}") from exc
    try:
        data = json.loads(text) if file.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise SeedFileError(
            f"seed file {file} is not valid {file.suffix.lstrip('.') or 'YAML'}: {exc}"
        ) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SeedFileError(f"seed file {file} must hold a mapping, not {type(data).__name__}")
    return data
