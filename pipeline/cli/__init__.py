"""The `ews-pipeline` command: one module per command group, each imported only when it runs.

`ews-pipeline --help` loads click and the command modules' light top level only; a command
imports boto3, dramatiq or exchangelib when it runs, so `sim` does not pay for boto3 and Lambda
packages, which never use the CLI, are unaffected.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

import click

__all__ = ["COMMANDS", "cli", "main"]

# Command name -> module under pipeline.cli holding a click command or group of that name.
COMMANDS: dict[str, str] = {
    "integration": "integration",
    "submit": "submit",
    "status": "status",
    "booking": "status",
    "dlq": "dlq",
    "subscriptions": "subscriptions",
    "up": "up",
    "sim": "sim",
    "worker": "worker",
    "demo": "demo",
    "schema": "schema",
}


class LazyGroup(click.Group):
    """Finds each command in its own module, importing it only when asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module_name = COMMANDS.get(cmd_name)
        if module_name is None:
            return None
        module = importlib.import_module(f"pipeline.cli.{module_name}")
        command: click.Command = getattr(module, cmd_name)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """ews-pipeline: run, feed and inspect the pipeline that connects booking apps to Exchange.

    Exit codes: 0 ok, 1 the operation failed, 2 usage. Every command takes --json.
    """


def main(argv: Sequence[str] | None = None) -> int:
    """The console script: runs a command and returns its exit code."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="ews-pipeline",
                 standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0
