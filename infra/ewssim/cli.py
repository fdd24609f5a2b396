"""The simulator as a command: `python -m infra.ewssim --config FILE --port N [--host H] [--tls]`."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path
from types import FrameType

from infra.ewssim.config import SeedFileError, load_seed
from infra.ewssim.server import EwsSimulator

__all__ = ["build_parser", "main"]


def build_parser(prog: str = "python -m infra.ewssim") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description="Run the local EWS (Exchange Web Services) simulator."
    )
    parser.add_argument(
        "--config", type=Path, help="seed file (YAML or JSON) with users, rooms, apps and grants"
    )
    parser.add_argument("--port", type=int, default=8080, help="port to listen on; 0 picks a free one")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--tls", action="store_true", help="serve HTTPS with a generated certificate")
    parser.add_argument(
        "--schema-dir",
        type=Path,
        help="validate against this EWS schema folder (default: EWS_SCHEMA_DIR when set)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Serve until interrupted; prints one line with the URLs once the port is open."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(asctime)s %(name)s %(message)s"
    )
    try:
        seed = load_seed(args.config) if args.config else {}
    except SeedFileError as exc:
        print(f"ewssim: {exc}", file=sys.stderr)
        return 2
    options = {} if args.schema_dir is None else {"schema_dir": args.schema_dir}
    try:
        simulator = EwsSimulator(host=args.host, port=args.port, tls=args.tls, **options)
    except OSError as exc:
        print(f"ewssim: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    try:
        simulator.seed(seed)
    except (KeyError, ValueError, TypeError) as exc:
        simulator.stop()
        print(f"ewssim: bad seed data in {args.config}: {exc!r}", file=sys.stderr)
        return 2

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    # Flushed at once: scripts wait for this line to learn the port (with --port 0).
    print(announcement(simulator), flush=True)
    try:
        simulator.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        simulator.stop()
    return 0


def announcement(simulator: EwsSimulator) -> str:
    """The line a started simulator prints: its URLs, and its CA last (scripts take the rest of the
    line as the CA's path)."""
    extra = f" ca_file={simulator.ca_file}" if simulator.ca_file else ""
    return (f"ewssim listening ews_url={simulator.ews_url} control={simulator.base_url}/_sim/ "
            f"graph_url={simulator.graph_url}{extra}")
