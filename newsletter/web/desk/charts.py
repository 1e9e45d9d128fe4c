"""Charts drawn on the server as SVG: no chart library, no CDN, no script; readable by screen readers.

Each chart is an ``<svg role="img">`` with a title and a description that says the figures in words,
and the page shows the same figures in a table beside it, so nothing depends on seeing the bars.
"""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Sequence

WIDTH = 640
HEIGHT = 220
MARGIN_LEFT = 40
MARGIN_BOTTOM = 34
COLOURS = ("#1f5fa8", "#2e7d32", "#b3261e")  # AA contrast on white, told apart by position too


@dataclasses.dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[int]


def grouped_bars(title: str, labels: Sequence[str], series: Sequence[Series]) -> str:
    """Bars per label, one per series, with a y axis from 0 to a round maximum."""
    top = max([1, *(v for s in series for v in s.values)])
    step = _nice_step(top)
    ceiling = step * -(-top // step)
    plot_w, plot_h = WIDTH - MARGIN_LEFT - 8, HEIGHT - MARGIN_BOTTOM - 10
    slot = plot_w / max(len(labels), 1)
    bar = max(slot * 0.8 / max(len(series), 1), 1.0)
    parts = [
        f'<svg class="desk-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        'aria-labelledby="chart-title chart-desc" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="chart-title">{html.escape(title)}</title>',
        f'<desc id="chart-desc">{html.escape(_describe(labels, series))}</desc>',
    ]
    for tick in range(0, ceiling + 1, step):
        y = 10 + plot_h - plot_h * tick / ceiling
        parts.append(
            f'<line x1="{MARGIN_LEFT}" x2="{WIDTH - 8}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d0d0d0"/>'
        )
        parts.append(
            f'<text x="{MARGIN_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#333333">{tick}</text>'
        )
    every = max(1, len(labels) // 8)
    for index, label in enumerate(labels):
        x0 = MARGIN_LEFT + index * slot + slot * 0.1
        for number, item in enumerate(series):
            value = item.values[index]
            h = plot_h * value / ceiling
            parts.append(
                f'<rect x="{x0 + number * bar:.1f}" y="{10 + plot_h - h:.1f}" width="{bar:.1f}" '
                f'height="{h:.1f}" fill="{COLOURS[number % len(COLOURS)]}"/>'
            )
        if index % every == 0:
            parts.append(
                f'<text x="{x0:.1f}" y="{HEIGHT - 16}" font-size="11" fill="#333333">'
                f"{html.escape(label)}</text>"
            )
    for number, item in enumerate(series):
        x = MARGIN_LEFT + number * 150
        parts.append(
            f'<rect x="{x}" y="{HEIGHT - 11}" width="10" height="10" '
            f'fill="{COLOURS[number % len(COLOURS)]}"/>'
        )
        parts.append(
            f'<text x="{x + 14}" y="{HEIGHT - 2}" font-size="11" fill="#333333">'
            f"{html.escape(item.name)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _nice_step(top: int) -> int:
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10_000, 25_000, 50_000):
        if top / step <= 5:
            return step
    return int(10 ** len(str(top // 5)))


def _describe(labels: Sequence[str], series: Sequence[Series]) -> str:
    if not labels:
        return "No data yet."
    weeks = "; ".join(
        f"{label}: " + ", ".join(f"{s.values[i]} {s.name}" for s in series) for i, label in enumerate(labels)
    )
    return weeks
