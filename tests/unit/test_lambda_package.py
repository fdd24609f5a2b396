"""infra/deploy/lambda_package.py: what the Makefile puts in the layer and the functions, and sizes."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from infra.deploy.lambda_package import (
    COMMAND_ONLY,
    RUNTIME_PROVIDED,
    artifact_size,
    copy_code,
    layer_requirements,
    prune_layer,
)

ROOT = Path(__file__).resolve().parents[2]


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~ ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_the_layer_gets_every_dependency_but_the_runtimes_and_the_command_lines() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]

    wanted = layer_requirements()

    assert wanted == [r for r in declared if _name(r) not in {"boto3", "click", "rich", "pyyaml"}]
    assert {"exchangelib", "aws-lambda-powertools", "pydantic", "python-liquid", "dramatiq"} <= {
        _name(r) for r in wanted}
    assert {"boto3", "botocore", "s3transfer"} == RUNTIME_PROVIDED
    assert {"click", "rich", "pyyaml"} == COMMAND_ONLY


def _distribution(target: Path, name: str, files: dict[str, str]) -> None:
    info = target / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    for relative, text in files.items():
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        (target / relative).write_text(text)
    record = [f"{relative},," for relative in (*files, f"{info.name}/METADATA", f"{info.name}/RECORD")]
    (info / "RECORD").write_text("\n".join([*record, "../bin/outside,,"]) + "\n")


def test_prune_removes_what_the_functions_never_load_and_keeps_the_rest(tmp_path: Path) -> None:
    layer = tmp_path / "python"
    _distribution(layer, "botocore", {"botocore/__init__.py": "", "botocore/data/endpoints.json": "{}"})
    _distribution(layer, "PyYAML", {"yaml/__init__.py": "", "_yaml/__init__.py": ""})
    _distribution(layer, "babel", {"babel/__init__.py": "", "babel/locale-data/en.dat": "x",
                                   "babel/global.dat": "x"})
    _distribution(layer, "lxml", {"lxml/__init__.py": "", "lxml/etree.pyx": "", "lxml/etree.h": "",
                                  "lxml/includes/libxml/tree.h": "", "lxml/etree.cpython-312.so": ""})
    (layer / "bin").mkdir()
    (layer / "bin" / "dramatiq").write_text("#!/bin/sh\n")
    (layer / "babel" / "__pycache__").mkdir()
    (layer / "babel" / "__pycache__" / "core.cpython-311.pyc").write_text("")
    outside = tmp_path / "bin" / "outside"  # a RECORD path outside the layer (pip's console scripts)
    outside.parent.mkdir()
    outside.write_text("")

    prune_layer(layer)

    left = {str(path.relative_to(layer)) for path in layer.rglob("*") if path.is_file()}
    assert left == {
        "babel/__init__.py", "babel/global.dat", "babel-1.0.dist-info/METADATA", "babel-1.0.dist-info/RECORD",
        "lxml/__init__.py", "lxml/etree.cpython-312.so", "lxml-1.0.dist-info/METADATA",
        "lxml-1.0.dist-info/RECORD",
    }
    assert not (layer / "botocore").exists() and not (layer / "yaml").exists()
    assert outside.exists()  # never touched


def test_a_functions_code_is_the_handlers_and_the_pipeline_without_its_command_line(tmp_path: Path) -> None:
    copy_code(tmp_path)

    copied = {path.relative_to(tmp_path) for path in tmp_path.rglob("*") if path.is_file()}
    expected = {path.relative_to(ROOT) for package in ("handlers", "pipeline")
                for path in (ROOT / package).rglob("*.py") if "cli" not in path.relative_to(ROOT).parts[:2]}
    assert copied == expected
    assert Path("handlers/jobs.py") in copied and not any(p.parts[:2] == ("pipeline", "cli") for p in copied)


def test_sizes_are_zipped_as_sam_zips_with_and_without_bytecode(tmp_path: Path) -> None:
    (tmp_path / "pkg" / "__pycache__").mkdir(parents=True)
    (tmp_path / "pkg" / "module.py").write_text("x = 1\n" * 10_000)
    (tmp_path / "pkg" / "__pycache__" / "module.cpython-312.pyc").write_bytes(bytes(range(256)) * 40)

    size = artifact_size(tmp_path)

    assert size.files == 2
    assert size.unpacked_bytes == 60_000 + 10_240
    assert size.zipped_bytes_without_bytecode < size.zipped_bytes < size.unpacked_bytes
