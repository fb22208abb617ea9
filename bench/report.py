"""Tables for people, JSON for machines: one ``run``, or a ``compare`` of two targets.

A compare is summarised per workload from its rounds: for each target the median ops/s and
p50/p99 latency over the rounds, and the *ratio* B/A of each round (B is the second target
named on the command line), reported as its median and its spread (min–max). Only ratios
measured in the same run mean anything on a shared machine; the raw numbers are there so a
reader can see what the ratio is made of.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.runner import Settings, Target, WorkloadResult


def machine() -> dict[str, object]:
    """Where the numbers were measured."""
    try:
        load: list[float] | None = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "load_average_at_start": load,
    }


def settings_json(settings: Settings) -> dict[str, object]:
    return {
        "workloads": list(settings.workloads),
        "clients": settings.clients,
        "in_flight": settings.in_flight,
        "processes": settings.processes,
        "shape": settings.shape,
        "duration_s": settings.duration_s,
        "count": settings.count,
        "warmup_s": settings.warmup_s,
        "value_size": settings.value_size,
        "watchers": settings.watchers,
        "children_count": settings.children_count,
    }


def write_json(path: Path, document: dict[str, object]) -> None:
    path.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")


# --- run --------------------------------------------------------------------------------------


def run_document(
    target: Target, settings: Settings, started: dict[str, object], results: list[WorkloadResult]
) -> dict[str, object]:
    return {
        "tool": "zkref bench run",
        "machine": started,
        "settings": settings_json(settings),
        "target": {
            "name": target.name,
            "hosts": target.hosts_text,
            "server_pids": list(target.server_pids),
        },
        "results": [result.to_json() for result in results],
    }


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell; the first column left-aligned, the rest right."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        padded = [
            cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i])
            for i, cell in enumerate(cells)
        ]
        return "  ".join(padded).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


def _number(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def run_table(results: Sequence[WorkloadResult]) -> str:
    header = [
        "workload",
        "ops",
        "ops/s",
        "p50 ms",
        "p99 ms",
        "p999 ms",
        "errors",
        "client µs/op",
        "client busy",
        "server µs/op",
    ]
    rows = []
    for r in results:
        latency = r.latency_ms
        rows.append(
            [
                r.workload,
                f"{r.ops:,}",
                _number(r.ops_per_s),
                _number(latency.get("p50"), 3),
                _number(latency.get("p99"), 3),
                _number(latency.get("p999"), 3),
                f"{sum(r.errors.values()):,}",
                _number(r.client_cpu_us_per_op, 1),
                "-" if r.client_cpu_busy is None else f"{r.client_cpu_busy:.0%}",
                _number(r.server_cpu_us_per_op, 1),
            ]
        )
    return format_table(header, rows)


def problems_text(results: Sequence[WorkloadResult]) -> str:
    lines = [f"{r.target} {r.workload}: {p}" for r in results for p in r.problems]
    return "\n".join(lines)


# --- compare ------------------------------------------------------------------------------------


@dataclass(slots=True)
class Spread:
    """A value over rounds: its median and its range."""

    median: float | None
    low: float | None
    high: float | None
    rounds: list[float | None] = field(default_factory=list)

    @classmethod
    def of(cls, values: Sequence[float | None]) -> Spread:
        present = [v for v in values if v is not None]
        if not present:
            return cls(None, None, None, list(values))
        return cls(statistics.median(present), min(present), max(present), list(values))

    def text(self, digits: int = 2) -> str:
        if self.median is None or self.low is None or self.high is None:
            return "-"
        return f"{self.median:.{digits}f} ({self.low:.{digits}f}–{self.high:.{digits}f})"

    def to_json(self) -> dict[str, object]:
        return {"median": _round(self.median), "min": _round(self.low), "max": _round(self.high),
                "rounds": [_round(v) for v in self.rounds]}  # fmt: skip


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _ratio(b: float | None, a: float | None) -> float | None:
    if a is None or b is None or a <= 0 or b <= 0:
        return None
    return b / a


@dataclass(slots=True)
class WorkloadComparison:
    """One workload across the rounds of a compare."""

    workload: str
    ops_per_s: dict[str, Spread]  # target name -> ops/s over rounds
    p50_ms: dict[str, Spread]
    p99_ms: dict[str, Spread]
    ops_ratio: Spread  # B/A of ops/s, per round
    p50_ratio: Spread  # B/A of p50 latency, per round
    p99_ratio: Spread
    problems: list[str]

    def to_json(self) -> dict[str, object]:
        return {
            "workload": self.workload,
            "ops_per_s": {name: s.to_json() for name, s in self.ops_per_s.items()},
            "p50_ms": {name: s.to_json() for name, s in self.p50_ms.items()},
            "p99_ms": {name: s.to_json() for name, s in self.p99_ms.items()},
            "ratio_ops_per_s": self.ops_ratio.to_json(),
            "ratio_p50": self.p50_ratio.to_json(),
            "ratio_p99": self.p99_ratio.to_json(),
            "problems": self.problems,
        }


def _values(runs: Sequence[WorkloadResult], metric: str) -> list[float | None]:
    """ops/s (``ops``) or a latency percentile (``p50``) of each run; None for a failed run."""
    out: list[float | None] = []
    for r in runs:
        if not r.ops:
            out.append(None)
        elif metric == "ops":
            out.append(r.ops_per_s)
        else:
            out.append(r.latency_ms.get(metric))
    return out


def compare_workloads(
    a: Target, b: Target, workloads: Sequence[str], results: Sequence[WorkloadResult]
) -> list[WorkloadComparison]:
    """Pair each round's result for A with the same round's result for B, per workload."""
    comparisons = []
    for workload in workloads:
        runs = {
            name: [r for r in results if r.workload == workload and r.target == name]
            for name in (a.name, b.name)
        }
        rounds = min(len(runs[a.name]), len(runs[b.name]))
        paired = {name: found[:rounds] for name, found in runs.items()}
        ratios = {
            metric: Spread.of(
                [
                    _ratio(vb, va)
                    for va, vb in zip(
                        _values(paired[a.name], metric),
                        _values(paired[b.name], metric),
                        strict=True,
                    )
                ]
            )
            for metric in ("ops", "p50", "p99")
        }
        comparisons.append(
            WorkloadComparison(
                workload=workload,
                ops_per_s={n: Spread.of(_values(paired[n], "ops")) for n in paired},
                p50_ms={n: Spread.of(_values(paired[n], "p50")) for n in paired},
                p99_ms={n: Spread.of(_values(paired[n], "p99")) for n in paired},
                ops_ratio=ratios["ops"],
                p50_ratio=ratios["p50"],
                p99_ratio=ratios["p99"],
                problems=[
                    f"{r.target}: {p}" for name in runs for r in runs[name] for p in r.problems
                ],
            )
        )
    return comparisons


def compare_table(a: Target, b: Target, comparisons: Sequence[WorkloadComparison]) -> str:
    header = [
        "workload",
        f"{a.name} ops/s",
        f"{b.name} ops/s",
        "ops/s B/A (min–max)",
        f"{a.name} p50",
        f"{b.name} p50",
        "p50 B/A (min–max)",
        "p99 B/A",
    ]
    rows = []
    for c in comparisons:
        rows.append(
            [
                c.workload,
                _number(c.ops_per_s[a.name].median),
                _number(c.ops_per_s[b.name].median),
                c.ops_ratio.text(),
                _number(c.p50_ms[a.name].median, 3),
                _number(c.p50_ms[b.name].median, 3),
                c.p50_ratio.text(),
                "-" if c.p99_ratio.median is None else f"{c.p99_ratio.median:.2f}",
            ]
        )
    return format_table(header, rows)


def compare_legend(a: Target, b: Target, rounds: int) -> str:
    return (
        f"B/A = {b.name}/{a.name}, per round; median (min–max) over {rounds} rounds. ops/s B/A > 1:"
        f" {b.name} completes more operations per second;\nlatency B/A < 1: {b.name} answers "
        "sooner. ops/s and p50 (ms) columns are medians over the rounds."
    )


def compare_document(
    a: Target,
    b: Target,
    settings: Settings,
    rounds: int,
    started: dict[str, object],
    comparisons: Sequence[WorkloadComparison],
    results: Sequence[WorkloadResult],
) -> dict[str, object]:
    return {
        "tool": "zkref bench compare",
        "machine": started,
        "settings": settings_json(settings),
        "rounds": rounds,
        "targets": {
            "A": {"name": a.name, "hosts": a.hosts_text},
            "B": {"name": b.name, "hosts": b.hosts_text},
        },
        "ratio": f"{b.name}/{a.name} (B/A)",
        "summary": [c.to_json() for c in comparisons],
        "runs": [r.to_json() for r in results],
    }
