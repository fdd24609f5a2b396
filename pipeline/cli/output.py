"""What every command shares: `--json`, plain text when piped, and one-line errors with exit codes.

Exit codes: 0 ok, 1 the operation failed (a PipelineError, or a CliError), 2 usage (click's own
usage errors, and a configuration the command cannot start with). Expected errors print one line,
`CODE: message`, with the fix from pipeline.troubleshooting when there is one; with `--json` the
same error is a JSON object on stdout. Unexpected exceptions are bugs and keep their traceback.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "CliError", "Output", "pipeline_command"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
F = TypeVar("F", bound=Callable[..., Any])


class CliError(Exception):
    """An expected failure of a command: a code, a one-line message, an exit code."""

    def __init__(self, code: str, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.exit_code = exit_code


class Output:
    """Where a command's results go: JSON on stdout, or text (no colour unless a terminal)."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self._console: Console | None = None

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            # rich leaves out colour when stdout is not a terminal (and honours NO_COLOR); piped
            # tables are not cut to 80 columns.
            width = None if sys.stdout.isatty() else 4096
            self._console = Console(highlight=False, soft_wrap=True, width=width)
        return self._console

    @property
    def interactive(self) -> bool:
        """True when a person watches: text output on a terminal (progress bars are worth it)."""
        return not self.as_json and self.console.is_terminal

    def json(self, data: Any) -> None:
        click.echo(json.dumps(data, indent=2, default=str, sort_keys=False))

    def emit(self, data: Any, text: Callable[[], None] | None = None) -> None:
        """`data` as JSON with --json, else `text()` (or `data` as key/value lines)."""
        if self.as_json:
            self.json(data)
        elif text is not None:
            text()
        elif isinstance(data, Mapping):
            self.fields(data)
        else:
            self.line(str(data))

    def line(self, text: str = "") -> None:
        if self.as_json:
            return
        self.console.print(text, markup=False)

    def fields(self, data: Mapping[str, Any]) -> None:
        """Key/value lines, nested values as compact JSON."""
        width = max((len(str(key)) for key in data), default=0)
        for key, value in data.items():
            shown = value if isinstance(value, str) else json.dumps(value, default=str)
            self.line(f"{key:<{width}}  {shown}")

    def table(self, columns: Sequence[str], rows: Iterable[Sequence[Any]], *,
              title: str | None = None) -> None:
        from rich import box
        from rich.table import Table

        table = Table(*columns, title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        for row in rows:
            table.add_row(*("" if cell is None else str(cell) for cell in row))
        self.console.print(table)

    def error(self, code: str, message: str) -> None:
        """The one-line error (stderr), or its JSON (stdout), with the fix when there is one."""
        from pipeline.troubleshooting import fix_for

        entry = fix_for(code)
        if self.as_json:
            self.json({"ok": False, "error": {"code": code, "message": message,
                                              "fix": entry.fix if entry else None}})
            return
        hint = f" (fix: {entry.fix})" if entry else ""
        click.echo(f"{code}: {message}{hint}", err=True)


def pipeline_command(function: F) -> F:
    """Give a click command `--json` and the shared error handling; the function takes the Output
    first and returns an exit code (None for 0)."""

    @click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
    @functools.wraps(function)
    def command(*args: Any, as_json: bool, **kwargs: Any) -> None:
        output = Output(as_json)
        sys.exit(run_guarded(output, lambda: function(output, *args, **kwargs)))

    return command  # type: ignore[return-value]


def run_guarded(output: Output, body: Callable[[], int | None]) -> int:
    """Run a command body, turning the errors an operator can meet into one line and an exit code."""
    from pipeline.errors import PipelineError

    try:
        return body() or EXIT_OK
    except CliError as exc:
        output.error(exc.code, exc.message)
        return exc.exit_code
    except PipelineError as exc:
        output.error(str(exc.code), exc.message)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        mapped = _connection_error(exc)
        if mapped is None:
            raise
        output.error(mapped.code, mapped.message)
        return mapped.exit_code


def _connection_error(exc: Exception) -> CliError | None:
    """A broker that cannot be reached, in any of the client libraries' words."""
    from dramatiq.errors import ConnectionError as DramatiqConnectionError

    name = type(exc).__name__
    if isinstance(exc, DramatiqConnectionError) or name in ("ConnectionError", "AMQPConnectionError",
                                                              "EndpointConnectionError", "TimeoutError"):
        return CliError("BROKER_UNAVAILABLE", f"cannot reach the broker in PIPELINE_BROKER ({name})")
    return None
