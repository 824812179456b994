"""Bar charts drawn on the server as inline SVG (the usage page): no chart script is shipped.

A chart is accessible on its own (`role="img"` with a `<title>` summary, each bar's full label
and value in a `<title>` of its own) and the page puts the same numbers in a table under it.
Every label is escaped here; colours come from CSS classes (`.chart .bar-<series>`), never
from `style` attributes, which the UI's Content-Security-Policy refuses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from markupsafe import Markup, escape

WIDTH: Final = 480  # small, so that text stays readable when a phone scales it down
LABEL_WIDTH: Final = 150  # the label column, left of the bars
VALUE_WIDTH: Final = 90  # room right of the longest bar for its value
ROW: Final = 26
BAR: Final = 18
MAX_LABEL_CHARS: Final = 18  # longer labels are cut in the drawing (kept whole in <title>)


@dataclass(frozen=True)
class Bar:
    """One bar: its label, its value, and the value as the reader sees it ("1,234", "$0.01")."""

    label: str
    value: float
    shown: str
    short: str | None = None  # what an axis writes for it (`12-06` for `2026-12-06`)


def _cut(label: str) -> str:
    return label if len(label) <= MAX_LABEL_CHARS else label[: MAX_LABEL_CHARS - 1] + "…"


def summary(title: str, bars: Sequence[Bar]) -> str:
    """What a screen reader hears for the chart: its title, size and largest bar."""
    if not bars:
        return f"{title}: no data."
    top = max(bars, key=lambda bar: bar.value)
    count = "1 bar" if len(bars) == 1 else f"{len(bars)} bars"
    return f"{title}: {count}; largest {top.label} at {top.shown}."


def _opening(classes: str, chart_id: str, height: int, spoken: str) -> list[str]:
    """The ``<svg>`` start tag of a chart and its ``<title>`` (what a screen reader says)."""
    title_id = escape(f"{chart_id}-title")
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{classes}" id="{escape(chart_id)}"'
        f' viewBox="0 0 {WIDTH} {height}" role="img" aria-labelledby="{title_id}"'
        ' preserveAspectRatio="xMinYMin meet">',
        f'<title id="{title_id}">{escape(spoken)}</title>',
    ]


def bar_chart(title: str, bars: Sequence[Bar], *, chart_id: str, series: str) -> Markup:
    """A horizontal bar chart of ``bars`` (in the given order) as an inline ``<svg>``.

    ``chart_id`` makes the ids of its title unique on the page; ``series`` names the CSS class
    that colours its bars (`bar-<series>`). Both come from the code, never from a request.
    """
    scale_width = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    largest = max((bar.value for bar in bars), default=0.0)
    height = max(len(bars), 1) * ROW + 8
    parts = _opening("chart", chart_id, height, summary(title, bars))
    if not bars:
        parts.append(f'<text class="chart-empty" x="8" y="{ROW - 8}">No data.</text>')
    for index, bar in enumerate(bars):
        top = index * ROW + 4
        length = 0.0 if largest <= 0 else max(bar.value, 0.0) / largest * scale_width
        middle = top + BAR / 2
        parts.append(
            f'<g class="chart-row"><title>{escape(bar.label)}: {escape(bar.shown)}</title>'
            f'<text class="chart-label" x="{LABEL_WIDTH - 8}" y="{middle:.1f}"'
            f' text-anchor="end" dominant-baseline="central">{escape(_cut(bar.label))}</text>'
            f'<rect class="bar bar-{escape(series)}" x="{LABEL_WIDTH}" y="{top}"'
            f' width="{length:.1f}" height="{BAR}" rx="2"></rect>'
            f'<text class="chart-value" x="{LABEL_WIDTH + length + 6:.1f}" y="{middle:.1f}"'
            f' dominant-baseline="central">{escape(bar.shown)}</text></g>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


COLUMN_HEIGHT: Final = 160  # the plot's height, above the axis labels
MAX_AXIS_LABELS: Final = 8


def column_chart(title: str, bars: Sequence[Bar], *, chart_id: str, series: str) -> Markup:
    """A vertical bar chart of ``bars`` in order (a time series: one column a day), as an
    inline ``<svg>``; every column has its label and value in a ``<title>``, and about
    MAX_AXIS_LABELS of the labels are written under the axis."""
    left, top, bottom = 24, 22, COLUMN_HEIGHT + 22  # room for the first and last axis label
    height = bottom + 26
    slot = (WIDTH - 2 * left) / max(len(bars), 1)
    largest = max((bar.value for bar in bars), default=0.0)
    every = max(1, -(-len(bars) // MAX_AXIS_LABELS))  # ceiling division
    parts = _opening("chart chart-columns", chart_id, height, summary(title, bars))
    parts.append(
        f'<line class="chart-axis" x1="{left}" y1="{bottom}" x2="{WIDTH - left}"'
        f' y2="{bottom}"></line>'
    )
    if largest > 0:
        top_bar = max(bars, key=lambda bar: bar.value)
        parts.append(
            f'<text class="chart-value" x="{left}" y="{top - 8}">max {escape(top_bar.shown)}</text>'
        )
    else:
        parts.append(f'<text class="chart-empty" x="{left}" y="{top - 8}">No data.</text>')
    for index, bar in enumerate(bars):
        length = 0.0 if largest <= 0 else max(bar.value, 0.0) / largest * (bottom - top)
        x = left + index * slot
        parts.append(
            f'<g class="chart-row"><title>{escape(bar.label)}: {escape(bar.shown)}</title>'
            f'<rect class="bar bar-{escape(series)}" x="{x + slot * 0.1:.1f}"'
            f' y="{bottom - length:.1f}" width="{slot * 0.8:.1f}" height="{length:.1f}"'
            ' rx="1"></rect>'
        )
        if index % every == 0:
            parts.append(
                f'<text class="chart-label" x="{x + slot / 2:.1f}" y="{bottom + 18}"'
                f' text-anchor="middle">{escape(_cut(bar.short or bar.label))}</text>'
            )
        parts.append("</g>")
    parts.append("</svg>")
    return Markup("".join(parts))
