"""Write the JSON Schema of every action, the message envelope, the job outcome and every event.

Upstream apps in any language validate against these files; a copy is committed in `schemas/`
and a test fails when it drifts from the models.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from pipeline.contract import ACTIONS, JobMessage, JobOutcome
from pipeline.contract.booking import BookingItem
from pipeline.contract.outcome import JobItem

__all__ = [
    "BOOKING_RECORD_FILE",
    "EVENTS_FOLDER",
    "JOB_RECORD_FILE",
    "SCHEMA_DIALECT",
    "event_schema_file",
    "render_schemas",
    "write_schemas",
]

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
# Event schemas sit in a folder of their own: one file per type and version, plus the envelope.
EVENTS_FOLDER = "events"
EVENT_ENVELOPE_FILE = f"{EVENTS_FOLDER}/envelope.schema.json"
JOB_RECORD_FILE = "job-record.schema.json"
BOOKING_RECORD_FILE = "booking-record.schema.json"


def event_schema_file(event_type: str, version: int) -> str:
    """The schema file (relative to schemas/) of one event type's version."""
    return f"{EVENTS_FOLDER}/{event_type}.v{version}.schema.json"


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


def _event_schemas() -> dict[str, dict[str, Any]]:
    # Imported here: the events package imports the contract, not the other way round.
    from pipeline.events.models import EVENT_DATA_MODELS, TYPED_ENVELOPES, PipelineEvent

    schemas = {EVENT_ENVELOPE_FILE: _schema(PipelineEvent, EVENT_ENVELOPE_FILE, "serialization")}
    for event_type, envelope in TYPED_ENVELOPES.items():
        file_name = event_schema_file(event_type.value, EVENT_DATA_MODELS[event_type].version)
        schemas[file_name] = _schema(envelope, file_name, "serialization")
    return schemas


def render_schemas() -> dict[str, str]:
    """Every schema file's path (relative to schemas/) and its exact text (sorted keys, two-space
    indent, final newline)."""
    schemas: dict[str, dict[str, Any]] = {}
    for name, contract in ACTIONS.items():
        kwargs_file = f"{name}.kwargs.schema.json"
        result_file = f"{name}.result.schema.json"
        schemas[kwargs_file] = _schema(contract.kwargs_model, kwargs_file, "validation")
        schemas[result_file] = _schema(contract.result_model, result_file, "serialization")
    schemas["job-message.schema.json"] = _message_schema("job-message.schema.json")
    schemas["job-outcome.schema.json"] = _schema(JobOutcome, "job-outcome.schema.json", "serialization")
    # The stored items themselves: what an app reading the table directly gets.
    schemas[JOB_RECORD_FILE] = _schema(JobItem, JOB_RECORD_FILE, "serialization")
    schemas[BOOKING_RECORD_FILE] = _schema(BookingItem, BOOKING_RECORD_FILE, "serialization")
    schemas.update(_event_schemas())
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
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
