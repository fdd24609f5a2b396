"""Issue 11's cold start (target 5) and the pipeline's own CPU per job (target 6), each beside a baseline.

- Imports: `import handlers.jobs` (and callbacks, renewals, events) and `import exchangelib`, each
  in `runs` fresh interpreters, taken in turn so that they share the machine's load; the median
  time of the import statement itself (interpreter start-up left out), and each handler's ratio
  to exchangelib's in the same run. Outside Lambda, so with tracing off.
- Peak RSS after one job: a fresh process runs one booking (its first job, as PipelineClient.book
  sends it) through handlers.jobs.lambda_handler, one SQS record as Lambda delivers it, against
  the EWS simulator and moto (DynamoDB, SQS, Secrets Manager), then reads its peak RSS. The
  baseline: a fresh process books once as bench/baseline.py does (exchangelib only). Median of 3.
  The peak is VmHWM from /proc/self/status, not ru_maxrss: Linux carries ru_maxrss over an exec
  from the forked parent, so a child of this (large) process would report the parent's size.
- Package sizes, from a `sam build` folder (`--build-dir`; default .aws-sam/build if it exists):
  each artifact zipped as `sam deploy` zips it (infra/deploy/lambda_package.py), and, with
  `--baseline-size`, exchangelib alone installed the same way (pip from PyPI).
- The pipeline's own CPU per job, excluding EWS and the store: a fresh process plays Lambda's SQS
  event source (batches of up to 10) for `cpu_jobs` bookings' jobs after 10 warm-up ones. The
  process's CPU time inside the handler's invocations (the poller's receives and deletes left
  out), minus the CPU spent inside every boto3 call made during them (the table, the secret, the
  jobs queue) and inside the EWS connector (EwsConnector.run/open/endpoint: exchangelib, and the
  pipeline's EWS operation modules it calls), divided by the jobs run. Each excluded span is
  timed with the thread's own CPU clock (time.thread_time), outermost span only, so nothing is
  subtracted twice.

    python bench/cold_start.py [--runs 10] [--cpu-jobs 60] [--build-dir DIR] [--baseline-size] [--json F]

`measure(...)` returns the same as a dict (bench/compare.py calls it; its "rows" are the table's).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from infra.deploy.lambda_package import ArtifactSize, artifact_size, build_sizes  # noqa: E402

__all__ = ["measure"]

HANDLERS = ("handlers.jobs", "handlers.callbacks", "handlers.renewals", "handlers.events")
BASELINE_MODULE = "exchangelib"
MIB = 2**20
# Issue 11's targets, and the baseline they were set against (import exchangelib: 0.63 s).
ISSUE_EXCHANGELIB_IMPORT_S = 0.63
IMPORT_TARGETS_S = {"handlers.jobs": 0.6, "handlers.callbacks": 0.4}
RSS_TARGET_MIB = 90.0
PACKAGE_TARGET_MIB = 15.0
CPU_TARGET_MS = 3.0
WARMUP_JOBS = 10
# The variables that make a process look like Lambda (tracing on, JSON logs, metrics).
LAMBDA_VARIABLES = ("AWS_LAMBDA_FUNCTION_NAME", "LAMBDA_TASK_ROOT", "AWS_SAM_LOCAL",
                    "POWERTOOLS_TRACE_DISABLED", "AWS_EXECUTION_ENV")
DASH = "\u2013"
TIMES = "\u00d7"

# -- children: each runs in a fresh interpreter ---------------------------------------------------

# The peak resident set of this process image (kB): reset by exec, unlike ru_maxrss.
PEAK_RSS = "int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1])"

IMPORT_CHILD = """\
import sys, time
started = time.perf_counter()
__import__(sys.argv[1])
print(time.perf_counter() - started, len(sys.modules))
"""

# One job through the Lambda handler: the event (one SQS record) comes from the parent.
JOB_CHILD = f"""\
import json, sys, time
event = json.load(open(sys.argv[1]))
started = time.perf_counter()
import handlers.jobs as jobs
imported = time.perf_counter()

