"""The new-run page: diagnostics at their line as DOT is typed; submitting shows the run."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.ui.browser.conftest import Fabro, mark, same_document
from tests.ui.browser.workflows import BROKEN

QUICK = """digraph Quick {
  start [shape=Mdiamond]
  exit [shape=Msquare]
  start -> exit
}"""


def test_a_syntax_error_is_shown_at_its_line_as_you_type(page: Page) -> None:
    page.goto("/ui/runs/new")
    mark(page)
    page.get_by_label("Paste DOT").check()
    page.get_by_label("DOT source", exact=True).fill(BROKEN)
    error = page.locator('#diagnostics li.diagnostic-error[data-line="3"]')
    expect(error).to_be_visible()
    expect(error.locator(".diagnostic-link")).to_have_text(re.compile(r"^line 3\b"))
    expect(error.locator(".message")).to_contain_text("expected node id")
    line = page.locator("#source-view #src-line-3")
    expect(line).to_have_class(re.compile(r"\bline-error\b"))
    expect(line).to_contain_text("start -> -> exit")
    expect(page.locator("#source-view .line-error")).to_have_count(1)
    assert same_document(page), "checking reloaded the page"

    page.get_by_label("DOT source", exact=True).fill(QUICK)  # fixed: the diagnostics go away
    expect(page.locator("#diagnostics li.diagnostic-error")).to_have_count(0)


def test_submitting_pasted_dot_shows_the_new_run(page: Page, fabro: Fabro) -> None:
    page.goto("/ui/runs/new")
    page.get_by_label("Paste DOT").check()
    page.get_by_label("DOT source", exact=True).fill(QUICK)
    page.get_by_label("Title").fill("Quick from the browser")
    page.get_by_label("Labels").fill("team=docs")
    page.get_by_role("button", name="Start the run").click()
    expect(page).to_have_url(re.compile(r"/ui/runs/[0-9A-Z]{26}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Quick from the browser")
    run_id = page.url.rsplit("/", 1)[1]
    run = fabro.wait_for_run(run_id, lambda run: run["status"] == "completed")
    assert run["labels"] == {"team": "docs"}


def test_a_registry_workflow_starts_from_its_page(page: Page, fabro: Fabro) -> None:
    page.goto("/ui/workflows/gate")
    page.get_by_role("link", name="Start a run").click()
    expect(page.get_by_label("Registry workflow")).to_have_value("gate")
    page.get_by_role("button", name="Start the run").click()
    expect(page).to_have_url(re.compile(r"/ui/runs/[0-9A-Z]{26}$"))
    run_id = page.url.rsplit("/", 1)[1]
    try:
        expect(page.locator("#run-questions .question-text")).to_have_text("Ship it?")
        assert fabro.run(run_id)["workflow"]["slug"] == "gate"
    finally:
        fabro.cancel(run_id)


def test_an_uploaded_dot_file_starts_a_run(page: Page, fabro: Fabro) -> None:
    page.goto("/ui/runs/new")
    page.get_by_label("Upload a .dot file").check()
    page.get_by_label("Workflow file").set_input_files(
        files=[{"name": "quick.dot", "mimeType": "text/vnd.graphviz", "buffer": QUICK.encode()}]
    )
    page.get_by_role("button", name="Start the run").click()
    expect(page).to_have_url(re.compile(r"/ui/runs/[0-9A-Z]{26}$"))
    run_id = page.url.rsplit("/", 1)[1]
    fabro.wait_for_run(run_id, lambda run: run["status"] == "completed")
