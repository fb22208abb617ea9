"""Compare summaries: ratios are B/A per round, medians and spreads over rounds."""

from __future__ import annotations

import pytest

from bench.report import Spread, compare_table, compare_workloads, format_table, run_table
from bench.runner import BenchError, Settings, Target, WorkloadResult, parse_hosts

A = Target("zookeeper", (("127.0.0.1", 2181),))
B = Target("zkref", (("127.0.0.1", 2182),))


def _result(target: Target, workload: str, ops_per_s: float, p50: float) -> WorkloadResult:
    result = WorkloadResult(workload, target.name, target.hosts_text, "2026-01-01T00:00:00")
    result.ops = int(ops_per_s)
    result.window_s = 1.0
    result.ops_per_s = ops_per_s
    result.latency_ms = {"p50": p50, "p99": 2 * p50, "p999": 3 * p50, "mean": p50, "max": 9.0}
    return result


def test_ratios_are_b_over_a_per_round_with_median_and_spread() -> None:
    results = [
        _result(A, "getData", 100.0, 0.2),
        _result(B, "getData", 150.0, 0.1),
        _result(B, "getData", 90.0, 0.3),  # round 2 runs B first
        _result(A, "getData", 100.0, 0.2),
        _result(A, "getData", 200.0, 0.1),
        _result(B, "getData", 200.0, 0.1),
    ]
    (comparison,) = compare_workloads(A, B, ["getData"], results)
    assert comparison.ops_ratio.rounds == pytest.approx([1.5, 0.9, 1.0])
    assert comparison.ops_ratio.median == pytest.approx(1.0)
    assert (comparison.ops_ratio.low, comparison.ops_ratio.high) == pytest.approx((0.9, 1.5))
    assert comparison.p50_ratio.rounds == pytest.approx([0.5, 1.5, 1.0])
    assert comparison.ops_per_s["zookeeper"].median == 100.0
    assert comparison.ops_per_s["zkref"].median == 150.0
    table = compare_table(A, B, [comparison])
    assert "1.00 (0.90–1.50)" in table
    assert table.splitlines()[0].startswith("workload")


def test_a_failed_round_has_no_ratio_and_does_not_count() -> None:
    failed = _result(B, "create", 0.0, 0.0)
    failed.ops = 0
    results = [_result(A, "create", 100.0, 1.0), failed, _result(A, "create", 100.0, 1.0)]
    results.append(_result(B, "create", 50.0, 2.0))
    (comparison,) = compare_workloads(A, B, ["create"], results)
    assert comparison.ops_ratio.rounds == [None, pytest.approx(0.5)]
    assert comparison.ops_ratio.median == pytest.approx(0.5)


def test_spread_of_nothing() -> None:
    spread = Spread.of([None, None])
    assert spread.median is None
    assert spread.text() == "-"


def test_run_table_has_a_row_per_workload() -> None:
    table = run_table([_result(A, "create", 31_700.4, 0.39), _result(A, "getData", 67_700, 0.17)])
    lines = table.splitlines()
    assert len(lines) == 4
    assert "31,700" in lines[2] and "0.390" in lines[2]


def test_format_table_aligns_columns() -> None:
    text = format_table(["a", "bb"], [["xxx", "1"], ["y", "22"]])
    assert text.splitlines() == ["a    bb", "---  --", "xxx   1", "y    22"]


def test_hosts_parse_with_a_default_port() -> None:
    assert parse_hosts("a:1,b, c:3") == (("a", 1), ("b", 2181), ("c", 3))
    assert parse_hosts("[::1]:2181") == (("::1", 2181),)
    with pytest.raises(BenchError):
        parse_hosts("a:b")
    with pytest.raises(BenchError):
        parse_hosts(",")


def test_settings_name_their_shape() -> None:
    assert Settings(("getData",), clients=16, in_flight=4, processes=2).shape == (
        "c64 (2 processes × 8 connections × 4 in flight)"
    )
    with pytest.raises(BenchError):
        Settings(("getData",), duration_s=None, count=None).validate()
