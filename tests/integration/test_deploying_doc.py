"""docs/deploying.md as written: the pinned SAM CLI, `sam validate --lint`, `sam build`, `sam deploy` to moto.

It takes about two minutes (the build is most of it), so the suite skips it and `.ci/run` runs it
after the suite, with PIPELINE_RUN_SAM=1. The blocks run in a copy of this checkout's files
(tracked and untracked, none that git ignores), as a fresh clone has them, with the SAM CLI's
virtual environment from infra/deploy/sam_check's cache (created on the first run).

Then what `sam deploy` uploaded is checked: each function's artifact with the shared layer holds
what the handlers import (every module of the function imports under python3.12 from the two,
with the Lambda runtime's boto3 and botocore, as Lambda lays them out), nothing that only tests,
local runs or the command line use, and each function is under 15 MiB zipped.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import boto3
import botocore
import pytest
import s3transfer

from infra.deploy.lambda_package import artifact_size
from tests.integration.doc_blocks import BlockResult, parse_blocks, run_docs

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "deploying.md"
FUNCTIONS = ("JobsFunction", "CallbacksFunction", "RenewalsFunction", "EventsFunction")
LAYER = "DependenciesLayer"
# A function's artifact: the project's code only. The layer (python/ in it): the dependencies.
IN_EVERY_FUNCTION = ("handlers/jobs.py", "handlers/callbacks.py", "pipeline/runtimes",
                     "pipeline/exchange/ews")
IN_THE_LAYER = ("exchangelib", "lxml", "aws_lambda_powertools", "aws_xray_sdk", "pydantic",
                "pydantic_core", "dramatiq", "liquid", "babel")
# Only tests, local runs and the command line use these; the Lambda runtime has boto3 and botocore.
NEVER_IN_AN_ARTIFACT = ("moto", "pytest", "hypothesis", "tests", "infra", "pipeline/cli", "click", "rich",
                        "yaml", "boto3", "botocore", "s3transfer", "babel/locale-data", "bin")
MAX_ZIPPED_FUNCTION_MIB = 15
RUNTIME_PYTHON = "python3.12"

pytestmark = [
    pytest.mark.skipif(os.environ.get("PIPELINE_RUN_SAM") != "1",
                       reason="builds and deploys with the SAM CLI (2 min): .ci/run sets PIPELINE_RUN_SAM=1"),
    pytest.mark.timeout(1200),
]


def copy_checkout(destination: Path) -> Path:
    """The checkout's files as a clone of them would have them: tracked and untracked, not ignored."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, check=True, capture_output=True).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the work tree is listed too
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    return destination


