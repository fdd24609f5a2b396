"""The `ews-pipeline` command: demo, sim, schema and worker.

Each subcommand imports what it needs when it runs, so that `ews-pipeline sim` does not pay for
boto3 and `ews-pipeline schema` does not load exchangelib.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def _demo(args: argparse.Namespace) -> int:
    from infra.demo.run import run_demo

    return run_demo(verbose=args.verbose)


def _sim(args: argparse.Namespace) -> int:
    from infra.ewssim.cli import main as simulator_main

    return simulator_main(args.simulator_args)


def _schema(args: argparse.Namespace) -> int:
    from pipeline.contract.schema_export import write_schemas

    for path in write_schemas(Path(args.out)):
        print(path)
    return 0


def _worker(args: argparse.Namespace) -> int:
    from pipeline.runtimes.worker import run_worker

    return run_worker(processes=args.processes, threads=args.threads)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ews-pipeline", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run the whole pipeline locally on embedded defaults")
    demo.add_argument("-v", "--verbose", action="store_true", help="log each job as it runs")
    demo.set_defaults(run=_demo)

    sim = commands.add_parser(
        "sim", help="run the EWS simulator (options as `python -m infra.ewssim --help`)", add_help=False
    )
    sim.add_argument("simulator_args", nargs=argparse.REMAINDER)
    sim.set_defaults(run=_sim)

    schema = commands.add_parser("schema", help="write the JSON Schema of every action's kwargs and result")
    schema.add_argument("--out", required=True, help="directory to write the schema files into")
    schema.set_defaults(run=_schema)

    worker = commands.add_parser("worker", help="run dramatiq workers on the broker in PIPELINE_BROKER")
    worker.add_argument("--processes", type=int, default=1)
    worker.add_argument("--threads", type=int, default=8)
    worker.set_defaults(run=_worker)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
