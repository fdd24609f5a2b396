"""bench/chaos.py in a small configuration, on every runtime: nothing lost, nothing doubled.

Two dozen bookings (two for a mailbox that does not exist) and six free/busy jobs per runtime, on
dramatiq workers over Redis, RabbitMQ and SQS FIFO and on the Lambda handler, while the EWS
simulator fails about 20% of requests in every way the benchmark knows plus a 5 s storm of 100%
ErrorServerBusy, one consumer process per runtime is SIGKILLed (its jobs' lease lapsing 10 s after
their timeout, not a minute), and the private Redis and RabbitMQ are restarted. The assertions are
counts from the simulator's calendars and inboxes and from the results tables, never times. The
full run (1,000 bookings) is `python bench/chaos.py`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BOOKINGS = 24
INVALID_BOOKINGS = 2
FREE_BUSY = 6
RUNTIMES = ("redis", "amqp", "sqs", "lambda")
RESTARTED_BROKERS = ("redis", "amqp")
RUN_TIMEOUT_S = 600
# A killed consumer's jobs are taken over this long after their timeout instead of the pipeline's
# minute (the consumers share one clock): the drain need not wait a minute for a lease.
LEASE_MARGIN_S = 10

# The run is one fixture of about two minutes, past the suite's default per-test timeout.
pytestmark = pytest.mark.timeout(RUN_TIMEOUT_S + 60)


def _require_broker_servers() -> None:
    """The benchmark starts private brokers; without their servers it cannot restart any."""
    servers = {"redis-server": shutil.which("redis-server") is not None,
               "rabbitmq-server": Path("/usr/lib/rabbitmq/bin/rabbitmq-server").exists()}
    missing = [name for name, found in servers.items() if not found]
    if not missing:
        return
    reason = f"{', '.join(missing)} not installed"
    if os.environ.get("PIPELINE_REQUIRE_BROKERS") == "1":
        pytest.fail(f"{reason}, and PIPELINE_REQUIRE_BROKERS=1 requires it")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def chaos_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    _require_broker_servers()
    figures = tmp_path_factory.mktemp("chaos") / "figures.json"
    command = [sys.executable, str(ROOT / "bench" / "chaos.py"), "--runtimes", ",".join(RUNTIMES),
               "--bookings", str(BOOKINGS), "--invalid-bookings", str(INVALID_BOOKINGS),
               "--free-busy", str(FREE_BUSY), "--mailboxes", "6", "--kills", "1",
               "--storm-seconds", "5", "--chaos-seconds", "25", "--send-seconds", "10",
               "--drain-timeout", "180", "--lease-margin", str(LEASE_MARGIN_S), "--seed", "9",
               "--json", str(figures)]
    run = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = run.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        run.terminate()  # the benchmark stops its brokers, servers and consumers on SIGTERM
        stdout, stderr = run.communicate(timeout=120)
    finished = subprocess.CompletedProcess(command, run.returncode, stdout, stderr)
    assert figures.exists(), (f"the benchmark wrote no figures:\n{finished.stdout[-3000:]}\n"
                              f"{finished.stderr[-3000:]}")
    data: dict[str, Any] = json.loads(figures.read_text())
    data["stdout"] = finished.stdout
    data["returncode"] = finished.returncode
    return data


def test_the_faults_happened(chaos_run: dict[str, Any]) -> None:
    chaos = chaos_run["faults"]["outcomes"]["chaos"]
    for fault in ("server_busy", "server_busy_message", "http_503", "drop"):
        assert chaos.get(fault, 0) > 0, f"no {fault} was injected: {chaos}"
    # Slow answers come in short slices (0.4 s in 10 s at this size): they always happen, but at
    # two dozen bookings a slice may find no request in flight, so the slices are what is counted.
    assert chaos_run["faults"]["slow_slices"] > 0
    assert chaos_run["faults"]["storm_requests"] > 0
    for name in RUNTIMES:
        runtime = chaos_run["runtimes"][name]
        assert runtime["kills"] == 1, name
        if name in RESTARTED_BROKERS:
            assert runtime["broker_restarts"] == 1, name


@pytest.mark.parametrize("name", RUNTIMES)
def test_nothing_is_lost_or_doubled(chaos_run: dict[str, Any], name: str) -> None:
    runtime = chaos_run["runtimes"][name]
    steps = runtime["jobs_per_booking"]  # 1, or 2 for create_event | send_invite
    # A failed create_event never pipes its send_invite.
    jobs = steps * BOOKINGS + FREE_BUSY - (steps - 1) * INVALID_BOOKINGS
    assert steps in (1, 2)
    assert runtime["jobs_sent"] == jobs
    assert runtime["without_record"] == 0
    assert runtime["unfinished"] == {}
    assert runtime["dead_lettered_unrecorded"] == 0
    assert (runtime["duplicate_events"], runtime["duplicate_invitations"]) == (0, 0)
    assert (runtime["missing_bookings"], runtime["uninvited_bookings"]) == (0, 0)
    assert runtime["booked_but_failed"] == 0
    # Only the bookings for a mailbox that does not exist fail, each for good with its code and event.
    assert runtime["succeeded"] == jobs - INVALID_BOOKINGS
    assert runtime["failed_codes"] == {"UNKNOWN_MAILBOX": INVALID_BOOKINGS}
    assert runtime["failed_without_event"] == 0
    assert runtime["failed_without_code"] == 0
    assert runtime["failed_valid_bookings"] == 0
    assert runtime["problems"] == []


def test_the_benchmark_judges_the_run_as_the_counts_do(chaos_run: dict[str, Any]) -> None:
    assert chaos_run["ok"] is True and chaos_run["returncode"] == 0, chaos_run["stdout"][-3000:]
    assert "target met" in chaos_run["stdout"]
