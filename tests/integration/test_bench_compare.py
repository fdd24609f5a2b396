"""bench/compare.py at its smallest size: the counts behind issue 11's figures, never a time.

The baseline (plain exchangelib as its docs show it) and the pipeline's real runtime (4 threads)
each book 8 meetings against the simulator, as an app books them; compare.py counts the EWS
requests and results-table calls per booking over the warm part of each run, and checks every
booking in its organiser's calendar.
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
def figures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    out = tmp_path_factory.mktemp("compare") / "figures.json"
    done = subprocess.run(
        [sys.executable, "bench/compare.py", "--figures", "bookings", "--stores", "moto",
         "--latency-ms", "0", "--repeats", "1", "--bookings", "8", "--threads", "4", "--run-seconds", "0",
         "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert out.exists(), done.stdout[-2000:] + done.stderr[-2000:]
    rows = json.loads(out.read_text())["figures"]
    return {row["name"]: row for row in rows}


def test_every_booking_is_made_once_by_both_sides(figures: dict[str, dict[str, Any]]) -> None:
    throughput = figures["Bookings/s at 0 ms, moto"]

    assert throughput["met"] is None, throughput["note"]  # no target at 0 ms: False means a check failed
    assert throughput["values"]["baseline"] > 0 and throughput["values"]["pipeline"] > 0


def test_the_baseline_makes_three_ews_requests_per_booking(figures: dict[str, dict[str, Any]]) -> None:
    # exchangelib as documented, a new Account per job: account.calendar is two GetFolder
    # requests (the root folder, then the calendar), and the save is one CreateItem.
    assert figures["EWS requests per booking, warm"]["values"]["baseline"] == 3.0


def test_a_booking_is_one_job_and_one_ews_request(figures: dict[str, dict[str, Any]]) -> None:
    row = figures["EWS requests per booking, warm"]

    assert row["values"]["jobs_per_booking"] == 1.0, row["note"]
    assert row["values"]["pipeline"] == 1.0, row["pipeline"]  # CreateItem, invitations sent in it


def test_the_pipeline_makes_at_most_three_table_calls_per_job(figures: dict[str, dict[str, Any]]) -> None:
    row = figures["Results-table calls per booking"]
    values = row["values"]

    # Three in the common path; a job that refreshes the cached settings reads them once more.
    assert values["per_job"] - values["settings_reads_per_job"] <= 3, row["pipeline"]
    assert values["settings_reads_per_job"] <= 1
