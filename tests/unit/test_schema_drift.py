"""The committed JSON Schemas in schemas/ match the models, and describe what the models accept."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from pipeline.contract import ACTIONS, JobMessage
from pipeline.contract.schema_export import EVENTS_FOLDER, event_schema_file, render_schemas, write_schemas
from pipeline.events.models import EVENT_DATA_MODELS

COMMITTED = Path(__file__).resolve().parents[2] / "schemas"
REGENERATE = (
    "the committed JSON Schemas are out of date; regenerate them with\n"
    "    ews-pipeline schema --out schemas\n"
    "or, without the CLI,\n"
    "    python -c 'from pathlib import Path; from pipeline.contract.schema_export import write_schemas; "
    "write_schemas(Path(\"schemas\"))'\n"
    "and commit the result"
)


def _by_relative_path(root: Path, paths: list[Path]) -> dict[str, str]:
    return {path.relative_to(root).as_posix(): path.read_text(encoding="utf-8") for path in paths}


def test_the_committed_schemas_match_the_models(tmp_path: Path) -> None:
    written = write_schemas(tmp_path / "out")

    # Sub-folders too (schemas/events/): a stale or missing file there is drift as well.
    fresh = _by_relative_path(tmp_path / "out", written)
    committed = _by_relative_path(COMMITTED, sorted(COMMITTED.rglob("*.json")))
    assert any(name.startswith(f"{EVENTS_FOLDER}/") for name in fresh)
    assert sorted(fresh) == sorted(committed), REGENERATE
    drifted = sorted(name for name in fresh if fresh[name] != committed[name])
    assert not drifted, f"{', '.join(drifted)}: {REGENERATE}"


def test_every_action_has_a_kwargs_and_a_result_schema_plus_the_envelopes() -> None:
    expected = {f"{name}.{kind}.schema.json" for name in ACTIONS for kind in ("kwargs", "result")}
    expected |= {"job-message.schema.json", "job-outcome.schema.json"}
    expected |= {"job-record.schema.json", "booking-record.schema.json"}  # the stored items
    expected |= {event_schema_file(t.value, model.version) for t, model in EVENT_DATA_MODELS.items()}
    expected |= {f"{EVENTS_FOLDER}/envelope.schema.json"}

    assert set(render_schemas()) == expected


def test_the_output_is_deterministic_sorted_and_newline_terminated() -> None:
    first, second = render_schemas(), render_schemas()

    assert first == second
    for text in first.values():
        assert text.endswith("}\n")
        assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("name", sorted(ACTIONS))
def test_kwargs_schemas_are_valid_and_closed(name: str) -> None:
    schema = json.loads(render_schemas()[f"{name}.kwargs.schema.json"])

    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["additionalProperties"] is False
    assert "integration_id" in schema["required"]


def test_the_schema_and_the_model_agree_on_the_message_example() -> None:
    schemas = render_schemas()
    message_schema = json.loads(schemas["job-message.schema.json"])
    example = message_schema["examples"][0]

    jsonschema.validate(example, message_schema)
    kwargs_schema = json.loads(schemas[f"{example['actor_name']}.kwargs.schema.json"])
    jsonschema.validate(example["kwargs"], kwargs_schema)
    JobMessage.model_validate(example)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**example, "actor_name": "drop_tables"}, message_schema)


def test_model_examples_validate_against_their_schemas() -> None:
    schemas = render_schemas()
    checked = 0
    for name, contract in ACTIONS.items():
        schema = json.loads(schemas[f"{name}.kwargs.schema.json"])
        for example in schema.get("examples", []):
            jsonschema.validate(example, schema)
            contract.kwargs_model.model_validate(example)
            checked += 1
    assert checked >= 2  # fetch_free_busy and create_event publish examples


def test_the_documented_raw_message_is_a_valid_job() -> None:
    readme = (COMMITTED / "README.md").read_text(encoding="utf-8")
    example = json.loads(readme.split("```json\n", 1)[1].split("```", 1)[0])
    schemas = render_schemas()

    jsonschema.validate(example, json.loads(schemas["job-message.schema.json"]))
    jsonschema.validate(example["kwargs"], json.loads(schemas[f"{example['actor_name']}.kwargs.schema.json"]))
    ACTIONS[example["actor_name"]].kwargs_model.model_validate(example["kwargs"])
