"""A hand-written SVG bar chart: one small panel per workload, one bar per target.

Workloads differ by three orders of magnitude (getData against watch fan-out rounds), so a
single axis would flatten most of them; each panel has its own linear axis starting at 0,
the bar's value written above it and a whisker from the lowest to the highest round. No
plotting library: the file is a few dozen ``<rect>``, ``<line>`` and ``<text>`` elements that
any browser shows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final
from xml.sax.saxutils import escape, quoteattr

PANEL_WIDTH: Final = 240
PANEL_HEIGHT: Final = 190
PANEL_COLUMNS_MAX: Final = 3
MARGIN: Final = 16
LEGEND_HEIGHT: Final = 68
PLOT_TOP: Final = 30  # inside a panel: room for its title
PLOT_BOTTOM: Final = 22  # room for the target names
PLOT_LEFT: Final = 46  # room for the axis labels
GRIDLINE_STEPS_MAX: Final = 4
COLOURS: Final = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860")


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar: the value drawn, and the range its whisker spans (``None``: no whisker)."""

    value: float
    low: float | None = None
    high: float | None = None


def nice_step(value: float) -> float:
    """The smallest of 1, 2, 5 × 10^k that is ≥ ``value`` (a distance between gridlines)."""
    if value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1.0, 2.0, 5.0, 10.0):
        candidate = step * 10.0**exponent
        if candidate >= value * (1 - 1e-12):
            return candidate
    raise AssertionError("unreachable: 10 × 10^k ≥ value")


def axis_ticks(highest: float) -> list[float]:
    """Gridline values from 0 to just above ``highest`` (with 10 % headroom), at most 5 steps
    of 1, 2 or 5 × 10^k."""
    top = highest * 1.1 if highest > 0 else 1.0
    step = nice_step(top / GRIDLINE_STEPS_MAX)
    steps = max(1, math.ceil(top / step - 1e-9))
    return [step * i for i in range(steps + 1)]


def short_number(value: float) -> str:
    """``31.7k``, ``1.2M``, ``812``, ``0.35``."""
    magnitude = abs(value)
    if magnitude >= 1e6:
        return f"{value / 1e6:.3g}M"
    if magnitude >= 1e3:
        return f"{value / 1e3:.3g}k"
    if magnitude >= 1 or value == 0:
        return f"{value:.0f}"
    return f"{value:.2g}"


def bar_chart(
    title: str,
    subtitle: str,
    panels: Sequence[str],
    series: Sequence[str],
    bars: Mapping[tuple[str, str], Bar],
    unit: str,
) -> str:
    """The SVG document: a panel per name in ``panels``, in each a bar per ``series`` name
    found in ``bars[(panel, series)]``."""
    columns = max(1, min(PANEL_COLUMNS_MAX, len(panels)))
    rows = max(1, math.ceil(len(panels) / columns))
    width = 2 * MARGIN + columns * PANEL_WIDTH
    height = 2 * MARGIN + LEGEND_HEIGHT + rows * PANEL_HEIGHT
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="white"/>',
        f'<text x="{MARGIN}" y="{MARGIN + 14}" font-size="15" font-weight="bold">'
        f"{escape(title)}</text>",
        f'<text x="{MARGIN}" y="{MARGIN + 30}" fill="#333">{escape(subtitle)}</text>',
    ]
    legend_x = MARGIN
    for index, name in enumerate(series):
        colour = COLOURS[index % len(COLOURS)]
        y = MARGIN + 40
        out.append(
            f'<rect x="{legend_x}" y="{y}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{legend_x + 16}" y="{y + 10}">{escape(name)}</text>'
        )
        legend_x += 24 + 7 * len(name)
    out.append(
        f'<text x="{width - MARGIN}" y="{MARGIN + 50}" text-anchor="end" fill="#555">'
        f"{escape(unit)}; whiskers: min–max over rounds</text>"
    )
    for number, panel in enumerate(panels):
        left = MARGIN + (number % columns) * PANEL_WIDTH
        top = MARGIN + LEGEND_HEIGHT + (number // columns) * PANEL_HEIGHT
        out.extend(_panel(panel, series, bars, left, top))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _panel(
    panel: str,
    series: Sequence[str],
    bars: Mapping[tuple[str, str], Bar],
    left: int,
    top: int,
) -> list[str]:
    out = [
        f'<g class="panel" data-workload={quoteattr(panel)}>',
        f'<text x="{left + PANEL_WIDTH / 2:.1f}" y="{top + 16}" text-anchor="middle" '
        f'font-weight="bold">{escape(panel)}</text>',
    ]
    present = [
        (i, name, bars[(panel, name)]) for i, name in enumerate(series) if (panel, name) in bars
    ]
    highest = max(
        [max(bar.value, bar.high or 0.0) for _, _, bar in present if math.isfinite(bar.value)],
        default=0.0,
    )
    ticks = axis_ticks(highest)
    axis_max = ticks[-1]
    plot_left = left + PLOT_LEFT
    plot_right = left + PANEL_WIDTH - 12
    plot_top = top + PLOT_TOP
    plot_bottom = top + PANEL_HEIGHT - PLOT_BOTTOM
    plot_height = plot_bottom - plot_top

    def y_of(value: float) -> float:
        return plot_bottom - plot_height * max(0.0, min(value, axis_max)) / axis_max

    for value in ticks:
        y = y_of(value)
        out.append(
            f'<line x1="{plot_left}" y1="{y:.1f}" x2="{plot_right}" y2="{y:.1f}" '
            f'stroke="#ddd"/><text x="{plot_left - 4}" y="{y + 4:.1f}" text-anchor="end" '
            f'fill="#555">{escape(short_number(value))}</text>'
        )
    slot = (plot_right - plot_left) / max(1, len(series))
    bar_width = min(48.0, slot * 0.6)
    for index, name, bar in present:
        colour = COLOURS[index % len(COLOURS)]
        centre = plot_left + slot * (index + 0.5)
        x = centre - bar_width / 2
        value = bar.value if math.isfinite(bar.value) else 0.0
        y = y_of(value)
        out.append(
            f'<rect class="bar" data-series={quoteattr(name)} x="{x:.1f}" y="{y:.1f}" '
            f'width="{bar_width:.1f}" height="{plot_bottom - y:.1f}" fill="{colour}">'
            f"<title>{escape(name)}: {value:,.1f}</title></rect>"
        )
        if bar.low is not None and bar.high is not None:
            y_low, y_high = y_of(bar.low), y_of(bar.high)
            out.append(
                f'<line x1="{centre:.1f}" y1="{y_low:.1f}" x2="{centre:.1f}" y2="{y_high:.1f}" '
                f'stroke="black"/><line x1="{centre - 5:.1f}" y1="{y_high:.1f}" '
                f'x2="{centre + 5:.1f}" y2="{y_high:.1f}" stroke="black"/>'
                f'<line x1="{centre - 5:.1f}" y1="{y_low:.1f}" x2="{centre + 5:.1f}" '
                f'y2="{y_low:.1f}" stroke="black"/>'
            )
        label_y = min(y, y_of(bar.high) if bar.high is not None else y) - 4
        out.append(
            f'<text x="{centre:.1f}" y="{label_y:.1f}" text-anchor="middle">'
            f"{escape(short_number(value))}</text>"
            f'<text x="{centre:.1f}" y="{plot_bottom + 14}" text-anchor="middle">'
            f"{escape(name)}</text>"
        )
    out.append(
        f'<line x1="{plot_left}" y1="{plot_bottom}" x2="{plot_right}" y2="{plot_bottom}" '
        'stroke="black"/>'
    )
    out.append("</g>")
    return out
