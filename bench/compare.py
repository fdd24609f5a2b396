"""Issue 11's figures, the pipeline side by side with plain exchangelib, in one run.

Against one EWS simulator (its own process, per-request latency over /_sim/faults), the baseline
(bench/baseline.py: an Account per booking, CalendarItem.save sending the invitations) and the
pipeline (its real runtime in one worker process with 16 threads, bench/compare_runs.py) run
alternately: for each latency and repeat, baseline, pipeline on moto, pipeline on dynalite. Each
run is a fresh child process; the simulator is reset before each. The figure is the median of
the repeats; counts are totals over every run. Every booking is then checked in the organiser's
calendar (exactly once, invitations sent).

Then free/busy (bench/free_busy.py's measure) and cold start (bench/cold_start.py's measure).
It prints every figure with its ratio, target and the machine's load, and exits 1 when a target
is missed or a figure could not be measured.

    python bench/compare.py                # the whole set, under 10 minutes on 2 cores
    python bench/compare.py --quick        # one repeat, shorter runs
    python bench/compare.py --build-dir DIR   # package sizes from a `sam build` folder (sam_check)
    python bench/compare.py --figures bookings --stores moto --latency-ms 0 --repeats 1 \\
        --bookings 8 --threads 4 --run-seconds 0 --json out.json   # the suite's size (counts only)
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import boto3
from bench_support import SimulatorProcess
from bookings_throughput import make_bookings
from compare_report import (
    Figure,
    booking_figures,
    external_figures,
    load,
    print_figures,
)
from compare_runs import CPU_COLUMNS, RunResult, RunSpec, run_in_child
from dynalite import DynaliteProcess, DynaliteUnavailable

from infra.demo import organisation as org
from infra.demo.local_stack import REGION, create_results_table, local_aws, put_secret
from pipeline.store.dynamodb import DynamoDbStore

TABLE = "ews-pipeline-compare"
INTEGRATION_ID = "bench-impersonation"  # make_bookings' integration
SECRET_NAME = "bench/compare/service"
STORES = ("moto", "dynalite")
FIGURES = ("bookings", "free-busy", "cold-start")


@dataclass
class Runs:
    """Every timed run of one side ("baseline", "moto", "dynalite") at one latency."""

    results: list[RunResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def rate(self) -> float | None:
        rates = [r.bookings / r.seconds for r in self.results if r.seconds > 0]
        return statistics.median(rates) if rates else None


def install(aws_endpoint: str, table_endpoints: dict[str, str], ews_url: str) -> None:
    """The secret on moto; the table, made as the pipeline makes it, and the integration in each store."""
    put_secret(aws_endpoint, SECRET_NAME,
               {"username": org.address("scheduler-imp"), "password": org.PASSWORD, "domain": "CONTOSO"})
    for endpoint in table_endpoints.values():
        create_results_table(endpoint, TABLE)
        client = boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint)
        DynamoDbStore(client, TABLE).put_integration(INTEGRATION_ID, {
            "integration_id": INTEGRATION_ID, "connection_method": "impersonation", "auth_type": "basic",
            "ews_url": ews_url, "secret_name": SECRET_NAME, "service_mailbox": org.address("scheduler-imp"),
            "internal_domains": [org.DOMAIN],
        }, datetime.now(UTC))


def bookings(tag: str, count: int, mailboxes: int) -> tuple[dict[str, Any], ...]:
    """make_bookings' bookings, each with its key as its subject (how the baseline's are found)."""
    made = make_bookings(tag, count, mailboxes)
    return tuple({**booking, "subject": booking["booking_key"]} for booking in made)


def verify(sim: SimulatorProcess, spec: RunSpec, result: RunResult) -> list[str]:
    """Each booking exactly once in its organiser's calendar, with its meeting requests sent."""
    problems = [f"error: {failure}" for failure in result.failures[:3]]
    if len(result.failures) > 3:
        problems.append(f"... {len(result.failures)} errors in all")
    wanted = {booking["booking_key"]: booking["mailbox"] for booking in spec.bookings}
    found: Counter[str] = Counter()
    uninvited = 0
    for organiser in sorted(set(wanted.values())):
        for item in sim.folder_items(organiser, "calendar"):
            marks = [*item.get("extended_properties", {}).values(), item.get("subject")]
            keys = {value for value in marks if value in wanted}
            found.update(keys)
            uninvited += bool(keys) and not item.get("meeting_request_was_sent")
    missing = [key for key in wanted if not found[key]]
    doubled = [key for key in wanted if found[key] > 1]
    if missing:
        problems.append(f"{len(missing)} booking(s) missing from calendars, e.g. {missing[0]}")
    if doubled:
        problems.append(f"{len(doubled)} booking(s) in a calendar more than once, e.g. {doubled[0]}")
    if uninvited:
        problems.append(f"{uninvited} booking(s) without meeting requests sent")
    return problems


