"""docs/deploying.md as written: the pinned SAM CLI, `sam validate --lint`, `sam build`, `sam deploy` to moto.

It takes about two minutes (the build is most of it), so the suite skips it and `.ci/run` runs it
after the suite, with PIPELINE_RUN_SAM=1. The blocks run in a copy of this checkout's files
(tracked and untracked, none that git ignores), as a fresh clone has them, with the SAM CLI's
virtual environment from infra/deploy/sam_check's cache (created on the first run).
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.doc_blocks import BlockResult, parse_blocks, run_docs

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "deploying.md"
FUNCTIONS = ("JobsFunction", "CallbacksFunction", "RenewalsFunction", "EventsFunction")
# What the handlers import at start, and what only tests and local runs need (never in Lambda).
IN_EVERY_ARTIFACT = ("handlers/jobs.py", "pipeline/runtimes", "exchangelib", "aws_lambda_powertools",
                     "pydantic")
NEVER_IN_AN_ARTIFACT = ("moto", "pytest", "hypothesis", "tests")

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
    # What `sam deploy` uploaded: each function's artifact has what its handler imports, and none
    # of what only tests and local runs need.
    build = checkout / ".aws-sam" / "build"
    for function in FUNCTIONS:
        artifact = build / function
        assert [name for name in IN_EVERY_ARTIFACT if not (artifact / name).exists()] == [], function
        assert [name for name in NEVER_IN_AN_ARTIFACT if (artifact / name).exists()] == [], function


def _output(result: BlockResult) -> str:
    return result.stdout + result.stderr

