"""The same jobs on an EWS integration and on a Graph one: requests per job and jobs/s, as ratios.

One integration, twice: impersonation with the same OAuth 2.0 app (client credentials), once
`backend: ews` and once `backend: graph`, against one simulator (its own process, over TLS: msal
needs an https authority; the workers trust its CA through REQUESTS_CA_BUNDLE, as an operator's
would). The simulator's latency per request (over /_sim/faults, no operation named) delays every
EWS and every Graph operation alike. For each latency and repeat, EWS then Graph, each in a fresh
child process: a dramatiq StubBroker and Worker with --threads threads and Runtime.from_config,
warmed up first (a booking per thread: connections, the token, the settings); then for each
kind of job in turn, the worker paused while its timed jobs are enqueued and the request counts
cleared:

  bookings   PipelineClient.book (create_event with send_invitations): on EWS one CreateItem, on
             Graph one createEvent with the attendees (Graph sends the invitations);
  free/busy  fetch_free_busy of --free-busy-mailboxes mailboxes over one week: on EWS one
             GetUserAvailability, on Graph one getSchedule (up to 20 schedules per request).

Counted over the timed part: the simulator's EWS and Graph requests by operation (a Graph $batch
counts once as "batch" and once per request inside it), the CPU of the worker process and the
simulator. Every job must succeed and every booking be in its organiser's calendar once, with
its meeting requests sent; else the exit code is 1. Speeds are medians of the repeats; the
ratios are Graph ÷ EWS in the same run.

    python bench/graph_vs_ews.py [--bookings 300] [--free-busy 60] [--latency-ms 50]
        [--threads 16] [--mailboxes 50] [--repeats 3] [--json FILE]
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
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_support import SimulatorProcess, process_cpu_seconds, sim_control
from bookings_throughput import Progress, make_bookings, wait_for

from infra.demo import organisation as org
from infra.demo.local_stack import create_results_table, local_aws, put_secret
from pipeline.config import PipelineConfig
from pipeline.contract import JobStatus
from pipeline.store.factory import get_store

__all__ = ["BACKENDS", "main", "measure"]

BACKENDS = ("ews", "graph")
BENCH_QUEUE = "ews-graph-bench-jobs"
TABLE = "ews-pipeline-graph-bench"
SECRET_NAME = "bench/app"
KINDS = ("bookings", "free_busy")


@dataclass(frozen=True)
class RunSpec:
    backend: str
    # Per kind of job ("bookings", "free_busy"), in order: the actor's kwargs, one per timed job.
    jobs: dict[str, tuple[dict[str, Any], ...]]
    warmup: tuple[dict[str, Any], ...]  # bookings, before anything is counted
    threads: int
    aws_endpoint: str
    control_url: str
    ca_file: str
    simulator_pid: int
    stall_seconds: float = 60.0


@dataclass(frozen=True)
class RunResult:
    seconds: float
    message_ids: tuple[str, ...]
    finished: int
    cpu_seconds: dict[str, float]  # "worker", "simulator"
    ews: dict[str, int]  # the simulator's request counts over the timed part
    graph: dict[str, int]


@dataclass(frozen=True)
class Run:
    backend: str
    kind: str
    latency_ms: float
    jobs: int
    seconds: float
    ews: dict[str, int]
    graph: dict[str, int]
    cpu_seconds: dict[str, float]
    problems: tuple[str, ...]

    @property
    def rate(self) -> float:
        return self.jobs / self.seconds if self.seconds else 0.0

    @property
    def requests(self) -> dict[str, int]:
        """The requests of this run's own API (the other's must be none)."""
        return self.graph if self.backend == "graph" else self.ews


def integration_id(backend: str) -> str:
    return f"bench-{backend}"


# -- child process: one backend, one kind of job ---------------------------------------------------


def run_in_child(spec: RunSpec) -> dict[str, RunResult]:
    import dramatiq

    from infra.demo.job_gate import JobGate
    from pipeline.client import PipelineClient
    from pipeline.runtimes.actors import declare_actors
    from pipeline.runtimes.broker import build_broker
    from pipeline.runtimes.runtime import Runtime

    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the child's whole life
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    # The simulator's private CA, trusted as an operator trusts one (EWS and Graph alike).
    os.environ["REQUESTS_CA_BUNDLE"] = spec.ca_file
    config = PipelineConfig(table_name=TABLE, aws_endpoint_url=spec.aws_endpoint, broker_url="stub://",
                            worker_concurrency=spec.threads)
    broker = build_broker("stub://")
    runtime = Runtime.from_config(config)
    declare_actors(broker, lambda: runtime, queue_name=BENCH_QUEUE)
    progress = Progress()
    broker.add_middleware(progress)
    client = PipelineClient(broker, queue_name=BENCH_QUEUE)
    # Holds the jobs while a timed batch is enqueued (Worker.pause waits seconds for its
    # consumers to notice).
    gate = JobGate()
    broker.add_middleware(gate)
    worker = dramatiq.Worker(broker, worker_threads=spec.threads)
    worker.start()
    warm = [client.send(client.book(kwargs)).message_id for kwargs in spec.warmup]
    wait_for(progress.changed, lambda: len(progress.finished_ids), len(warm), lambda: progress.last,
             spec.stall_seconds)
    results = {}
    done = len(warm)
    for kind, jobs in spec.jobs.items():
        with gate.shut():
            if kind == "bookings":
                ids = [client.send(client.book(kwargs)).message_id for kwargs in jobs]
            else:
                actor = broker.get_actor("fetch_free_busy")
                ids = [actor.send(**kwargs).message_id for kwargs in jobs]
            sim_control(spec.control_url, spec.ca_file, "DELETE", "requests")
            sim_control(spec.control_url, spec.ca_file, "DELETE", "graph/requests")
            pids = {"worker": os.getpid(), "simulator": spec.simulator_pid}
            cpu = {name: process_cpu_seconds(pid) for name, pid in pids.items()}
            started = time.monotonic()
        wait_for(progress.changed, lambda: len(progress.finished_ids), done + len(ids), lambda: progress.last,
                 spec.stall_seconds)
        seconds = progress.last - started
        cpu = {name: process_cpu_seconds(pid) - cpu[name] for name, pid in pids.items()}
        finished = len(progress.finished_ids) - done
        done += len(ids)
        results[kind] = RunResult(
            seconds, tuple(ids), finished, cpu,
            sim_control(spec.control_url, spec.ca_file, "GET", "requests/counts"),
            sim_control(spec.control_url, spec.ca_file, "GET", "graph/requests/counts"),
        )
    worker.stop(timeout=30_000)
    broker.close()
    close = getattr(runtime.gateways, "close_all", None)
    if close is not None:
        close()
    return results


# -- parent process ------------------------------------------------------------------------------


def install(aws_endpoint: str, sim: SimulatorProcess) -> None:
    """The same app and integration settings on both backends, but for `backend`."""
    create_results_table(aws_endpoint, TABLE)
    put_secret(aws_endpoint, SECRET_NAME, dict(org.APP))
    store = get_store(PipelineConfig(table_name=TABLE, aws_endpoint_url=aws_endpoint))
    for backend in BACKENDS:
        settings: dict[str, Any] = {
            "integration_id": integration_id(backend), "connection_method": "impersonation",
            "auth_type": "oauth2", "secret_name": SECRET_NAME,
            "service_mailbox": org.address("scheduler-imp"),
            "oauth_authority": sim.base_url, "oauth_tenant_id": org.APP["tenant_id"],
            "internal_domains": [org.DOMAIN],
        }
        settings |= ({"backend": "graph", "graph_url": sim.graph_url} if backend == "graph"
                     else {"ews_url": sim.ews_url})
        store.put_integration(integration_id(backend), settings, datetime.now(UTC))


def bookings_for(backend: str, tag: str, count: int, mailboxes: int) -> tuple[dict[str, Any], ...]:
    return tuple({**booking, "integration_id": integration_id(backend)}
                 for booking in make_bookings(tag, count, mailboxes))


def free_busy_jobs(backend: str, count: int, mailboxes: int) -> tuple[dict[str, Any], ...]:
    """fetch_free_busy for a week, each job over `mailboxes` staff members (a window sliding by one)."""
    staff = org.staff()
    start = datetime(2030, 1, 7, tzinfo=UTC)
    return tuple({
        "integration_id": integration_id(backend),
        "mailboxes": [staff[(number + offset) % len(staff)] for offset in range(mailboxes)],
        "start": start.isoformat(), "end": (start + timedelta(days=7)).isoformat(),
    } for number in range(count))


def verify(sim: SimulatorProcess, aws_endpoint: str, kind: str, jobs: tuple[dict[str, Any], ...],
           result: RunResult) -> list[str]:
    """Every job succeeded; each booking is in its organiser's calendar exactly once, invited."""
    problems = []
    if result.finished < len(result.message_ids):
        problems.append(f"only {result.finished} of {len(result.message_ids)} jobs finished")
    store = get_store(PipelineConfig(table_name=TABLE, aws_endpoint_url=aws_endpoint))
    statuses = Counter((record.status if record else None)
                       for record in map(store.get_job, result.message_ids))
    problems += [f"{count} job(s) {status or 'without a record'}"
                 for status, count in statuses.items() if status is not JobStatus.SUCCEEDED]
    if kind != "bookings":
        return problems
    wanted = {booking["booking_key"]: booking["mailbox"] for booking in jobs}
    found: Counter[str] = Counter()
    uninvited = 0
    for organiser in sorted(set(wanted.values())):
        for item in sim.folder_items(organiser, "calendar"):
            keys = [value for value in item.get("extended_properties", {}).values() if value in wanted]
            found.update(keys)
            uninvited += bool(keys) and not item.get("meeting_request_was_sent")
    missing = sum(1 for key in wanted if found[key] == 0)
    doubled = sum(1 for key in wanted if found[key] > 1)
    problems += [f"{n} booking(s) {what}" for n, what in ((missing, "missing from calendars"),
                                                          (doubled, "in a calendar more than once"),
                                                          (uninvited, "without meeting requests sent")) if n]
    return problems


