"""Server-rendered inline SVG line charts: polylines with axes and labels, no script, no style.

Every text is escaped here; colours and strokes come from classes in console.css (the
console's CSP allows no inline style), so a chart is plain markup a template inserts as is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 560, 220
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 40, 40
"""Margins around the plot area: room for the y ticks, the title and the x label."""


@dataclass(frozen=True)
class Line:
    """One series: (x, y) points, its legend label and its CSS class (series-canary ...)."""

    label: str
    css: str
    points: Sequence[tuple[float, float]]
    tooltip: str = ""


def _ticks(low: float, high: float, count: int = 4) -> list[float]:
    if high <= low:
        return [low]
    return [low + (high - low) * i / count for i in range(count + 1)]


def _number(value: float) -> str:
    return f"{value:.4g}"


def line_chart(
    lines: Sequence[Line],
    *,
    title: str,
    x_label: str,
    y_label: str,
    y_floor: float | None = None,
    y_ceiling: float | None = None,
) -> str:
    """An <svg> of `lines` on shared axes (x and y ranges fitted to the points)."""
    points = [point for line in lines for point in line.points]
    xs = [x for x, _ in points] or [0.0, 1.0]
    ys = [y for _, y in points if math.isfinite(y)] or [0.0, 1.0]
    x_low, x_high = min(xs), max(xs)
    y_low = min(ys) if y_floor is None else min(y_floor, min(ys))
    y_high = max(ys) if y_ceiling is None else max(y_ceiling, max(ys))
    if x_high == x_low:
        x_high = x_low + 1
    if y_high == y_low:
        y_low, y_high = y_low - (abs(y_low) or 1) * 0.1, y_high + (abs(y_high) or 1) * 0.1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(x: float) -> float:
        return LEFT + (x - x_low) / (x_high - x_low) * plot_w

    def py(y: float) -> float:
        return TOP + plot_h - (y - y_low) / (y_high - y_low) * plot_h

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<text class="chart-title" x="{LEFT}" y="16">{escape(title)}</text>',
        f'<line class="axis" x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" '
        f'y2="{TOP + plot_h}"/>',
        f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}"/>',
    ]
    for tick in _ticks(y_low, y_high):
        y = py(tick)
        out.append(
            f'<line class="grid" x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" y2="{y:.1f}"/>'
        )
        out.append(
            f'<text class="tick" x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(_number(tick))}</text>"
        )
    for tick in _ticks(x_low, x_high):
        out.append(
            f'<text class="tick" x="{px(tick):.1f}" y="{TOP + plot_h + 14}" '
            f'text-anchor="middle">{escape(_number(tick))}</text>'
        )
    out.append(
        f'<text class="axis-label" x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 6}" '
        f'text-anchor="middle">{escape(x_label)}</text>'
    )
    out.append(
        f'<text class="axis-label" x="12" y="{TOP + plot_h / 2:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 12 {TOP + plot_h / 2:.1f})">{escape(y_label)}</text>'
    )
    for index, line in enumerate(lines):
        coords = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in line.points if math.isfinite(y))
        tooltip = f"<title>{escape(line.tooltip or line.label)}</title>"
        out.append(
            f'<polyline class="{escape(line.css)}" fill="none" points="{coords}">'
            f"{tooltip}</polyline>"
        )
        out.append(
            f'<text class="legend {escape(line.css)}-label" x="{LEFT + index * 160}" '
            f'y="32">{escape(line.label)}</text>'
        )
    out.append("</svg>")
    return "".join(out)
