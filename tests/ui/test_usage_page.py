"""The usage page: its tables and charts show the stored stages' tokens and cost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
from quart.typing import TestClientProtocol as Client

from fabro.clock import format_ts
from fabro.config import Settings
from fabro.services import Services
from fabro.storage.stages import StageFinish, StageRecord
from tests.api.runs_helpers import wait_for

EMPTY = "digraph Empty { start [shape=Mdiamond]; exit [shape=Msquare]; start -> exit }"


class Tables(HTMLParser):
    """The text of every cell of every table, by table id."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.current: str | None = None
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.current = dict(attrs).get("id") or ""
            self.tables[self.current] = []
        elif tag == "tr" and self.current is not None:
            self.tables[self.current].append([])
        elif tag in ("td", "th") and self.current is not None:
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.cell is not None and self.current is not None:
            self.tables[self.current][-1].append(" ".join("".join(self.cell).split()))
            self.cell = None
        elif tag == "table":
            self.current = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def tables(page: str) -> dict[str, list[list[str]]]:
    parser = Tables()
    parser.feed(page)
    return parser.tables


async def add_stage(
    services: Services,
    run_id: str,
    stage_id: str,
    *,
    model: str | None,
    days_ago: int,
    tokens: tuple[int, int],
    cost: float,
) -> None:
    finished = datetime.now(UTC).replace(hour=12, minute=0) - timedelta(days=days_ago)
    if finished > datetime.now(UTC):
        finished = datetime.now(UTC)
    stage = StageRecord(
        run_id=run_id,
        stage_id=stage_id,
        node_id=stage_id,
        name=stage_id,
        visit=1,
        stage_index=0,
        status="running",
        started_at=format_ts(finished - timedelta(seconds=3)),
    )
    finish = StageFinish(
        status="completed",
        finished_at=format_ts(finished),
        duration_ms=3000,
        attempts=1,
        outcome={"status": "success"},
        model=model,
        usage={"input_tokens": tokens[0], "output_tokens": tokens[1]},
        cost=cost,
    )
    await services.store.commit(services.store.start_stage(stage, finish))


@pytest.fixture
async def stored(
    client: Client, auth_headers: dict[str, str], services: Services, settings: Settings
) -> None:
    folder = settings.workflows_dir / "fix_build"
    folder.mkdir(parents=True)
    (folder / "workflow.dot").write_text(EMPTY, encoding="utf-8")
    ids = []
    for body in ({"workflow": "fix_build"}, {"dot_source": EMPTY}):
        response = await client.post("/runs", json=body, headers=auth_headers)
        assert response.status_code == 201
        ids.append((await response.get_json())["id"])
        await wait_for(client, auth_headers, ids[-1], {"completed"})
    registry, pasted = ids
    await add_stage(
        services, registry, "a", model="claude-x", days_ago=0, tokens=(100, 50), cost=0.5
    )
    await add_stage(services, registry, "b", model="gpt-y", days_ago=2, tokens=(10, 5), cost=0.25)
    await add_stage(
        services, pasted, "c", model="claude-x", days_ago=10, tokens=(1000, 1), cost=1.0
    )
    await add_stage(services, pasted, "d", model="claude-x", days_ago=40, tokens=(7, 7), cost=9.0)
    await add_stage(services, pasted, "e", model=None, days_ago=1, tokens=(0, 0), cost=0.0)


@pytest.mark.usefixtures("stored")
async def test_the_tables_sum_the_stored_stages_of_the_period(ui_client: Client) -> None:
    response = await ui_client.get("/ui/usage")  # the last 30 days
    assert response.status_code == 200
    page = await response.get_data(as_text=True)
    found = tables(page)
    header = ["Runs", "Stages", "Input tokens", "Output tokens", "Tokens", "Cost"]
    assert found["usage-model-table"] == [
        ["Model", *header],
        ["claude-x", "2", "2", "1,100", "51", "1,151", "$1.5000"],
        ["gpt-y", "1", "1", "10", "5", "15", "$0.2500"],
    ]
    assert found["usage-workflow-table"][1:] == [
        ["Pasted or uploaded DOT", "1", "1", "1,000", "1", "1,001", "$1.0000"],
        ["fix_build", "1", "2", "110", "55", "165", "$0.7500"],
    ]
    days = found["usage-day-table"][1:]
    assert len(days) == 30  # every day of the period, zeros included
    today = datetime.now(UTC).date()
    by_day = {row[0]: row[1:] for row in days}
    assert by_day[today.isoformat()] == ["1", "1", "100", "50", "150", "$0.5000"]
    assert by_day[(today - timedelta(days=10)).isoformat()][-2:] == ["1,001", "$1.0000"]
    assert by_day[(today - timedelta(days=1)).isoformat()] == ["0", "0", "0", "0", "0", "$0.0000"]
    assert "<dd>$1.7500</dd>" in page  # the period's total cost
    # The charts draw the same numbers (each bar's title: label and value).
    assert "<title>claude-x: 1,151</title>" in page
    assert "<title>claude-x: $1.5000</title>" in page
    assert "<title>fix_build: 165</title>" in page


@pytest.mark.usefixtures("stored")
async def test_a_longer_period_counts_older_stages(ui_client: Client) -> None:
    page = await (await ui_client.get("/ui/usage?days=90")).get_data(as_text=True)
    found = tables(page)
    assert found["usage-model-table"][1] == [
        "claude-x",
        "2",
        "3",
        "1,107",
        "58",
        "1,165",
        "$10.5000",
    ]
    assert len(found["usage-day-table"]) == 91
    seven = tables(await (await ui_client.get("/ui/usage?days=7")).get_data(as_text=True))
    assert [row[0] for row in seven["usage-model-table"][1:]] == ["claude-x", "gpt-y"]
    assert seven["usage-model-table"][1][2] == "1"  # the 10-day-old stage is left out


async def test_an_unknown_period_is_the_default_and_no_usage_says_so(ui_client: Client) -> None:
    response = await ui_client.get("/ui/usage?days=abc")
    page = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'aria-current="page">Last 30 days' in page
    assert "No usage in this period." in page and "style=" not in page


async def test_the_page_needs_a_session(client: Client) -> None:
    response = await client.get("/ui/usage")
    assert response.status_code == 303 and "/ui/signin" in response.headers["Location"]