class Context:
    function_name = "ews-pipeline-jobs"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:ews-pipeline-jobs"
    aws_request_id = "cold-start"
    def get_remaining_time_in_millis(self):
        return 300_000

response = jobs.lambda_handler(event, Context())
done = time.perf_counter()
print(json.dumps({{"failures": len(response.get("batchItemFailures", [])), "modules": len(sys.modules),
                  "peak_rss_kib": {PEAK_RSS}, "import_s": imported - started,
                  "first_job_s": done - imported}}))
"""

BASELINE_CHILD = f"""\
import json, sys, time
sys.path.insert(0, sys.argv[1])
spec = json.loads(sys.argv[2])
started = time.perf_counter()
import baseline
imported = time.perf_counter()
config = baseline.configuration(spec["ews_url"], spec["username"], spec["password"])
baseline.book(config, spec["booking"])
done = time.perf_counter()
print(json.dumps({{"modules": len(sys.modules), "peak_rss_kib": {PEAK_RSS}, "import_s": imported - started,
                  "first_job_s": done - imported}}))
"""


def _child_environment(**extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in LAMBDA_VARIABLES}
    env.pop("EWS_SCHEMA_DIR", None)
    env.update(extra)
    return env


def _last_json(stdout: str) -> Any:
    return json.loads(stdout.strip().splitlines()[-1])


# -- imports ----------------------------------------------------------------------------------------


def import_times(runs: int) -> dict[str, dict[str, Any]]:
    """Seconds and modules of each import in `runs` fresh interpreters, the targets taken in turn."""
    targets = (BASELINE_MODULE, *HANDLERS)
    seconds: dict[str, list[float]] = {name: [] for name in targets}
    modules: dict[str, int] = {}
    env = _child_environment()
    for _ in range(runs):
        for name in targets:
            done = subprocess.run([sys.executable, "-c", IMPORT_CHILD, name], cwd=ROOT, env=env,
                                  capture_output=True, text=True, check=True, timeout=120)
            taken, count = done.stdout.split()
            seconds[name].append(float(taken))
            modules[name] = int(count)
    base = statistics.median(seconds[BASELINE_MODULE])
    return {name: {"median_s": statistics.median(values), "runs_s": values, "modules": modules[name],
                   "ratio": statistics.median(values) / base}
            for name, values in seconds.items()}


# -- the local stack: simulator, moto, the integration --------------------------------------------


@contextmanager
def local_stack(sim: Any = None) -> Iterator[dict[str, Any]]:
    """The simulator (the one given, else a fresh one), a moto server process, the integration."""
    from bench_support import MotoServerProcess, SimulatorProcess
    from bookings_throughput import INTEGRATION_ID, SECRET_NAME, TABLE

    from infra.demo import organisation as org
    from infra.demo.local_stack import REGION, create_results_table, put_secret
    from pipeline.config import PipelineConfig
    from pipeline.store.factory import get_store

    with ExitStack() as stack:
        if sim is None:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            seed_file = folder / "seed.json"
            seed_file.write_text(json.dumps(org.organisation()))
            sim = SimulatorProcess(seed_file)
            stack.callback(sim.close)
        moto = MotoServerProcess("infra.moto_server_serialized")
        stack.callback(moto.close)
        credentials = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}
        for name, value in credentials.items():
            os.environ.setdefault(name, value)
        create_results_table(moto.endpoint, TABLE)
        secret = {"username": org.address("scheduler-imp"), "password": org.PASSWORD, "domain": "CONTOSO"}
        put_secret(moto.endpoint, SECRET_NAME, secret)
        config = PipelineConfig(table_name=TABLE, aws_endpoint_url=moto.endpoint, aws_region=REGION)
        store = get_store(config)
        store.put_integration(INTEGRATION_ID, {
            "integration_id": INTEGRATION_ID, "connection_method": "impersonation", "auth_type": "basic",
            "ews_url": sim.ews_url, "secret_name": SECRET_NAME, "service_mailbox": secret["username"],
            "internal_domains": [org.DOMAIN],
        }, datetime.now(UTC))
        queue = f"bench-cold-{uuid.uuid4().hex[:8]}"
        broker_url = f"sqs://{queue}?endpoint={moto.endpoint}&region={REGION}&create=1&wait=0"
        yield {"sim": sim, "store": store, "broker_url": broker_url, "secret": secret,
               "env": {**credentials, "PIPELINE_TABLE": TABLE, "PIPELINE_BROKER": broker_url,
                       "AWS_ENDPOINT_URL": moto.endpoint, "POWERTOOLS_LOG_LEVEL": "WARNING"}}


def _bookings(tag: str, count: int) -> tuple[dict[str, Any], ...]:
    from bookings_throughput import make_bookings

    return make_bookings(f"{tag}-{uuid.uuid4().hex[:6]}", count, count)  # a mailbox (message group) each


def _send(stack: Mapping[str, Any], bookings: tuple[dict[str, Any], ...]) -> list[str]:
    """Each booking as an app sends it (PipelineClient.book); the ids of the messages sent first."""
    import dramatiq

    from pipeline.client import PipelineClient
    from pipeline.runtimes.sqs import SqsFifoBroker

    client = PipelineClient(SqsFifoBroker.from_url(stack["broker_url"]))
    first: list[str] = []
    for kwargs in bookings:
        booked = client.book(kwargs)
        if isinstance(booked, dramatiq.pipeline):
            booked.run()
            first.append(booked.messages[0].message_id)
        else:  # one job per booking
            first.append(client.send(booked).message_id)
    return first


def sqs_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One record of an SQS event, as Lambda's event source mapping delivers it."""
    import hashlib

    return {
        "messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"], "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})), "messageAttributes": {},
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),
        "eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": region,
    }