def run_bookings(args: argparse.Namespace, sim: SimulatorProcess, aws_endpoint: str,
                 table_endpoints: dict[str, str], store_pids: dict[str, int],
                 ) -> dict[tuple[str, float], Runs]:
    """Baseline, pipeline on each store, alternately, for each latency and repeat."""
    seed = org.organisation()
    runs: dict[tuple[str, float], Runs] = {}
    sides = ["baseline", *table_endpoints]
    context = multiprocessing.get_context("spawn")  # this process runs moto's server threads
    print(f"{'run':<9} {'latency':>7} {'bookings':>8} {'jobs':>5} {'seconds':>7} {'per s':>7} "
          f"{'EWS/bk':>6} {'table/bk':>8} {'CPU ms/bk b/t/s':>16} {'load':>5}", flush=True)
    for latency in args.latencies:
        for repeat in range(args.repeats):
            for side in sides:
                side_runs = runs.setdefault((side, latency), Runs())
                # Sized from this side's rate so far: at this latency, else at the one before.
                rate = side_runs.rate() or next((each.rate() for (name, _), each in runs.items()
                                                 if name == side and each.rate()), None)
                count = args.bookings if rate is None or not args.run_seconds else max(
                    args.bookings, min(args.max_bookings, round(rate * args.run_seconds)))
                tag = f"{side}-{latency:.0f}-{repeat}-{uuid.uuid4().hex[:4]}"
                spec = RunSpec(
                    side="baseline" if side == "baseline" else "pipeline",
                    store="" if side == "baseline" else side, latency_ms=latency,
                    warmup=bookings(f"{tag}-warm", args.threads, args.mailboxes),
                    bookings=bookings(tag, count, args.mailboxes), threads=args.threads,
                    ews_url=sim.ews_url, sim_control_url=sim.control_url, aws_endpoint=aws_endpoint,
                    table_endpoint=table_endpoints.get(side, aws_endpoint), table=TABLE,
                    login=(org.address("scheduler-imp"), org.PASSWORD), simulator_pid=sim.pid,
                    store_pid=store_pids.get(side, os.getpid()))
                sim.reset(seed, latency)
                with ProcessPoolExecutor(1, mp_context=context) as pool:
                    result = pool.submit(run_in_child, spec).result()
                problems = verify(sim, spec, result)
                side_runs.results.append(result)
                side_runs.problems += problems
                print_run(side, latency, result)
                for problem in problems:
                    print(f"          ! {problem}", flush=True)
    return runs


