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

    With --json the report goes to stderr, and stdout has only the JSON summary.
    """
    import contextlib
    import sys

    from infra.demo.run import run_demo

    if not output.as_json:
        return run_demo(verbose=verbose)
    with contextlib.redirect_stdout(sys.stderr):
        code = run_demo(verbose=verbose)
    output.json({"ok": code == 0, "exit_code": code})
    return code