def _queue_arn(client: Any, url: str) -> str:
    attributes = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    arn: str = attributes["QueueArn"]
    return arn


def _receive_one(stack: Mapping[str, Any], message_id: str) -> dict[str, Any]:
    """An SQS event of the message `message_id` from the jobs queue. What comes before it (a
    previous booking's next step) and the message itself are deleted, so that the next booking's
    message, in the same message group, is free to go."""
    from pipeline.runtimes.sqs import SqsFifoBroker

    queue = SqsFifoBroker.from_url(stack["broker_url"]).queue
    client = queue.client
    arn = _queue_arn(client, queue.url)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        received = client.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=1, WaitTimeSeconds=0,
                                          MessageSystemAttributeNames=["All"],
                                          ReceiveRequestAttemptId=uuid.uuid4().hex).get("Messages", [])
        for message in received:
            client.delete_message(QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"])
            if json.loads(message["Body"]).get("message_id") == message_id:
                return {"Records": [sqs_record(message, arn, os.environ["AWS_REGION"])]}
        if not received:
            time.sleep(0.1)
    raise RuntimeError("the booking's message never reached the queue")


# -- peak RSS after one job -------------------------------------------------------------------------


def one_job_processes(stack: Mapping[str, Any], repeats: int) -> dict[str, Any]:
    """Peak RSS, and seconds to import and to finish the first job, of fresh one-job processes:
    the pipeline's (handlers.jobs) and the baseline's, taken in turn."""
    from pipeline.contract import JobStatus

    runs: dict[str, list[dict[str, Any]]] = {"pipeline": [], "baseline": []}
    login = stack["secret"]
    for _ in range(repeats):
        [message_id] = _send(stack, _bookings("rss", 1))
        with tempfile.NamedTemporaryFile("w", suffix=".json") as event_file:
            json.dump(_receive_one(stack, message_id), event_file)
            event_file.flush()
            done = subprocess.run([sys.executable, "-c", JOB_CHILD, event_file.name], cwd=ROOT,
                                  env=_child_environment(**stack["env"]), capture_output=True, text=True,
                                  timeout=300)
        if done.returncode:
            raise RuntimeError(f"the one-job process failed: {done.stderr.strip()[-500:]}")
        answer = _last_json(done.stdout)
        record = stack["store"].get_job(message_id)
        if answer["failures"] or record is None or record.status is not JobStatus.SUCCEEDED:
            raise RuntimeError(f"the one job did not succeed: {record}")
        runs["pipeline"].append(answer)
        [booking] = _bookings("rss-baseline", 1)
        spec = {"ews_url": stack["sim"].ews_url, "username": login["username"], "password": login["password"],
                "booking": {**booking, "subject": booking["booking_key"]}}
        done = subprocess.run([sys.executable, "-c", BASELINE_CHILD, str(ROOT / "bench"), json.dumps(spec)],
                              cwd=ROOT, env=_child_environment(), capture_output=True, text=True, timeout=300)
        if done.returncode:
            raise RuntimeError(f"the baseline process failed: {done.stderr.strip()[-500:]}")
        runs["baseline"].append(_last_json(done.stdout))

    def median(side: str, key: str) -> float:
        return float(statistics.median(run[key] for run in runs[side]))

    result: dict[str, Any] = {"runs": runs}
    for side in runs:
        result[side] = {"peak_rss_mib": median(side, "peak_rss_kib") / 1024,
                        "import_s": median(side, "import_s"),
                        "first_job_s": median(side, "first_job_s"),
                        "to_first_job_s": float(statistics.median(run["import_s"] + run["first_job_s"]
                                                                  for run in runs[side])),
                        "modules": runs[side][-1]["modules"]}
    return result


# -- CPU per job ------------------------------------------------------------------------------------


def cpu_per_job(stack: Mapping[str, Any], jobs: int) -> dict[str, Any]:
    """The pipeline's own CPU per job (see the module docstring), from a fresh process."""
    bookings = _bookings("cpu", WARMUP_JOBS + jobs)
    _send(stack, bookings)
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--cpu-child", str(jobs)],
                          cwd=ROOT, env=_child_environment(**stack["env"]), capture_output=True, text=True,
                          timeout=900)
    if done.returncode:
        raise RuntimeError(f"the CPU process failed: {done.stderr.strip()[-800:]}")
    result: dict[str, Any] = _last_json(done.stdout)
    return result