def print_run(side: str, latency: float, result: RunResult) -> None:
    booked = max(result.bookings, 1)
    table = sum(n for op, n in result.aws_calls.items() if op.startswith("dynamodb:"))
    cpu = "/".join(f"{result.cpu_seconds.get(name, 0) * 1000 / booked:.1f}" for name in CPU_COLUMNS)
    print(f"{side:<9} {latency:>4.0f} ms {result.bookings:>8} {result.jobs:>5} {result.seconds:>7.2f} "
          f"{result.bookings / result.seconds if result.seconds else 0:>7.1f} "
          f"{sum(result.ews_requests.values()) / booked:>6.2f} {table / booked:>8.2f} {cpu:>16} "
          f"{os.getloadavg()[0]:>5.1f}", flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one repeat, 3 s runs (unless given)")
    parser.add_argument("--figures", default=",".join(FIGURES), help="a list of " + ",".join(FIGURES))
    parser.add_argument("--stores", default=",".join(STORES),
                        help="the pipeline's table: " + ",".join(STORES))
    parser.add_argument("--latency-ms", default="50,0", help="simulator latency per EWS request, a list")
    parser.add_argument("--repeats", type=int, help="runs per side and latency (default 3, quick 1)")
    parser.add_argument("--bookings", type=int, default=40, help="bookings in a side's first run")
    parser.add_argument("--run-seconds", type=float,
                        help="size later runs to last about this long from the side's rate (default 5, "
                             "quick 3; 0: always --bookings)")
    parser.add_argument("--max-bookings", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=16, help="baseline threads, worker threads")
    parser.add_argument("--mailboxes", type=int, default=50, help="organiser mailboxes")
    parser.add_argument("--build-dir", type=Path,
                        help="a `sam build` folder for the package sizes (cold_start.py's default: "
                             ".aws-sam/build when it exists)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    args.figures = [name.strip() for name in args.figures.split(",") if name.strip()]
    args.stores = [name.strip() for name in args.stores.split(",") if name.strip()]
    if unknown := (set(args.figures) - set(FIGURES)) | (set(args.stores) - set(STORES)):
        parser.error(f"unknown figures or stores: {sorted(unknown)}")
    args.latencies = [float(value) for value in args.latency_ms.split(",") if value.strip()]
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.run_seconds = (3.0 if args.quick else 5.0) if args.run_seconds is None else args.run_seconds
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto logs every call otherwise
    started = time.monotonic()
    print(f"{os.cpu_count()} CPUs, load average {load()} at the start; {args.threads} threads; "
          f"latencies {args.latencies} ms; {args.repeats} repeat(s)", flush=True)
    figures: list[Figure] = []
    # The simulator's schema check (EWS_SCHEMA_DIR) is for tests; here it would only add its CPU.
    os.environ.pop("EWS_SCHEMA_DIR", None)
    with tempfile.TemporaryDirectory() as folder, local_aws() as aws_endpoint:
        seed_file = Path(folder) / "seed.json"
        seed_file.write_text(json.dumps(org.organisation()))
        sim = SimulatorProcess(seed_file)
        dynalite: DynaliteProcess | None = None
        try:
            table_endpoints = {"moto": aws_endpoint} if "moto" in args.stores else {}
            store_pids = {"moto": os.getpid()}  # local_aws runs moto's server threads in this process
            if "dynalite" in args.stores and "bookings" in args.figures:
                try:
                    dynalite = DynaliteProcess.start()
                    table_endpoints["dynalite"] = dynalite.endpoint
                    store_pids["dynalite"] = dynalite.pid
                except DynaliteUnavailable as exc:
                    print(f"! dynalite: {exc}", flush=True)
                    figures.append(Figure("Bookings/s at 50 ms, dynalite", met=False,
                                          note=f"not measured: {exc}"))
            if "bookings" in args.figures:
                install(aws_endpoint, table_endpoints, sim.ews_url)
                runs = run_bookings(args, sim, aws_endpoint, table_endpoints, store_pids)
                figures += booking_figures(runs, args.threads)
                print(f"bookings: {(time.monotonic() - started) / 60:.1f} min so far", flush=True)
            for name in ("free-busy", "cold-start"):
                if name in args.figures:
                    print(f"\n{name}: bench/{name.replace('-', '_')}.py's measure(), load average {load()}",
                          flush=True)
                    found = external_figures(name, repeats=args.repeats, quick=args.quick,
                                             build_dir=args.build_dir)
                    print_figures(found)
                    figures += found
                    print(f"{name}: {(time.monotonic() - started) / 60:.1f} min so far", flush=True)
        finally:
            if dynalite is not None:
                dynalite.close()
            sim.close()
    minutes = (time.monotonic() - started) / 60
    print(f"\nIssue 11's figures, {datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} CPUs, load average "
          f"{load()} at the end, {minutes:.1f} min in all:")
    print_figures(figures)
    missed = [figure for figure in figures if figure.met is False]
    if args.json:
        args.json.write_text(json.dumps({"date": f"{datetime.now(UTC):%Y-%m-%d}", "cpus": os.cpu_count(),
                                         "load": os.getloadavg(), "minutes": minutes,
                                         "figures": [asdict(figure) for figure in figures]}, indent=2))
    print(f"\n{len(missed)} target(s) missed or not measured" if missed else "\nevery target met")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
