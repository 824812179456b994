"""Server-side SVG bar charts: escaped labels, no inline style, accessible, proportional."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from fabro.ui.chart import LABEL_WIDTH, MAX_LABEL_CHARS, Bar, bar_chart, column_chart, summary

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert(1)</script>" onload="x'


def parse(markup: str) -> ET.Element:
    return ET.fromstring(markup)  # well-formed XML, or this raises


def test_labels_are_escaped_and_nothing_is_styled_inline() -> None:
    chart = str(bar_chart("Tokens", [Bar(HOSTILE, 3, "3")], chart_id="c", series="tokens"))
    assert "<script>" not in chart and "style=" not in chart
    root = parse(chart)
    for element in root.iter():
        assert not [name for name in element.attrib if name.startswith("on")]
    texts = [element.text or "" for element in root.iter(f"{SVG}text")]
    assert HOSTILE[: MAX_LABEL_CHARS - 1] + "…" in texts  # the drawn label: cut, as text
    titles = [element.text or "" for element in root.iter(f"{SVG}title")]
    assert f"{HOSTILE}: 3" in titles  # the whole label in the bar's title


def test_the_chart_is_an_image_with_a_summary() -> None:
    bars = [Bar("claude", 300, "300"), Bar("gpt", 100, "100")]
    root = parse(str(bar_chart("Tokens by model", bars, chart_id="m", series="tokens")))
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "m-title"
    title = root.find(f"{SVG}title")
    assert title is not None and title.get("id") == "m-title"
    assert title.text == "Tokens by model: 2 bars; largest claude at 300."
    assert summary("Cost", []) == "Cost: no data."


def test_bars_are_proportional_and_coloured_by_class() -> None:
    bars = [Bar("a", 50, "50"), Bar("b", 100, "100"), Bar("c", 0, "0")]
    root = parse(str(bar_chart("T", bars, chart_id="p", series="cost")))
    rects = list(root.iter(f"{SVG}rect"))
    widths = [float(rect.get("width") or 0) for rect in rects]
    assert widths[0] * 2 == widths[1] and widths[2] == 0
    assert all(rect.get("class") == "bar bar-cost" for rect in rects)
    assert all(float(rect.get("x") or 0) == LABEL_WIDTH for rect in rects)


def test_an_empty_chart_says_so() -> None:
    chart = str(bar_chart("Cost", [], chart_id="e", series="cost"))
    assert "No data." in chart and not re.search(r"<rect", chart)


def test_columns_draw_a_series_with_escaped_labels_and_short_axis_labels() -> None:
    bars = [Bar(f"2026-12-0{day}", day * 10, f"{day * 10}", f"12-0{day}") for day in range(1, 10)]
    bars.append(Bar(HOSTILE, 0, "0"))
    chart = str(column_chart("Tokens by day", bars, chart_id="d", series="tokens"))
    assert "<script>" not in chart and "style=" not in chart
    root = parse(chart)
    assert root.get("role") == "img" and root.get("aria-labelledby") == "d-title"
    rects = list(root.iter(f"{SVG}rect"))
    heights = [float(rect.get("height") or 0) for rect in rects]
    assert len(rects) == 10 and abs(heights[0] * 9 - heights[8]) < 1 and heights[9] == 0
    axis = [
        element.text
        for element in root.iter(f"{SVG}text")
        if "chart-label" in (element.get("class") or "")
    ]
    assert axis[0] == "12-01" and len(axis) <= 8  # a few of the short labels, not all
    titles = [element.text or "" for element in root.iter(f"{SVG}title")]
    assert "2026-12-09: 90" in titles and f"{HOSTILE}: 0" in titles
    assert "max 90" in chart
