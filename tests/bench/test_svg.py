"""The hand-written SVG chart: well-formed, one bar per value, names escaped, sane axes."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ElementTree

import pytest

from bench.svg import Bar, axis_ticks, bar_chart, nice_step, short_number

SVG = "{http://www.w3.org/2000/svg}"


def _bars(document: str) -> list[ElementTree.Element]:
    root = ElementTree.fromstring(document)
    assert root.tag == f"{SVG}svg"
    return [e for e in root.iter(f"{SVG}rect") if e.get("class") == "bar"]


def test_one_bar_per_workload_and_target_with_its_value() -> None:
    bars = {
        ("create", "zookeeper"): Bar(31_700, 30_000, 33_000),
        ("create", "zkref"): Bar(15_000, 14_000, 16_500),
        ("getData", "zookeeper"): Bar(67_700),
        ("getData", "zkref"): Bar(70_100, 69_000, 71_000),
        ("fanout", "zkref"): Bar(140.5),  # a target without a result is simply absent
    }
    document = bar_chart(
        "t", "sub", ["create", "getData", "fanout"], ["zookeeper", "zkref"], bars, "ops/s"
    )
    drawn = _bars(document)
    assert len(drawn) == len(bars)
    assert [b.get("data-series") for b in drawn] == [
        "zookeeper",
        "zkref",
        "zookeeper",
        "zkref",
        "zkref",
    ]
    heights = [float(b.get("height", "nan")) for b in drawn]
    assert heights[0] > heights[1] > 0  # 31.7k drawn taller than 15k on the same axis
    assert "31.7k" in document and "70.1k" in document


def test_names_are_escaped() -> None:
    document = bar_chart(
        'a<b & "c"', "x>y", ["w<1>"], ["t&1", "t'2"], {("w<1>", "t&1"): Bar(1.0)}, "<u>"
    )
    (bar,) = _bars(document)
    assert bar.get("data-series") == "t&1"
    texts = [e.text for e in ElementTree.fromstring(document).iter(f"{SVG}text")]
    assert 'a<b & "c"' in texts and "w<1>" in texts


def test_an_empty_chart_is_still_a_document() -> None:
    assert _bars(bar_chart("t", "s", [], [], {}, "ops/s")) == []
    assert _bars(bar_chart("t", "s", ["x"], ["a"], {("x", "a"): Bar(0.0)}, "ops/s"))


@pytest.mark.parametrize(
    ("value", "step"), [(0.3, 0.5), (1, 1), (1.01, 2), (2.2, 5), (7, 10), (4_500, 5_000)]
)
def test_gridline_steps_are_1_2_or_5_times_a_power_of_ten(value: float, step: float) -> None:
    assert nice_step(value) == pytest.approx(step)


@pytest.mark.parametrize("highest", [0.0, 0.7, 9.0, 140.5, 31_700.0, 67_700.0, 2.5e6])
def test_the_axis_covers_the_highest_bar_with_few_gridlines(highest: float) -> None:
    ticks = axis_ticks(highest)
    assert ticks[0] == 0
    assert ticks[-1] >= highest * 1.1 - 1e-9
    assert 2 <= len(ticks) <= 6
    steps = {round(b - a, 9) for a, b in itertools.pairwise(ticks)}
    assert len(steps) == 1


def test_short_numbers() -> None:
    assert [short_number(v) for v in (0, 0.35, 812, 31_700, 1_234_567)] == [
        "0",
        "0.35",
        "812",
        "31.7k",
        "1.23M",
    ]
