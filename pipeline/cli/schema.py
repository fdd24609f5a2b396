"""`ews-pipeline schema --out DIR`: write the JSON Schema of every action's kwargs and result."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.cli.output import CliError, Output, pipeline_command

__all__ = ["schema"]


@click.command()
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory to write the schema files into.")
@pipeline_command
def schema(output: Output, out: Path) -> None:
    """Write the JSON Schema of every action's kwargs and result, and of the stored items."""
    from pipeline.contract.schema_export import write_schemas

    try:
        paths = [str(path) for path in write_schemas(out)]
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise CliError("CANNOT_WRITE", f"cannot write the schemas into {out}: {reason}") from None

    def text() -> None:
        for path in paths:
            output.line(path)

    output.emit({"written": paths}, text)
