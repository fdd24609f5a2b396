"""`--json` keeps stdout for the JSON: what a command reports as text goes elsewhere."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import infra.demo.run
from pipeline.cli import cli


@pytest.mark.parametrize("code", [0, 1])
def test_demo_json_prints_only_the_summary_on_stdout(monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    # Given a demo run that reports as it goes (the report itself is tests/integration/test_demo.py's)
    def run_demo(verbose: bool = False) -> int:
        print("27 of 27 jobs succeeded")
        return code

    monkeypatch.setattr(infra.demo.run, "run_demo", run_demo)

    # When it runs with --json
    result = CliRunner().invoke(cli, ["demo", "--json"])

    # Then stdout is the JSON summary alone, the report is on stderr, and the exit code is the demo's
    assert result.exit_code == code
    assert json.loads(result.stdout) == {"ok": code == 0, "exit_code": code}
    assert result.stderr == "27 of 27 jobs succeeded\n"