class ExcludedCpu:
    """CPU seconds spent inside wrapped calls, by kind; only a thread's outermost wrapped call counts."""

    def __init__(self) -> None:
        import threading

        self.seconds: Counter[str] = Counter()
        self._local = threading.local()
        self._lock = threading.Lock()

    def wrap(self, owner: Any, name: str, kind: Any) -> None:
        original = getattr(owner, name)
        tracker = self

        def timed(*args: Any, **kwargs: Any) -> Any:
            if getattr(tracker._local, "inside", False):
                return original(*args, **kwargs)
            tracker._local.inside = True
            started = time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                spent = time.thread_time() - started
                tracker._local.inside = False
                label = kind(args) if callable(kind) else kind
                with tracker._lock:
                    tracker.seconds[label] += spent

        setattr(owner, name, timed)

    def reset(self) -> None:
        with self._lock:
            self.seconds.clear()


def _cpu_child(jobs: int) -> dict[str, Any]:
    """Play Lambda's SQS event source for WARMUP_JOBS + jobs jobs; the CPU figures of the measured ones."""
    import logging

    logging.disable(logging.WARNING)
    from botocore.client import BaseClient

    excluded = ExcludedCpu()
    excluded.wrap(BaseClient, "_make_api_call",
                  lambda args: f"aws {args[0].meta.service_model.service_name}")
    from pipeline.exchange.ews.connection import EwsConnector

    for name in ("run", "open", "endpoint"):
        excluded.wrap(EwsConnector, name, "ews")

    import handlers.jobs as jobs_handler
    from pipeline.runtimes.sqs import SqsFifoBroker

    jobs_handler._processor()  # the container's init phase, before the clock starts
    queue = SqsFifoBroker.from_url(os.environ["PIPELINE_BROKER"]).queue
    client = queue.client
    arn = _queue_arn(client, queue.url)
    region = os.environ["AWS_REGION"]

    class Context:
        function_name = "ews-pipeline-jobs"
        memory_limit_in_mb = 512
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:ews-pipeline-jobs"
        aws_request_id = "cpu"

        def get_remaining_time_in_millis(self) -> int:
            return 300_000

    actors: Counter[str] = Counter()
    ran = failed = 0
    total = 0.0  # CPU seconds inside the handler's invocations (the poller's own work left out)
    spent: Counter[str] = Counter()  # of which inside boto3 calls and the EWS connector
    deadline = time.monotonic() + 600
    while ran < WARMUP_JOBS + jobs and time.monotonic() < deadline:
        received = client.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                          MessageSystemAttributeNames=["All"],
                                          ReceiveRequestAttemptId=uuid.uuid4().hex).get("Messages", [])
        if not received:
            time.sleep(0.05)
            continue
        event = {"Records": [sqs_record(message, arn, region) for message in received]}
        measured = ran >= WARMUP_JOBS
        excluded.reset()
        started = time.process_time()
        response = jobs_handler.lambda_handler(event, Context())
        if measured:
            total += time.process_time() - started
            spent.update(excluded.seconds)
        retried = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
        done = [message for message in received if message["MessageId"] not in retried]
        if done:
            client.delete_message_batch(QueueUrl=queue.url, Entries=[
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(done)])
        if measured:
            actors.update(json.loads(message["Body"]).get("actor_name", "?") for message in done)
            failed += len(retried)
        ran += len(done)
    count = ran - WARMUP_JOBS
    if count <= 0:
        raise RuntimeError(f"only {ran} jobs ran")
    own = total - sum(spent.values())
    return {"jobs": count, "by_actor": dict(actors), "retried": failed,
            "total_ms": 1000 * total / count, "own_ms": 1000 * own / count,
            "excluded_ms": {kind: 1000 * seconds / count for kind, seconds in sorted(spent.items())}}


