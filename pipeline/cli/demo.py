"""`ews-pipeline demo`: the whole pipeline locally, on a sample company."""

from __future__ import annotations

import click

from pipeline.cli.output import Output, pipeline_command

__all__ = ["demo"]


@click.command()
@click.option("-v", "--verbose", is_flag=True, help="Log each job as it runs.")
@pipeline_command
def demo(output: Output, verbose: bool) -> int:
    """Run a realistic batch of jobs through the pipeline, locally; exit 1 if any check fails.

    With --json the report is still text; the last line is a JSON summary.
    """
    from infra.demo.run import run_demo

    code = run_demo(verbose=verbose)
    if output.as_json:
        output.json({"ok": code == 0})
    return code
