"""The workflows pages: the registry with graph previews, one workflow's graph, source and runs."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET

import pytest
from quart.typing import TestClientProtocol as Client

from fabro.config import Settings
from fabro.ui import workflows_pages
from tests.api.runs_helpers import wait_for

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")

HOSTILE = "<script>alert(1)</script>"
FIX_DOT = f"""digraph FixBuild {{
  graph [goal="Make CI green & <fast>"]
  start [shape=Mdiamond]
  work [label="{HOSTILE}", fontname="x\\" onload=\\"alert(2)"]
  exit [shape=Msquare]
  start -> work -> exit
}}
"""
RUN_LINK = r'href="/ui/runs/([0-9A-Z]{26})"'
EMPTY = "digraph Empty { start [shape=Mdiamond]; exit [shape=Msquare]; start -> exit }"


def add(settings: Settings, slug: str, dot: str, toml: str | None = None) -> None:
    folder = settings.workflows_dir / slug
    folder.mkdir(parents=True)
    (folder / "workflow.dot").write_text(dot, encoding="utf-8")
    if toml is not None:
        (folder / "workflow.toml").write_text(toml, encoding="utf-8")


@pytest.fixture
def registry(settings: Settings) -> None:
    add(settings, "fix_build", FIX_DOT, 'name = "Fix <the> build"\n')
    add(settings, "broken", "digraph Broken {\n  a -> \n}\n")
    add(settings, "empty", EMPTY)


def assert_no_markup_from_the_workflow(page: str) -> None:
    assert HOSTILE not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert not re.search(r"\sstyle=", page)
    drawings = re.findall(r"<svg\b.*?</svg>", page, re.DOTALL)
    assert drawings
    for drawing in drawings:
        for element in ET.fromstring(drawing).iter():
            assert not [name for name in element.attrib if name.lower().startswith("on")]
            assert element.tag.rpartition("}")[2] != "script"


@needs_dot
@pytest.mark.usefixtures("registry")
async def test_the_list_shows_each_workflow_with_an_escaped_preview(ui_client: Client) -> None:
    response = await ui_client.get("/ui/workflows")
    assert response.status_code == 200
    page = await response.get_data(as_text=True)
    assert_no_markup_from_the_workflow(page)
    assert "Fix &lt;the&gt; build" in page and "Make CI green &amp; &lt;fast&gt;" in page
    card = page[page.index('id="workflow-fix_build"') :]
    card = card[: card.index("</li>")]
    assert "<dd>3</dd>" in card  # nodes
    assert "<svg" in card and 'role="group"' in card
    assert 'id="graph-fix_build-' in card  # ids kept unique when several graphs share a page
    assert 'href="/ui/runs/new?workflow=fix_build"' in card
    assert 'href="/ui/workflows/fix_build"' in card
    broken = page[page.index('id="workflow-broken"') :]
    assert "DOT does not parse" in broken[: broken.index("</li>")]
    assert page.count("<dd>never</dd>") == 3  # no runs yet


@needs_dot
@pytest.mark.usefixtures("registry")
async def test_the_list_shows_the_last_run(
    ui_client: Client, client: Client, auth_headers: dict[str, str]
) -> None:
    response = await client.post("/runs", json={"workflow": "empty"}, headers=auth_headers)
    run_id = (await response.get_json())["id"]
    await wait_for(client, auth_headers, run_id, {"completed"})
    page = await (await ui_client.get("/ui/workflows")).get_data(as_text=True)
    card = page[page.index('id="workflow-empty"') :]
    card = card[: card.index("</li>")]
    assert f'href="/ui/runs/{run_id}"' in card and "Completed" in card and "<time datetime=" in card


@needs_dot
@pytest.mark.usefixtures("registry")
async def test_a_workflow_page_shows_graph_source_and_runs_newest_first(
    ui_client: Client, client: Client, auth_headers: dict[str, str]
) -> None:
    ids = []
    for _ in range(3):
        response = await client.post("/runs", json={"workflow": "empty"}, headers=auth_headers)
        ids.append((await response.get_json())["id"])
    other = await client.post("/runs", json={"dot_source": EMPTY}, headers=auth_headers)
    other_id = (await other.get_json())["id"]

    page = await (await ui_client.get("/ui/workflows/empty")).get_data(as_text=True)
    links = re.findall(RUN_LINK, page)
    assert links == list(reversed(ids)) and other_id not in page
    assert 'href="/ui/runs/new?workflow=empty"' in page and "<svg" in page

    first = await ui_client.get("/ui/workflows/empty?page[limit]=2")
    first_page = await first.get_data(as_text=True)
    assert re.findall(RUN_LINK, first_page) == [ids[2], ids[1]]
    assert "Newer</a>" not in first_page
    assert (
        'href="/ui/workflows/empty?page%5Boffset%5D=2&amp;page%5Blimit%5D=2">Older</a>'
        in first_page
    )
    second = await ui_client.get("/ui/workflows/empty?page[limit]=2&page[offset]=2")
    second_page = await second.get_data(as_text=True)
    assert re.findall(RUN_LINK, second_page) == [ids[0]]
    assert "Newer</a>" in second_page and "Older</a>" not in second_page


@needs_dot
@pytest.mark.usefixtures("registry")
async def test_a_workflow_page_escapes_its_source_and_graph(ui_client: Client) -> None:
    response = await ui_client.get("/ui/workflows/fix_build")
    assert response.status_code == 200
    page = await response.get_data(as_text=True)
    assert_no_markup_from_the_workflow(page)
    assert "work [label=&#34;&lt;script&gt;" in page  # the source, as text


async def test_an_unknown_or_malformed_name_is_a_404_page(ui_client: Client) -> None:
    for name in ("missing", "..", "a.b"):
        response = await ui_client.get(f"/ui/workflows/{name}")
        assert response.status_code == 404, name
        assert response.mimetype == "text/html", name
        assert "Workflow not found." in await response.get_data(as_text=True)


async def test_an_empty_registry_points_at_the_new_run_page(ui_client: Client) -> None:
    page = await (await ui_client.get("/ui/workflows")).get_data(as_text=True)
    assert "No workflows in the registry" in page and 'href="/ui/runs/new"' in page


@needs_dot
@pytest.mark.usefixtures("registry")
async def test_large_graphs_are_drawn_on_their_page_only(
    ui_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workflows_pages, "PREVIEW_MAX_NODES", 2)  # `empty` has 2, FixBuild 3
    page = await (await ui_client.get("/ui/workflows")).get_data(as_text=True)
    card = page[page.index('id="workflow-fix_build"') :]
    card = card[: card.index("</li>")]
    assert "<svg" not in card and "No preview: more than 2 nodes; its page draws it." in card
    empty = page[page.index('id="workflow-empty"') :]
    assert "<svg" in empty[: empty.index("</li>")]
    detail = await (await ui_client.get("/ui/workflows/fix_build")).get_data(as_text=True)
    assert "<svg" in detail


@needs_dot
@pytest.mark.usefixtures("registry")
async def test_the_list_is_paged(ui_client: Client) -> None:
    first = await (await ui_client.get("/ui/workflows?page[limit]=2")).get_data(as_text=True)
    assert first.count('class="card workflow-card"') == 2 and ">Next</a>" in first
    assert ">Previous</a>" not in first and "3 workflows" in first
    last = await (await ui_client.get("/ui/workflows?page[limit]=2&page[offset]=2")).get_data(
        as_text=True
    )
    assert last.count('class="card workflow-card"') == 1 and 'id="workflow-fix_build"' in last
    assert ">Previous</a>" in last and ">Next</a>" not in last