# -- sizes ------------------------------------------------------------------------------------------


def _default_build_dir() -> Path | None:
    folder = ROOT / ".aws-sam" / "build"
    return folder if folder.is_dir() else None


def baseline_package_size() -> ArtifactSize:
    """exchangelib alone (the version installed here), installed as the Makefile installs the layer."""
    from importlib.metadata import version

    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "exchangelib"
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "--no-compile", "--target", str(target), "--platform", "manylinux2014_x86_64",
                        "--python-version", "3.12", "--implementation", "cp", "--only-binary=:all:",
                        f"exchangelib=={version('exchangelib')}"],
                       check=True, capture_output=True, timeout=600)
        return artifact_size(target)


def package_sizes(build_dir: Path, *, baseline: bool) -> dict[str, Any]:
    sizes = {size.name: asdict(size) for size in build_sizes(build_dir)}
    built = datetime.fromtimestamp((build_dir / "template.yaml").stat().st_mtime, UTC) \
        if (build_dir / "template.yaml").exists() else None
    result: dict[str, Any] = {"build_dir": str(build_dir), "built": built.isoformat() if built else None,
                              "artifacts": sizes}
    if baseline:
        result["exchangelib_alone"] = asdict(baseline_package_size())
    return result


# -- the figures ------------------------------------------------------------------------------------


