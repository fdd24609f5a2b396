"""bench/compare.py's figures: issue 11's table rows, their targets, and the measures of others.

A Figure is one row: baseline, pipeline, their ratio, the target and whether it is met (None:
no target, a figure for context). Booking figures are computed here from the runs; free/busy and
cold start come from bench/free_busy.py's and bench/cold_start.py's `measure`, called through
external_figures, which reports a figure "not measured" (a missed target) when a module is absent.
"""

from __future__ import annotations

import importlib
import inspect
import os
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from compare import Runs
    from compare_runs import RunResult

__all__ = ["Figure", "booking_figures", "external_figures", "load", "print_figures"]

TARGET_LATENCY_MS = 50.0
SPEEDUP_TARGET = 3.0  # bookings/s at 50 ms: at least 3x the baseline ...
BOUND_SHARE_TARGET = 0.5  # ... and at least half of concurrency / latency
TABLE_CALLS_TARGET = 3  # per job, and at most one settings read
MODULES = {"free-busy": "free_busy", "cold-start": "cold_start"}
DASH = "\u2013"  # an empty cell, as the README's tables write it
TIMES = "\u00d7"


@dataclass(frozen=True)
class Figure:
    """One row of the table; `values` holds the numbers behind it, for --json readers."""

    name: str
    baseline: str = DASH
    pipeline: str = DASH
    ratio: str = DASH
    target: str = DASH
    met: bool | None = None
    note: str = ""
    values: dict[str, float] = field(default_factory=dict)


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f}/{five:.1f}/{fifteen:.1f}"


def _total(results: Iterable[RunResult]) -> tuple[int, int, Counter[str], Counter[str], int]:
    bookings = jobs = settings = 0
    ews: Counter[str] = Counter()
    table: Counter[str] = Counter()
    for result in results:
        bookings += result.bookings
        jobs += result.jobs
        settings += result.settings_reads
        ews.update(result.ews_requests)
        table.update({op.split(":", 1)[1]: n for op, n in result.aws_calls.items()
                      if op.startswith("dynamodb:")})
    return bookings, jobs, ews, table, settings


def _breakdown(counts: Mapping[str, int], per: int) -> str:
    return ", ".join(f"{op} {n / per:.2g}" for op, n in sorted(counts.items()) if n)


def _ratio(pipeline: float, baseline: float | None) -> str:
    return f"{pipeline / baseline:.2f}" if baseline else DASH


def _count_figures(runs: Mapping[tuple[str, float], Runs]) -> list[Figure]:
    baseline = [r for (side, _), each in runs.items() if side == "baseline" for r in each.results]
    store = next((side for side, _ in runs if side != "baseline"), None)
    pipeline = [r for (side, _), each in runs.items() if side == store for r in each.results]
    if not pipeline:
        return []
    b_bookings, _, b_ews, _, _ = _total(baseline)
    p_bookings, p_jobs, p_ews, p_table, settings = _total(pipeline)
    b_per = sum(b_ews.values()) / b_bookings if b_bookings else None
    p_per = sum(p_ews.values()) / p_bookings
    jobs_per = p_jobs / p_bookings
    table_per_booking = sum(p_table.values()) / p_bookings
    table_per_job = sum(p_table.values()) / p_jobs
    settings_per_job = settings / p_jobs
    return [
        Figure("EWS requests per booking, warm",
               baseline=f"{b_per:.2f} ({_breakdown(b_ews, b_bookings)})" if b_per is not None else DASH,
               pipeline=f"{p_per:.2f} ({_breakdown(p_ews, p_bookings)}), in {jobs_per:.2g} job(s)",
               note=f"sent as {pipeline[-1].path}",
               ratio=_ratio(p_per, b_per), target="1 request and 1 job per booking (target 1)",
               met=p_per <= 1.0 and jobs_per == 1.0,
               values={"baseline": b_per or 0.0, "pipeline": p_per, "jobs_per_booking": jobs_per}),
        # The common path finds the settings cached; a settings read comes with a cache refresh.
        Figure("Results-table calls per booking",
               pipeline=f"{table_per_booking:.2f} ({_breakdown(p_table, p_bookings)}); per job "
                        f"{table_per_job - settings_per_job:.2f} + {settings_per_job:.2f} settings reads",
               target=f"≤ {TABLE_CALLS_TARGET} per job besides ≤ 1 settings read (target 2)",
               met=table_per_job - settings_per_job <= TABLE_CALLS_TARGET and settings_per_job <= 1,
               values={"pipeline": table_per_booking, "per_job": table_per_job,
                       "settings_reads_per_job": settings_per_job}),
    ]


def _cpu_ms(results: Iterable[RunResult], process: str) -> float | None:
    """Median CPU milliseconds per booking of one process ("booking", "store", "simulator")."""
    per = [r.cpu_seconds.get(process, 0.0) * 1000 / r.bookings for r in results if r.bookings]
    return statistics.median(per) if per else None


def _cpu_figure(side: str, latency: float, results: list[RunResult], baseline: list[RunResult]) -> Figure:
    """Where the CPU goes: the booking process's own CPU per booking caps it at 1000/ms per core."""
    own, base = _cpu_ms(results, "booking") or 0.0, _cpu_ms(baseline, "booking")
    store, sim = _cpu_ms(results, "store") or 0.0, _cpu_ms(results, "simulator") or 0.0
    ceiling = 1000 / own if own else 0.0
    return Figure(f"CPU ms per booking in the booking process, {latency:.0f} ms, {side}",
                  baseline=f"{base:.1f}" if base is not None else DASH, pipeline=f"{own:.1f}",
                  ratio=_ratio(own, base),
                  note=f"one core's ceiling {ceiling:.0f} bookings/s; the store's process {store:.1f} ms, "
                       f"the simulator {sim:.1f} ms per booking",
                  values={"baseline": base or 0.0, "pipeline": own, "store": store, "simulator": sim,
                          "ceiling": ceiling})