def one_run(sim: SimulatorProcess, aws_endpoint: str, seed: dict[str, Any], spec: RunSpec,
            latency_ms: float) -> list[Run]:
    sim.reset(seed, latency_ms)
    # spawn, not fork: this process runs moto's server threads.
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = pool.submit(run_in_child, spec).result()
    runs = []
    for kind, result in results.items():
        problems = verify(sim, aws_endpoint, kind, spec.jobs[kind], result)
        # Neither backend may touch the other's API.
        other = result.ews if spec.backend == "graph" else result.graph
        if sum(other.values()):
            problems.append(f"requests on the other API: {other}")
        runs.append(Run(spec.backend, kind, latency_ms, len(result.message_ids), result.seconds, result.ews,
                        result.graph, result.cpu_seconds, tuple(problems)))
    return runs


def measure(args: argparse.Namespace) -> list[Run]:
    """Every run, EWS then Graph, for each latency and repeat."""
    seed = org.organisation()
    runs: list[Run] = []
    with tempfile.TemporaryDirectory() as folder, local_aws() as aws_endpoint:
        seed_file = Path(folder) / "seed.json"
        seed_file.write_text(json.dumps(seed))
        sim = SimulatorProcess(seed_file, tls=True)
        try:
            assert sim.ca_file is not None
            install(aws_endpoint, sim)
            for latency in args.latencies:
                for repeat in range(args.repeats):
                    for backend in BACKENDS:
                        tag = f"{backend}-{latency:.0f}-{repeat}-{uuid.uuid4().hex[:4]}"
                        jobs = {"bookings": bookings_for(backend, tag, args.bookings, args.mailboxes),
                                "free_busy": free_busy_jobs(backend, args.free_busy,
                                                             args.free_busy_mailboxes)}
                        spec = RunSpec(backend, {kind: batch for kind, batch in jobs.items() if batch},
                                       bookings_for(backend, f"{tag}-warm", args.threads, args.mailboxes),
                                       args.threads, aws_endpoint, sim.control_url, sim.ca_file, sim.pid)
                        for run in one_run(sim, aws_endpoint, seed, spec, latency):
                            print_run(run)
                            runs.append(run)
        finally:
            sim.close()
    return runs