def block_environment() -> dict[str, str]:
    """This machine's environment without AWS, SAM or pipeline settings, this interpreter's tools first."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("AWS_", "PIPELINE_", "SAM_", "EWSSIM_", "PYTEST_"))}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def test_every_command_in_deploying_md_runs_as_written(tmp_path: Path) -> None:
    checkout = copy_checkout(tmp_path / "ews-pipeline")

    run = run_docs([DOC], checkout, block_environment(), timeout=900)

    print(run.summary())
    for result in run.results:
        print(f"{result.block.where}: {result.seconds:.1f} s")
    if run.failures:
        pytest.fail(run.failures[0].describe(), pytrace=False)
    blocks = parse_blocks(DOC)
    assert len(run.results) == sum(block.runs for block in blocks)
    assert all(block.not_run for block in run.not_run)
    # An expected failure is shown with the error it prints.
    results = {result.block.line: result for result in run.results}
    for before, after in itertools.pairwise(blocks):
        if before.exit_code and after.language == "text":
            assert after.text.strip().splitlines()[0] in _output(results[before.line]), before.where
    # What `sam deploy` uploaded: the project's code in each function, its dependencies in the
    # layer, none of what only tests, local runs and the command line need.
    build = checkout / ".aws-sam" / "build"
    layer = build / LAYER / "python"
    assert [name for name in IN_THE_LAYER if not (layer / name).exists()] == []
    assert [name for name in NEVER_IN_AN_ARTIFACT if (layer / name).exists()] == []
    for function in FUNCTIONS:
        artifact = build / function
        assert [name for name in IN_EVERY_FUNCTION if not (artifact / name).exists()] == [], function
        assert [name for name in NEVER_IN_AN_ARTIFACT if (artifact / name).exists()] == [], function
        assert sorted(path.name for path in artifact.iterdir()) == ["handlers", "pipeline"], function
    sizes = [artifact_size(build / name) for name in (*FUNCTIONS, LAYER)]
    for size in sizes:
        print(f"{size.name}: {size.unpacked_bytes / 2**20:.1f} MiB unpacked, "
              f"{size.zipped_bytes / 2**20:.2f} MiB zipped "
              f"({size.zipped_bytes_without_bytecode / 2**20:.2f} without bytecode)")
    assert [size.name for size in sizes[:-1] if size.zipped_bytes >= MAX_ZIPPED_FUNCTION_MIB * 2**20] == []
    # Function and layer together hold every module the handlers import, at start or later.
    imported = import_from_artifacts(build / "JobsFunction", layer, tmp_path / "runtime")
    assert imported["failures"] == {}
    assert imported["outside"] == []


def _output(result: BlockResult) -> str:
    return result.stdout + result.stderr


# Run by the runtime's Python with nothing but the standard library, the function, the layer and
# the runtime's own packages on sys.path (-I -S: no site-packages), inside "Lambda" with tracing on;
# -B: the artifacts stay as built (sam deploy uploads this folder).
IMPORT_EVERY_MODULE = """\
import importlib, json, pathlib, sys, sysconfig
function, layer, runtime = sys.argv[1:4]
sys.path[:0] = [function, layer, runtime]
failures = {}
for path in sorted(pathlib.Path(function).rglob("*.py")):
    parts = path.relative_to(function).with_suffix("").parts
    name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    try:
        importlib.import_module(name)
    except Exception as exc:
        failures[name] = repr(exc)[:300]
from pipeline.templates import TextKind, render
text = render("{{ who | upcase }} {{ when | date: '%Y' }}", TextKind.SUBJECT,
              {"who": "dana", "when": "2030-01-07T09:00:00+00:00"}, what="a subject")
assert text == "DANA 2030", text
allowed = (function, layer, runtime, sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"])
outside = sorted({str(getattr(module, "__file__", None)) for module in list(sys.modules.values())
                  if getattr(module, "__file__", None) and not str(module.__file__).startswith(allowed)})
print(json.dumps({"failures": failures, "outside": outside, "modules": len(sys.modules)}))
"""


def runtime_python() -> str | None:
    """The functions' Python (python3.12) on PATH, else pyenv's; None when the machine has none."""
    candidates = [shutil.which(RUNTIME_PYTHON) or ""]
    candidates += sorted(str(p) for p in Path.home().glob(f".pyenv/versions/3.12*/bin/{RUNTIME_PYTHON}"))
    for candidate in filter(None, candidates):
        if subprocess.run([candidate, "-c", ""], capture_output=True).returncode == 0:
            return candidate
    return None


def import_from_artifacts(function: Path, layer: Path, runtime: Path) -> dict[str, object]:
    """Import every module of a function's artifact as Lambda would lay it out (/var/task, then
    /opt/python, then /var/runtime with its boto3, botocore and s3transfer: this interpreter's)."""
    python = runtime_python()
    if python is None:
        print(f"NOT CHECKED: no {RUNTIME_PYTHON} here to import the artifacts with")
        return {"failures": {}, "outside": []}
    runtime.mkdir()
    for package in (boto3, botocore, s3transfer):
        (runtime / package.__name__).symlink_to(Path(package.__file__).parent)
    env = {"PATH": os.environ["PATH"], "LAMBDA_TASK_ROOT": str(function), "AWS_LAMBDA_FUNCTION_NAME": "jobs",
           "AWS_REGION": "us-east-1", "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR"}
    done = subprocess.run([python, "-I", "-S", "-B", "-c", IMPORT_EVERY_MODULE, str(function), str(layer),
                           str(runtime)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result

