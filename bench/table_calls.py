"""Results-table calls per job and bookings/s against moto: this tree beside an earlier commit.

Issue 11's target 2 (at most 3 table calls per job, settings read once every few seconds) as a
ratio in one run: the same bookings (create_event, then send_invite) are run through run_job on
a thread pool, once with the pipeline as committed at --before (default HEAD, extracted with
`git archive`, which changes nothing in the repository) and once with this working tree,
alternating for --rounds. Both talk to one EWS simulator (a process of its own) and one moto
server (DynamoDB and Secrets Manager, in this parent process, idle while a child runs); each run
is a fresh child process with a table of its own. One warm-up booking per run is not counted.

    python bench/table_calls.py [--bookings 100] [--threads 8] [--latency-ms 0] [--rounds 1]
        [--before HEAD]

Prints, per run, DynamoDB calls per job by operation and bookings/s; then the after/before
ratios. Exits 1 when a job failed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
INTEGRATION_ID = "bench-table-calls"
SECRET_NAME = "bench/table-calls/service"
REGION = "us-east-1"


# -- child: one tree, one run ------------------------------------------------------------------


def child(args: argparse.Namespace) -> int:
    """Run the bookings with the pipeline of args.tree; print one JSON line of counts."""
    sys.path[:0] = [args.tree, str(BENCH)]
    os.environ.update({"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
                       "AWS_DEFAULT_REGION": REGION})
    from bench_support import AwsCallCounter

    calls = AwsCallCounter()
    calls.install()  # before any boto3 client exists

    import pipeline
    from pipeline.config import PipelineConfig
    from pipeline.runtimes.runner import Job, run_job
    from pipeline.runtimes.runtime import Runtime

    spec = json.loads(Path(args.spec).read_text())
    config = PipelineConfig(table_name=spec["table"], aws_endpoint_url=spec["aws_endpoint"],
                            aws_region=REGION, worker_concurrency=args.threads)
    runtime = Runtime.from_config(config)
    runtime.store.put_integration(INTEGRATION_ID, spec["integration"], datetime.now(UTC))
    failures: list[str] = []

    def book(kwargs: dict[str, Any]) -> None:
        follow_up = {name: kwargs[name] for name in ("integration_id", "mailbox", "booking_key")}
        for actor, job_kwargs in (("create_event", kwargs), ("send_invite", follow_up)):
            try:
                run_job(runtime, Job(str(uuid.uuid4()), actor, job_kwargs))
            except Exception as failure:  # counted and reported, never hidden
                failures.append(f"{actor}: {failure}")

    warm_up, *bookings = spec["bookings"]
    book(warm_up)
    before = calls.snapshot()
    started = time.monotonic()
    with ThreadPoolExecutor(args.threads) as pool:
        list(pool.map(book, bookings))
    seconds = time.monotonic() - started
    made = calls.snapshot() - before
    table = {name.split(":", 1)[1]: count for name, count in made.items() if name.startswith("dynamodb:")}
    print(json.dumps({"jobs": 2 * len(bookings), "bookings": len(bookings), "seconds": seconds,
                      "table": table, "failures": failures[:5], "failed": len(failures),
                      "pipeline": pipeline.__file__}))
    return 0


# -- parent: the simulator, moto, the trees and the table --------------------------------------


def extract(commit: str, into: Path) -> Path:
    """The tree of `commit`, as files (git archive reads the repository and changes nothing)."""
    archive = into / "before.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", commit], stdout=out, check=True)
    tree = into / "before"
    with tarfile.open(archive) as tar:
        tar.extractall(tree, filter="data")
    return tree


def make_bookings(tag: str, count: int) -> list[dict[str, Any]]:
    from infra.demo import organisation as org

    staff = org.staff()
    organisers, attendees = staff[:20], staff[20:]
    first = datetime(2030, 1, 7, 9, tzinfo=UTC)
    return [{
        "integration_id": INTEGRATION_ID,
        "mailbox": organisers[number % len(organisers)],
        "booking_key": f"{tag}-{number:05d}",
        "subject": f"Interview {number}",
        "start": (first + timedelta(minutes=30 * number)).isoformat(),
        "end": (first + timedelta(minutes=30 * number + 30)).isoformat(),
        "required_attendees": [{"email": attendees[number % len(attendees)]}],
    } for number in range(count)]


def run(tree: Path, args: argparse.Namespace, aws_endpoint: str, ews_url: str,
        folder: Path) -> dict[str, Any]:
    from infra.demo import organisation as org
    from infra.demo.local_stack import create_results_table

    table = f"bench-calls-{uuid.uuid4().hex[:8]}"
    create_results_table(aws_endpoint, table)
    spec = folder / f"{table}.json"
    spec.write_text(json.dumps({
        "table": table, "aws_endpoint": aws_endpoint,
        "bookings": make_bookings(table, args.bookings + 1),
        "integration": {
            "integration_id": INTEGRATION_ID, "connection_method": "impersonation", "auth_type": "basic",
            "ews_url": ews_url, "secret_name": SECRET_NAME,
            "service_mailbox": org.address("scheduler-imp"), "internal_domains": [org.DOMAIN],
        },
    }))
    answer = subprocess.run(
        [sys.executable, __file__, "--child", "--tree", str(tree), "--spec", str(spec),
         "--threads", str(args.threads)],
        capture_output=True, text=True, check=False, cwd=tree,
    )
    lines = [line for line in answer.stdout.splitlines() if line.startswith("{")]
    if answer.returncode or not lines:
        raise RuntimeError(f"run with {tree} failed: {answer.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    if not Path(result["pipeline"]).resolve().is_relative_to(tree.resolve()):
        raise RuntimeError(f"the run meant for {tree} imported {result['pipeline']}")
    return result


def describe(label: str, result: dict[str, Any]) -> str:
    jobs = result["jobs"]
    per_job = {name: count / jobs for name, count in sorted(result["table"].items())}
    total = sum(per_job.values())
    ops = ", ".join(f"{name} {value:.2f}" for name, value in per_job.items())
    rate = result["bookings"] / result["seconds"]
    return f"{label:<7} {total:>10.2f} {rate:>11.1f} {result['failed']:>6}   {ops}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bookings", type=int, default=100, help="bookings per run (2 jobs each)")
    parser.add_argument("--threads", type=int, default=8, help="run_job threads (default 8)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="simulator latency per EWS request")
    parser.add_argument("--rounds", type=int, default=1, help="before/after pairs, alternating")
    parser.add_argument("--before", default="HEAD", help="the commit to compare with (default HEAD)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tree", help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args)

    sys.path[:0] = [str(ROOT), str(BENCH)]
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto logs every call otherwise
    from bench_support import SimulatorProcess

    from infra.demo import organisation as org
    from infra.demo.local_stack import local_aws, put_secret

    results: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory() as name, local_aws() as aws_endpoint:
        folder = Path(name)
        trees = {"before": extract(args.before, folder), "after": ROOT}
        seed = org.organisation()
        seed_file = folder / "seed.json"
        seed_file.write_text(json.dumps(seed))
        sim = SimulatorProcess(seed_file)
        try:
            put_secret(aws_endpoint, SECRET_NAME, {"username": org.address("scheduler-imp"),
                                                   "password": org.PASSWORD, "domain": "CONTOSO"})
            print(f"{args.bookings} bookings (create_event + send_invite) per run, {args.threads} threads, "
                  f"{args.latency_ms:.0f} ms per EWS request, moto in-process; before = {args.before}; "
                  f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
            print(f"{'tree':<7} {'calls/job':>10} {'bookings/s':>11} {'failed':>6}   per job")
            for _ in range(args.rounds):
                for label in ("before", "after"):
                    sim.reset(seed, args.latency_ms)
                    result = run(trees[label], args, aws_endpoint, sim.ews_url, folder)
                    results[label].append(result)
                    print(describe(label, result), flush=True)
        finally:
            sim.close()

    def calls_per_job(result: dict[str, Any]) -> float:
        return float(sum(result["table"].values()) / result["jobs"])

    def rate(result: dict[str, Any]) -> float:
        return float(result["bookings"] / result["seconds"])

    before_calls = median(calls_per_job(r) for r in results["before"])
    after_calls = median(calls_per_job(r) for r in results["after"])
    before_rate = median(rate(r) for r in results["before"])
    after_rate = median(rate(r) for r in results["after"])
    print(f"table calls per job: {before_calls:.2f} -> {after_calls:.2f} "
          f"(x{after_calls / before_calls:.2f}); bookings/s: {before_rate:.1f} -> {after_rate:.1f} "
          f"(x{after_rate / before_rate:.2f}); load {os.getloadavg()[0]:.1f}")
    failed = sum(r["failed"] for rs in results.values() for r in rs)
    for label, runs in results.items():
        for result in runs:
            for failure in result["failures"]:
                print(f"{label}: {failure}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
