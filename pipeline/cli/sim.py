"""`ews-pipeline sim`: the EWS simulator on a port (0 picks a free one and prints it)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from pipeline.cli.output import EXIT_USAGE, CliError, Output, pipeline_command

if TYPE_CHECKING:
    from infra.ewssim.server import EwsSimulator

__all__ = ["SEED_DATA_ERRORS", "serve", "sim"]

# What seeding raises for data of the wrong shape (a number where a list of users belongs, say).
SEED_DATA_ERRORS = (KeyError, ValueError, TypeError, AttributeError)


@click.command()
@click.option("--config", "seed_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Seed file (YAML or JSON): users, rooms, apps and grants.")
@click.option("--sample", is_flag=True, help="Seed the demo's sample company instead.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="Port to listen on; 0 picks a free one.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--tls", is_flag=True, help="Serve HTTPS with a generated certificate.")
@click.option("--schema-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Validate against this EWS schema folder (default: EWS_SCHEMA_DIR when set).")
@click.option("-v", "--verbose", is_flag=True, help="Log every request.")
@pipeline_command
def sim(output: Output, seed_file: Path | None, sample: bool, port: int, host: str, tls: bool,
        schema_dir: Path | None, verbose: bool) -> None:
    """Run the EWS simulator until Ctrl-C; prints its URLs (a JSON line with --json) once listening."""
    import logging

    from infra.ewssim.config import SeedFileError, load_seed
    from infra.ewssim.server import EwsSimulator

    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(message)s")
    if seed_file and sample:
        raise CliError("USAGE", "--config and --sample are alternatives", EXIT_USAGE)
    try:
        seed = load_seed(seed_file) if seed_file else {}
    except SeedFileError as exc:
        raise CliError("INVALID_SEED", str(exc), EXIT_USAGE) from None
    try:
        simulator = (EwsSimulator(host=host, port=port, tls=tls) if schema_dir is None
                     else EwsSimulator(host=host, port=port, tls=tls, schema_dir=schema_dir))
    except OSError as exc:
        raise CliError("CANNOT_LISTEN", f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    try:
        if sample:
            from infra.demo import organisation

            simulator.seed(organisation.organisation())
        else:
            simulator.seed(seed)
    except SEED_DATA_ERRORS as exc:
        simulator.stop()
        raise CliError("INVALID_SEED", f"bad seed data in {seed_file}: {exc!r}", EXIT_USAGE) from None
    serve(output, simulator)


def serve(output: Output, simulator: EwsSimulator) -> None:
    """Announce the simulator's URLs (flushed: scripts wait for this line) and serve until stopped."""
    import signal
    from types import FrameType

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    urls = {"ews_url": simulator.ews_url, "control": f"{simulator.base_url}/_sim/",
            "autodiscover_url": simulator.autodiscover_url, "graph_url": simulator.graph_url,
            "ca_file": simulator.ca_file}
    if output.as_json:
        import json

        click.echo(json.dumps(urls, default=str))
    else:
        from infra.ewssim.cli import announcement

        click.echo(announcement(simulator))
    try:
        simulator.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        simulator.stop()