def print_run(run: Run) -> None:
    jobs = max(run.jobs, 1)
    ops = ", ".join(f"{op} {n / jobs:.2f}" for op, n in sorted(run.requests.items()) if n)
    cpu = "/".join(f"{run.cpu_seconds.get(name, 0) * 1000 / jobs:.1f}" for name in ("worker", "simulator"))
    print(f"{run.backend:<6} {run.kind:<10} {run.latency_ms:>4.0f} ms {run.jobs:>5} {run.seconds:>7.2f} s "
          f"{run.rate:>7.1f}/s  {sum(run.requests.values()) / jobs:>5.2f} req/job ({ops})  "
          f"CPU ms/job w/s {cpu}",
          flush=True)
    for problem in run.problems:
        print(f"        ! {problem}", flush=True)


def summary(runs: list[Run]) -> list[dict[str, Any]]:
    """Per kind and latency: medians and requests per job on each backend, and Graph ÷ EWS."""
    rows = []
    for kind in KINDS:
        for latency in sorted({run.latency_ms for run in runs}):
            side = {backend: [r for r in runs if r.kind == kind and r.latency_ms == latency
                              and r.backend == backend] for backend in BACKENDS}
            if not all(side.values()):
                continue
            rate = {b: statistics.median(r.rate for r in side[b]) for b in BACKENDS}
            jobs = {b: max(sum(r.jobs for r in side[b]), 1) for b in BACKENDS}
            totals = {b: sum((Counter(r.requests) for r in side[b]), Counter()) for b in BACKENDS}
            per_job = {b: sum(totals[b].values()) / jobs[b] for b in BACKENDS}
            ops = {b: {op: n / jobs[b] for op, n in sorted(totals[b].items())} for b in BACKENDS}
            cpu = {b: statistics.median(1000 * r.cpu_seconds.get("worker", 0) / max(r.jobs, 1)
                                        for r in side[b]) for b in BACKENDS}
            rows.append({
                "kind": kind, "latency_ms": latency, "jobs_per_s": rate, "requests_per_job": per_job,
                "operations_per_job": ops, "worker_cpu_ms_per_job": cpu,
                "ratio": {"jobs_per_s": rate["graph"] / rate["ews"] if rate["ews"] else None,
                          "requests_per_job": (per_job["graph"] / per_job["ews"] if per_job["ews"] else None),
                          "worker_cpu_ms_per_job": cpu["graph"] / cpu["ews"] if cpu["ews"] else None},
            })
    return rows


