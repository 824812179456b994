"""The usage page: tokens and cost by day, by model and by workflow, over the last N days.

The numbers are the stage rows' (what `GET /usage` sums per model), read through
``Store.usage_by``; the charts are SVG drawn here (fabro/ui/chart.py), each followed by a
table of the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from markupsafe import Markup
from quart import render_template, request

from fabro.api.context import services
from fabro.clock import format_ts
from fabro.storage.stages import UsageGroup
from fabro.ui.blueprint import ui
from fabro.ui.chart import Bar, bar_chart, column_chart

PERIODS_DAYS: Final = (7, 30, 90)
DEFAULT_PERIOD_DAYS: Final = 30
PASTED: Final = "Pasted or uploaded DOT"


@dataclass(frozen=True)
class Section:
    """One grouping of the page: its two charts and the rows of its table."""

    key: str
    title: str
    column: str
    tokens_chart: Markup
    cost_chart: Markup
    rows: list[UsageGroup]
    labels: list[str]


def tokens(group: UsageGroup) -> int:
    return group.input_tokens + group.output_tokens


def money(cost: float) -> str:
    return f"${cost:,.4f}"


def period_days() -> int:
    """The `days` query parameter when it is one of PERIODS_DAYS, else the default."""
    raw = request.args.get("days", "")
    return int(raw) if raw in {str(days) for days in PERIODS_DAYS} else DEFAULT_PERIOD_DAYS


def first_day(days: int, today: date) -> date:
    """The first of the ``days`` whole UTC days that end with ``today``."""
    return today - timedelta(days=days - 1)


def every_day(rows: Sequence[UsageGroup], start: date, today: date) -> list[UsageGroup]:
    """One row per day from ``start`` to ``today``: the stored ones, zeros for the rest."""
    stored = {row.keys[0]: row for row in rows}
    filled = []
    for offset in range((today - start).days + 1):
        day = (start + timedelta(days=offset)).isoformat()
        filled.append(stored.get(day) or UsageGroup((day,), 0, 0, 0, 0, 0.0, 0))
    return filled


def section(key: str, title: str, column: str, rows: list[UsageGroup]) -> Section:
    """A grouping's charts (columns for days, bars for the rest) and table rows."""
    labels = [row.keys[0] or PASTED for row in rows]
    short = [label[5:] if key == "day" else None for label in labels]  # `12-06`
    pairs = list(zip(labels, short, rows, strict=True))
    tokens_bars = [Bar(label, tokens(row), f"{tokens(row):,}", cut) for label, cut, row in pairs]
    cost_bars = [Bar(label, row.cost, money(row.cost), cut) for label, cut, row in pairs]
    chart = column_chart if key == "day" else bar_chart
    return Section(
        key=key,
        title=title,
        column=column,
        tokens_chart=chart(
            f"Tokens {title.lower()}", tokens_bars, chart_id=f"chart-{key}-tokens", series="tokens"
        ),
        cost_chart=chart(
            f"Cost {title.lower()}", cost_bars, chart_id=f"chart-{key}-cost", series="cost"
        ),
        rows=rows,
        labels=labels,
    )


@ui.route("/usage", methods=["GET"], endpoint="usage")
async def usage_page() -> Any:
    days = period_days()
    today = datetime.now(UTC).date()
    start = first_day(days, today)
    since = format_ts(datetime.combine(start, datetime.min.time(), tzinfo=UTC))
    store = services().store
    by_day = every_day(await store.usage_by(("day",), since), start, today)
    by_model = await store.usage_by(("model",), since)
    by_workflow = await store.usage_by(("workflow",), since)
    totals = {
        "stages": sum(row.stages for row in by_model),
        "input_tokens": sum(row.input_tokens for row in by_model),
        "output_tokens": sum(row.output_tokens for row in by_model),
        "cost": money(sum((row.cost for row in by_model), 0.0)),
    }
    sections = [
        section("day", "By day", "Day (UTC)", by_day),
        section("model", "By model", "Model", by_model),
        section("workflow", "By workflow", "Workflow", by_workflow),
    ]
    return await render_template(
        "usage.html",
        days=days,
        periods=PERIODS_DAYS,
        start=start.isoformat(),
        totals=totals,
        sections=sections,
        tokens=tokens,
        money=money,
    )
