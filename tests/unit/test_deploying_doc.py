"""docs/deploying.md against template.yaml and CI: every parameter and output, and who runs its commands.

The commands themselves run in tests/integration/test_deploying_doc.py (two minutes: .ci/run runs it
after the suite); these checks are the cheap half, and run with the suite.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

from cfnlint.decode.cfn_yaml import load as load_cfn_yaml

from tests.integration.doc_blocks import parse_blocks

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "deploying.md"
SAM_CHECK = ROOT / "infra" / "deploy" / "sam_check"
CI = ROOT / ".ci" / "run"
EMPTY = "(empty)"


@cache
def _template() -> dict[str, Any]:
    loaded: dict[str, Any] = load_cfn_yaml(str(ROOT / "template.yaml"))
    return loaded


def table(heading: str) -> dict[str, list[str]]:
    """The rows of the table under `## heading`, by their first cell (without backticks)."""
    section = DOC.read_text().split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [[cell.strip() for cell in line.strip().strip("|").split(" | ")]
            for line in section.splitlines() if line.startswith("| `")]
    return {cells[0].strip("`"): cells[1:] for cells in rows}


def test_every_parameter_is_documented_with_its_default() -> None:
    parameters = _template()["Parameters"]

    documented = table("Parameters")

    assert sorted(documented) == sorted(parameters)
    for name, (default, effect) in documented.items():
        expected = str(parameters[name]["Default"])
        assert default == (f"`{expected}`" if expected else EMPTY), name
        assert len(effect) > 40, f"{name}: say what it does"


def test_every_output_is_documented() -> None:
    assert sorted(table("Outputs")) == sorted(_template()["Outputs"])


def test_the_doc_names_the_sam_cli_version_sam_check_installs() -> None:
    [pinned] = re.findall(r"^SAM_CLI_VERSION=(\S+)$", SAM_CHECK.read_text(), re.M)

    assert f"({pinned})" in DOC.read_text()


def test_check_build_and_deploy_run_and_only_aws_commands_are_left_out() -> None:
    blocks = parse_blocks(DOC)  # every block is a command, data, or marked (DocError otherwise)
    run = "".join(block.text for block in blocks if block.runs)
    left_out = [block for block in blocks if block.is_command and not block.runs]

    for command in ("infra/deploy/sam_check --sam --version", "infra/deploy/sam_check --build-dir",
                    "sam deploy --stack-name ews-pipeline --s3-bucket", "ews-pipeline integration add"):
        assert command in run, command
    for block in left_out:
        reason = block.not_run or ""
        assert reason.startswith("needs AWS") or "sam_check ran above" in reason, block.where


def test_ci_runs_the_doc_after_the_suite_and_stops_on_a_failure_before_it() -> None:
    lines = [line for line in CI.read_text().splitlines() if line and not line.startswith("#")]
    suite = next(i for i, line in enumerate(lines)
                 if "python3 -m pytest -q" in line and "PIPELINE_RUN_SAM" not in line)
    doc = "PIPELINE_RUN_SAM=1 python3 -m pytest -q tests/integration/test_deploying_doc.py"

    assert lines[suite].endswith("|| exit"), "set -e does not stop on a failure inside an && list"
    assert lines[suite + 1:] == [doc]


def test_readme_deploy_section_links_the_doc() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Deploy it\n", 1)[1].split("\n## ", 1)[0]

    assert "(docs/deploying.md)" in section
    assert "infra/deploy/sam_check --build-dir .aws-sam/build" in section