def print_summary(rows: list[dict[str, Any]]) -> None:
    print()
    print(f"{'jobs':<10} {'latency':>7}  {'EWS /s':>7} {'Graph /s':>8} {'ratio':>6}  "
          f"{'EWS req/job':>11} {'Graph req/job':>13} {'ratio':>6}  {'CPU ms/job EWS, Graph':>22}")
    for row in rows:
        rate, per_job, cpu, ratio = (row["jobs_per_s"], row["requests_per_job"], row["worker_cpu_ms_per_job"],
                                     row["ratio"])
        print(f"{row['kind']:<10} {row['latency_ms']:>4.0f} ms  {rate['ews']:>7.1f} {rate['graph']:>8.1f} "
              f"{_ratio(ratio['jobs_per_s'])}  {per_job['ews']:>11.2f} {per_job['graph']:>13.2f} "
              f"{_ratio(ratio['requests_per_job'])}  {cpu['ews']:>10.1f}, {cpu['graph']:.1f}")
        for backend in BACKENDS:
            ops = ", ".join(f"{op} {n:.2f}" for op, n in row["operations_per_job"][backend].items() if n)
            print(f"    {backend} requests per job: {ops}")


def _ratio(value: float | None) -> str:
    return f"{value:>6.2f}" if value is not None else f"{'-':>6}"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bookings", type=int, default=300, help="timed bookings per run")
    parser.add_argument("--free-busy", type=int, default=60, help="timed free/busy jobs per run (0: none)")
    parser.add_argument("--free-busy-mailboxes", type=int, default=20,
                        help="mailboxes per free/busy job (Graph: 20 per getSchedule)")
    parser.add_argument("--latency-ms", default="50", help="simulator latency per request, a list")
    parser.add_argument("--threads", type=int, default=16, help="worker threads")
    parser.add_argument("--mailboxes", type=int, default=50, help="organiser mailboxes")
    parser.add_argument("--repeats", type=int, default=3, help="runs per backend, kind and latency")
    parser.add_argument("--json", type=Path, help="write the runs and the summary here")
    args = parser.parse_args(argv)
    args.latencies = [float(value) for value in args.latency_ms.split(",") if value.strip()]
    if not 1 <= args.mailboxes < org.STAFF_COUNT:
        parser.error(f"--mailboxes must be between 1 and {org.STAFF_COUNT - 1}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto logs every call otherwise
    print(f"{args.bookings} bookings (1 job each), {args.free_busy} free/busy jobs of "
          f"{args.free_busy_mailboxes} mailboxes; impersonation, OAuth 2.0 app-only, EWS then Graph; "
          f"{args.threads} worker threads; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    runs = measure(args)
    rows = summary(runs)
    print_summary(rows)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    if args.json:
        args.json.write_text(json.dumps({"runs": [asdict(run) for run in runs], "summary": rows}, indent=1))
    return 1 if any(run.problems for run in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
