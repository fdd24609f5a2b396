"""The chaos benchmark's figures: a table per runtime, the faults as shares of the run's requests,
the machine's load; and the same as JSON for the test suite."""

from __future__ import annotations

import dataclasses
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

from chaos_census import Figures
from chaos_faults import INJECTED
from chaos_run import RunReport

__all__ = ["print_report", "write_json"]


def _share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def print_report(report: RunReport) -> None:
    options = report.options
    print()
    steps = max((figures.jobs_per_booking for figures in report.figures), default=0)
    print(f"Chaos run: {options.bookings} bookings of {steps} job(s) ({options.invalid_bookings} for a "
          f"mailbox that does not exist) + {options.free_busy} free/busy jobs per runtime over "
          f"{options.mailboxes} organisers; "
          f"{options.workers} consumer processes x {options.threads} threads per runtime; "
          f"{report.seconds:.0f} s in all")
    _print_faults(report)
    print()
    header = (f"{'runtime':<8}{'jobs':>6}{'ok':>6}{'failed':>7}{'DLQ':>5}{'no rec':>7}{'unfin':>6}"
              f"{'dup ev':>7}{'dup inv':>8}{'missing':>8}{'uninv':>6}{'drain s':>8}{'kills':>6}"
              f"{'brk rst':>8}")
    print(header)
    for figures in report.figures:
        drain = "-" if figures.drain_seconds is None else f"{figures.drain_seconds:.1f}"
        print(f"{figures.runtime:<8}{figures.jobs_sent:>6}{figures.succeeded:>6}{figures.failed:>7}"
              f"{figures.dead_lettered:>5}{figures.without_record:>7}{sum(figures.unfinished.values()):>6}"
              f"{figures.duplicate_events:>7}{figures.duplicate_invitations:>8}{figures.missing_bookings:>8}"
              f"{figures.uninvited_bookings:>6}{drain:>8}{figures.kills:>6}{figures.broker_restarts:>8}")
    for figures in report.figures:
        _print_details(figures)
    print()
    total = sum(report.cpu_seconds.values())
    share = total / (report.seconds * (os.cpu_count() or 1)) if report.seconds else 0.0
    print(f"machine: {os.cpu_count()} CPUs, load average {report.load_before[0]:.1f} before, "
          f"{report.load_after[0]:.1f} after (1 min); CPU s: "
          + ", ".join(f"{name} {seconds:.0f}" for name, seconds in report.cpu_seconds.items())
          + f"; {total:.0f} in all, {100 * share:.0f}% of the machine over the run")
    if report.schema_violations:
        print(f"! {len(report.schema_violations)} simulator response(s) violated messages.xsd, e.g. "
              f"{report.schema_violations[0]}")
    print("target met: 0 duplicates, 0 missing, 0 jobs without a record" if report.ok
          else f"TARGET MISSED (worker and broker logs kept in {report.logs})")


def _print_faults(report: RunReport) -> None:
    tally = report.faults
    chaos = tally.outcomes.get("chaos", Counter())
    total = sum(chaos.values())
    storm = tally.storm_requests
    faulted = sum(chaos[outcome] for outcome in INJECTED)
    outside = total - storm
    rate = (faulted - storm + tally.slow_requests) / outside if outside > 0 else 0.0
    kinds = ", ".join(f"{outcome} {_share(chaos[outcome], total)}" for outcome in INJECTED)
    print(f"EWS requests under faults: {total}; {kinds}; slow (> EWS timeout) "
          f"{_share(tally.slow_requests, total)} in {tally.slow_slices} slices; other errors "
          f"(the requests' own, e.g. ErrorNonExistentMailbox) {chaos['other']}")
    asked = 100 * report.options.fault_rate
    print(f"  outside the storm {100 * rate:.1f}% failed or slow (asked: {asked:.0f}%); "
          f"storm {tally.storm_seconds:.0f} s: {storm} requests, all ErrorServerBusy; "
          f"requests after the faults stopped: {sum(tally.outcomes.get('drain', Counter()).values())}")
    for line in report.timeline:
        print(f"  {line}")


def _print_details(figures: Figures) -> None:
    print(f"{figures.runtime}:")
    codes = ", ".join(f"{code} {n}" for code, n in figures.failed_codes.items()) or "none"
    print(f"  failed for good: {figures.failed} of {figures.jobs_sent} jobs ({codes}); "
          f"{figures.failed - figures.failed_without_event} with a job.failed event; "
          f"{figures.failed_valid_bookings} of them bookings of real mailboxes")
    total = sum(figures.attempts.values())
    histogram = "  ".join(f"{attempts}: {n} ({_share(n, total)})" for attempts, n in figures.attempts.items())
    print(f"  attempts per job: {histogram}")
    print(f"  dead-letter queue: {figures.dead_lettered} (of them never recorded: "
          f"{figures.dead_lettered_unrecorded}); SIGKILLs {figures.kills}, consumers restarted after exiting "
          f"{figures.restarts_after_exit}, broker restarts {figures.broker_restarts}, sends retried "
          f"{figures.resends}")
    for problem in figures.problems:
        print(f"  ! {problem}")
    for straggler in figures.stragglers:
        print(f"    e.g. {straggler}")


def write_json(report: RunReport, path: Path) -> None:
    """The figures as JSON (the test suite's view of a run)."""
    data: dict[str, Any] = {
        "ok": report.ok,
        "seconds": report.seconds,
        "options": dataclasses.asdict(report.options),
        "faults": {**dataclasses.asdict(report.faults),
                   "outcomes": {phase: dict(counts) for phase, counts in report.faults.outcomes.items()}},
        "runtimes": {figures.runtime: dataclasses.asdict(figures) for figures in report.figures},
        "schema_violations": report.schema_violations,
        "timeline": report.timeline,
        "logs": str(report.logs),
    }
    path.write_text(json.dumps(data, indent=1, default=str))