def _rows(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    imports = result.get("imports")
    if imports:
        base = imports[BASELINE_MODULE]["median_s"]
        runs = len(imports[BASELINE_MODULE]["runs_s"])
        for handler in HANDLERS:
            figure = imports[handler]
            target_s = IMPORT_TARGETS_S.get(handler)
            row = {"name": f"`import {handler}`, median of {runs} fresh processes",
                   "baseline": f"`import exchangelib`: {base:.2f} s",
                   "pipeline": f"{figure['median_s']:.2f} s",
                   "ratio": f"{figure['ratio']:.2f}", "seconds": figure["median_s"], "baseline_seconds": base,
                   "modules": figure["modules"]}
            if target_s is not None:
                # The issue set its targets against exchangelib's 0.63 s: compared as that ratio.
                share = target_s / ISSUE_EXCHANGELIB_IMPORT_S
                row |= {"target": f"< {target_s} s (< {share:.2f}{TIMES} exchangelib in the same run)",
                        "met": figure["ratio"] < share}
            else:
                row |= {"target": DASH, "met": None}
            rows.append(row)
    one_job = result.get("one_job")
    if one_job:
        mine, base = one_job["pipeline"], one_job["baseline"]
        repeats = len(one_job["runs"]["pipeline"])
        rows.append({"name": f"Peak RSS after one job, median of {repeats} fresh processes",
                     "baseline": f"{base['peak_rss_mib']:.0f} MiB",
                     "pipeline": f"{mine['peak_rss_mib']:.0f} MiB",
                     "ratio": f"{mine['peak_rss_mib'] / base['peak_rss_mib']:.2f}",
                     "target": f"< {RSS_TARGET_MIB:.0f} MiB", "met": mine["peak_rss_mib"] < RSS_TARGET_MIB,
                     "mib": mine["peak_rss_mib"], "baseline_mib": base["peak_rss_mib"]})
        # What the import figures leave to the first invocation: the cold start as a whole.
        rows.append({"name": "Fresh process to its first job done (import, then one booking)",
                     "baseline": f"{base['to_first_job_s']:.2f} s",
                     "pipeline": f"{mine['to_first_job_s']:.2f} s",
                     "ratio": f"{mine['to_first_job_s'] / base['to_first_job_s']:.2f}", "target": DASH,
                     "met": None, "note": f"of which the first job {mine['first_job_s']:.2f} s (baseline "
                                          f"{base['first_job_s']:.2f} s)",
                     "seconds": mine["to_first_job_s"], "baseline_seconds": base["to_first_job_s"]})
    sizes = result.get("sizes")
    if sizes:
        artifacts = sizes["artifacts"]
        functions = {name: size for name, size in artifacts.items() if name.endswith("Function")}
        layers = {name: size for name, size in artifacts.items() if not name.endswith("Function")}
        alone = sizes.get("exchangelib_alone")
        base_text = f"exchangelib alone: {alone['zipped_bytes'] / MIB:.1f} MiB" if alone else DASH
        base_bytes = alone["zipped_bytes"] if alone else None
        largest = max(size["zipped_bytes"] for size in functions.values()) if functions else 0
        layer_bytes = sum(size["zipped_bytes"] for size in layers.values())
        note = f"sam build of {sizes['built'][:16]}" if sizes.get("built") else ""
        rows.append({"name": f"Deployment package per function, zipped ({len(functions)} functions)",
                     "baseline": base_text, "pipeline": f"{largest / MIB:.2f} MiB",
                     "ratio": f"{largest / base_bytes:.2f}" if base_bytes else DASH,
                     "target": f"< {PACKAGE_TARGET_MIB:.0f} MiB", "met": largest < PACKAGE_TARGET_MIB * MIB,
                     "note": note, "mib": largest / MIB})
        for name, size in layers.items():
            rows.append({"name": f"{name}, zipped (shared by every function)", "baseline": base_text,
                         "pipeline": f"{size['zipped_bytes'] / MIB:.1f} MiB "
                                     f"({size['zipped_bytes_without_bytecode'] / MIB:.1f} without bytecode)",
                         "ratio": f"{size['zipped_bytes'] / base_bytes:.2f}" if base_bytes else DASH,
                         "target": DASH, "met": None, "note": note, "mib": size["zipped_bytes"] / MIB})
        rows.append({"name": "A function and the layer together, zipped", "baseline": base_text,
                     "pipeline": f"{(largest + layer_bytes) / MIB:.1f} MiB",
                     "ratio": f"{(largest + layer_bytes) / base_bytes:.2f}" if base_bytes else DASH,
                     "target": DASH, "met": None, "mib": (largest + layer_bytes) / MIB})
    cpu = result.get("cpu_per_job")
    if cpu:
        excluded = ", ".join(f"{kind} {ms:.1f}" for kind, ms in cpu["excluded_ms"].items())
        rows.append({"name": f"The pipeline's own CPU per job, excluding EWS and AWS ({cpu['jobs']} jobs)",
                     "baseline": DASH, "pipeline": f"{cpu['own_ms']:.1f} ms", "ratio": DASH,
                     "target": f"< {CPU_TARGET_MS:.0f} ms", "met": cpu["own_ms"] < CPU_TARGET_MS,
                     "note": f"{cpu['total_ms']:.1f} ms in all per job; excluded ms: {excluded}",
                     "ms": cpu["own_ms"], "total_ms": cpu["total_ms"]})
    return rows


def measure(*, sim: Any = None, quick: bool = False, repeats: int | None = None, runs: int | None = None,
            cpu_jobs: int | None = None, build_dir: Path | None = None, baseline_size: bool = False,
            figures: tuple[str, ...] = ("imports", "rss", "sizes", "cpu")) -> dict[str, Any]:
    """Every cold-start figure as a dict: imports, rss, sizes, cpu_per_job, the load, and "rows"
    (name, baseline, pipeline, ratio, target, met, note and the numbers, one per table row)."""
    runs = runs or (3 if quick else 10)
    repeats = repeats or (1 if quick else 3)
    cpu_jobs = cpu_jobs or (20 if quick else 60)
    result: dict[str, Any] = {"date": f"{datetime.now(UTC):%Y-%m-%d}", "cpus": os.cpu_count(),
                              "load_at_start": os.getloadavg()}
    if "imports" in figures:
        result["imports"] = import_times(runs)
    if "rss" in figures or "cpu" in figures:
        with local_stack(sim) as stack:
            if "rss" in figures:
                result["one_job"] = one_job_processes(stack, repeats)
            if "cpu" in figures:
                result["cpu_per_job"] = cpu_per_job(stack, cpu_jobs)
    build_dir = build_dir or _default_build_dir()
    if "sizes" in figures and build_dir is not None:
        result["sizes"] = package_sizes(build_dir, baseline=baseline_size)
    result["load_at_end"] = os.getloadavg()
    result["rows"] = _rows(result)
    return result


def _print(result: Mapping[str, Any]) -> None:
    load = " to ".join("/".join(f"{n:.1f}" for n in result[key]) for key in ("load_at_start", "load_at_end"))
    print(f"{result['date']}, {result['cpus']} CPUs, load average {load}")
    print("| Figure | Baseline | Pipeline | Ratio | Target | Met |")
    print("|---|---|---|---|---|---|")
    for row in result["rows"]:
        met = {True: "yes", False: "**no**", None: DASH}[row.get("met")]
        note = f" ({row['note']})" if row.get("note") else ""
        print(f"| {row['name']}{note} | {row['baseline']} | {row['pipeline']} | {row['ratio']} | "
              f"{row['target']} | {met} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, help="fresh processes per import (default 10, --quick 3)")
    parser.add_argument("--repeats", type=int, help="one-job processes per side (default 3, --quick 1)")
    parser.add_argument("--cpu-jobs", type=int, help="jobs measured for CPU per job (default 60, --quick 20)")
    parser.add_argument("--build-dir", type=Path, help="a sam build folder (default .aws-sam/build)")
    parser.add_argument("--baseline-size", action="store_true", help="also install exchangelib alone (PyPI)")
    parser.add_argument("--figures", default="imports,rss,sizes,cpu", help="some of imports,rss,sizes,cpu")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path, help="write the result here too")
    parser.add_argument("--cpu-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.cpu_child:
        print(json.dumps(_cpu_child(args.cpu_child)))
        return 0
    result = measure(quick=args.quick, repeats=args.repeats, runs=args.runs, cpu_jobs=args.cpu_jobs,
                     build_dir=args.build_dir, baseline_size=args.baseline_size,
                     figures=tuple(args.figures.split(",")))
    _print(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return 1 if any(row.get("met") is False for row in result["rows"]) else 0


if __name__ == "__main__":
    sys.exit(main())
