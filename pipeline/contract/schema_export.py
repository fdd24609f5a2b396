"""Write the JSON Schema of every action, the message envelope and the job outcome.

Upstream apps in any language validate against these files; a copy is committed in `schemas/`
and a test fails when it drifts from the models.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from pipeline.contract import ACTIONS, JobMessage, JobOutcome

__all__ = ["SCHEMA_DIALECT", "render_schemas", "write_schemas"]

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _schema(
    model: type[BaseModel], file_name: str, mode: Literal["validation", "serialization"]
) -> dict[str, Any]:
    schema = model.model_json_schema(mode=mode)
    schema["$schema"] = SCHEMA_DIALECT
    schema["$id"] = file_name
    return schema


def _message_schema(file_name: str) -> dict[str, Any]:
    schema = _schema(JobMessage, file_name, "validation")
    # The model keeps actor_name a plain str (the registry imports the models, not the other way
    # round); the published schema names the actions.
    schema["properties"]["actor_name"]["enum"] = sorted(ACTIONS)
    return schema


def render_schemas() -> dict[str, str]:
    """Every schema file's name and its exact text (sorted keys, two-space indent, final newline)."""
    schemas: dict[str, dict[str, Any]] = {}
    for name, contract in ACTIONS.items():
        kwargs_file = f"{name}.kwargs.schema.json"
        result_file = f"{name}.result.schema.json"
        schemas[kwargs_file] = _schema(contract.kwargs_model, kwargs_file, "validation")
        schemas[result_file] = _schema(contract.result_model, result_file, "serialization")
    schemas["job-message.schema.json"] = _message_schema("job-message.schema.json")
    schemas["job-outcome.schema.json"] = _schema(JobOutcome, "job-outcome.schema.json", "serialization")
    return {
        file_name: json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        for file_name, schema in sorted(schemas.items())
    }


def write_schemas(out_dir: Path) -> list[Path]:
    """Write every schema file into out_dir (created if missing); return the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for file_name, text in render_schemas().items():
        path = out_dir / file_name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
