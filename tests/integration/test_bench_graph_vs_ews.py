"""bench/graph_vs_ews.py at its smallest size: the requests per job behind its figures, never a time.

The same integration (impersonation, one OAuth 2.0 app) on EWS and on Graph, each booking 8
meetings and looking up free/busy for 20 mailboxes 4 times in the pipeline's real runtime, against
one TLS simulator in its own process. The script itself checks every job's record and every
booking in its organiser's calendar (exactly once, invitations sent), and exits 1 otherwise.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("graph-vs-ews") / "figures.json"
    done = subprocess.run(
        [sys.executable, "bench/graph_vs_ews.py", "--bookings", "8", "--free-busy", "4",
         "--free-busy-mailboxes", "20", "--threads", "4", "--repeats", "1", "--latency-ms", "0",
         "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    figures: dict[str, Any] = json.loads(out.read_text())
    return figures


def per_job(report: dict[str, Any], kind: str) -> dict[str, dict[str, float]]:
    [row] = [row for row in report["summary"] if row["kind"] == kind]
    operations: dict[str, dict[str, float]] = row["operations_per_job"]
    return operations


def test_a_booking_is_one_request_on_either_backend(report: dict[str, Any]) -> None:
    # Graph: one createEvent with the attendees (Graph sends the invitations); EWS: one CreateItem
    assert per_job(report, "bookings") == {"ews": {"CreateItem": 1.0}, "graph": {"createEvent": 1.0}}


def test_free_busy_for_20_mailboxes_is_one_request_on_either_backend(report: dict[str, Any]) -> None:
    # getSchedule takes up to 20 schedules: no $batch is needed
    assert per_job(report, "free_busy") == {
        "ews": {"GetUserAvailability": 1.0}, "graph": {"getSchedule": 1.0},
    }


def test_every_run_was_checked_and_timed(report: dict[str, Any]) -> None:
    runs = report["runs"]
    assert sorted((run["backend"], run["kind"]) for run in runs) == [
        ("ews", "bookings"), ("ews", "free_busy"), ("graph", "bookings"), ("graph", "free_busy"),
    ]
    assert all(run["problems"] == [] and run["seconds"] > 0 for run in runs)
    assert all(row["ratio"]["jobs_per_s"] is not None for row in report["summary"])