def booking_figures(runs: Mapping[tuple[str, float], Runs], threads: int) -> list[Figure]:
    """The count rows, then bookings/s per latency and store (target 3 at 50 ms)."""
    figures = _count_figures(runs)
    for (side, latency), each in runs.items():
        if side == "baseline":
            continue
        baseline = runs.get(("baseline", latency))
        base = baseline.rate() if baseline else None
        rate = each.rate() or 0.0
        problems = each.problems + (baseline.problems if baseline else [])
        name = f"Bookings/s at {latency:.0f} ms, {side}"
        values = {"baseline": base or 0.0, "pipeline": rate, "runs": len(each.results)}
        if latency == TARGET_LATENCY_MS:
            bound = threads / (latency / 1000)
            needed = max(SPEEDUP_TARGET * (base or 0.0), BOUND_SHARE_TARGET * bound)
            target = (f"≥ {SPEEDUP_TARGET:.0f}{TIMES} baseline and ≥ {BOUND_SHARE_TARGET:.0%} of {threads} ÷ "
                      f"{latency:.0f} ms = {bound:.0f}/s: ≥ {needed:.1f} (target 3)")
            met: bool | None = bool(base) and rate >= needed and not problems
            values |= {"bound": bound, "needed": needed, "share_of_bound": rate / bound}
        else:
            target, met = DASH, (False if problems else None)
        figures.append(Figure(name, baseline=f"{base:.1f}" if base else DASH, pipeline=f"{rate:.1f}",
                              ratio=_ratio(rate, base), target=target, met=met,
                              note="; ".join(problems[:2]), values=values))
        if latency == TARGET_LATENCY_MS:
            figures.append(_cpu_figure(side, latency, each.results, baseline.results if baseline else []))
    return figures


def _free_busy_figure(result: Mapping[str, Any]) -> Figure:
    """bench/free_busy.py's measure(): one dict, the figure with both sides' medians."""
    sides = {side: result[side] for side in ("baseline", "pipeline")}
    requests = {side: sum(row["requests"].values()) for side, row in sides.items()}
    cells = {side: f"{row['wall_s']:.2f} s, {requests[side]} requests, CPU {row['cpu_s']:.2f} s"
             for side, row in sides.items()}
    note = "" if result.get("same_intervals", True) else "the two sides' busy intervals differ"
    return Figure(f"{result['figure']}, at {result['latency_ms']:.0f} ms", baseline=cells["baseline"],
                  pipeline=cells["pipeline"], ratio=f"{result['ratio']:.2f}",
                  target=f"{result['target']} (target 4)", met=bool(result["met"]), note=note,
                  values={"baseline": sides["baseline"]["wall_s"], "pipeline": sides["pipeline"]["wall_s"],
                          "requests": requests["pipeline"]})


def _as_figure(row: Any) -> Figure:
    """A row of another helper's measure: a Figure-like dataclass or a mapping."""
    data = {f.name: getattr(row, f.name) for f in fields(row)} if is_dataclass(row) else dict(row)
    data.setdefault("name", data.pop("figure", "?"))
    known = {f.name for f in fields(Figure)}
    values = {k: v for k, v in data.items() if k not in known and isinstance(v, int | float)}
    figure: dict[str, Any] = {k: (v if k in ("met", "values") else str(v)) for k, v in data.items()
                              if k in known}
    return Figure(**{"values": values, **figure})


def _cold_start_figures(result: Mapping[str, Any]) -> list[Figure]:
    """bench/cold_start.py's measure(): a dict whose "rows" are the table's rows."""
    figures = [_as_figure(row) for row in result["rows"]]
    if not any(figure.name.startswith("Deployment package") for figure in figures):
        figures.append(Figure("Deployment package per function, zipped", met=False,
                              note="not measured: no sam build folder; run infra/deploy/sam_check "
                                   "--build-dir .aws-sam/build first, or give --build-dir"))
    return figures


def external_figures(name: str, *, repeats: int, quick: bool, build_dir: Path | None = None) -> list[Figure]:
    """The figures of `bench/<module>.py`'s measure(); a missed "not measured" row if it is absent."""
    module_name = MODULES[name]
    try:
        module = importlib.import_module(module_name)
        measure = module.measure
    except (ImportError, AttributeError) as exc:
        return [Figure(f"{name}: bench/{module_name}.py", met=False,
                       note=f"not measured: bench/{module_name}.py's measure() is not there yet ({exc})")]
    accepted = inspect.signature(measure).parameters
    # Each measure starts what it needs (free/busy: a simulator seeded with its 1,000 mailboxes).
    offered = {"repeats": repeats, "quick": quick, "build_dir": build_dir}
    try:
        result = measure(**{key: value for key, value in offered.items() if key in accepted})
    except Exception as exc:  # another helper's script: its failure is a gap in the table, not the end
        return [Figure(f"{name}: bench/{module_name}.py", met=False,
                       note=f"not measured: its measure() raised {type(exc).__name__}: {exc}")]
    if name == "free-busy":
        return [_free_busy_figure(result)]
    return _cold_start_figures(result)


def print_figures(figures: Iterable[Figure]) -> None:
    print("| Figure | Baseline | Pipeline | Ratio | Target | Met |")
    print("|---|---|---|---|---|---|")
    for figure in figures:
        met = {True: "yes", False: "**no**", None: DASH}[figure.met]
        note = f" ({figure.note})" if figure.note else ""
        print(f"| {figure.name}{note} | {figure.baseline} | {figure.pipeline} | {figure.ratio} | "
              f"{figure.target} | {met} |", flush=True)
