"""The run page: the graph recolours live, gates are answered and runs cancelled from it, and
nothing a run prints or is labelled with runs as script."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Browser, Locator, Page, StorageState, expect

from tests.ui.browser.conftest import (
    Fabro,
    Watch,
    mark,
    new_context,
    same_document,
    stage_id,
)
from tests.ui.browser.workflows import GATE, HOSTILE, SLEEP, XSS, wait_for_file


def fill_of(node: Locator) -> str:
    """The colour the node's shape is painted with (the stylesheet's, by its status class)."""
    colour: str = node.locator("polygon, ellipse, path").first.evaluate(
        "shape => getComputedStyle(shape).fill"
    )
    return colour


def test_a_graph_node_changes_colour_as_its_stage_finishes(
    page: Page, fabro: Fabro, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    run_id = fabro.start_run(wait_for_file(go))
    try:
        fabro.wait_for_run(run_id, lambda run: run.get("current_node") == "work")
        page.goto(f"/ui/runs/{run_id}")
        work = page.locator('#run-graph g.node[data-node-id="work"]')
        expect(work).to_have_class(re.compile(r"\bstage-running\b"))
        running = fill_of(work)
        mark(page)
        go.touch()
        expect(work).to_have_class(re.compile(r"\bstage-completed\b"))
        expect(page.locator("#run-status")).to_have_attribute("data-status", "completed")
        assert fill_of(work) != running, "the node's colour did not change"
        assert same_document(page), "the run page reloaded to show the change"
    finally:
        go.touch()
        fabro.cancel(run_id)


def test_a_gate_is_answered_from_the_run_page(page: Page, fabro: Fabro) -> None:
    run_id = fabro.start_run(GATE)
    try:
        fabro.wait_for_question(run_id)
        page.goto(f"/ui/runs/{run_id}")
        questions = page.locator("#run-questions")
        expect(questions.locator(".question-text")).to_have_text("Ship it?")
        questions.get_by_role("button", name=re.compile("Yes")).click()
        expect(page.locator("#run-status")).to_have_attribute("data-status", "completed")
        expect(questions.locator(".question")).to_have_count(0)
        run = fabro.wait_for_run(run_id, lambda run: run["status"] == "completed")
        assert "pending_question" not in run
    finally:
        fabro.cancel(run_id)


def test_a_run_is_cancelled_from_the_run_page(page: Page, fabro: Fabro) -> None:
    run_id = fabro.start_run(SLEEP)
    try:
        fabro.wait_for_run(run_id, lambda run: run.get("current_node") == "nap")
        page.goto(f"/ui/runs/{run_id}")
        page.get_by_role("button", name="Cancel run").click()
        expect(page.locator("#run-status")).to_have_attribute("data-status", "cancelled")
        expect(page.get_by_role("button", name="Cancel run")).to_have_count(0)
        fabro.wait_for_run(run_id, lambda run: run["status"] == "cancelled")
    finally:
        fabro.cancel(run_id)


def test_answer_and_cancel_work_with_javascript_off(
    browser: Browser, fabro: Fabro, signed_in: StorageState, watch: Watch
) -> None:
    context = new_context(browser, fabro, watch, signed_in, java_script_enabled=False)
    page = context.new_page()
    gated, sleeping = fabro.start_run(GATE), fabro.start_run(SLEEP)
    try:
        fabro.wait_for_question(gated)
        page.goto(f"/ui/runs/{gated}")
        page.locator("#run-questions").get_by_role("button", name=re.compile("Yes")).click()
        fabro.wait_for_run(gated, lambda run: run["status"] == "completed")

        fabro.wait_for_run(sleeping, lambda run: run.get("current_node") == "nap")
        page.goto(f"/ui/runs/{sleeping}")
        page.get_by_role("button", name="Cancel run").click()
        fabro.wait_for_run(sleeping, lambda run: run["status"] == "cancelled")
        page.goto(f"/ui/runs/{sleeping}")  # a plain reload shows it
        expect(page.locator("#run-status")).to_have_attribute("data-status", "cancelled")
    finally:
        context.close()
        fabro.cancel(gated)
        fabro.cancel(sleeping)
    watch.check()


def test_a_label_and_an_output_holding_script_render_as_text(page: Page, fabro: Fabro) -> None:
    run_id = fabro.start_run(HOSTILE)
    try:
        fabro.wait_for_run(run_id, lambda run: run["status"] == "completed")
        page.goto(f"/ui/runs/{run_id}")
        shout = page.locator('#run-graph g.node[data-node-id="shout"]')
        expect(shout.locator("text")).to_have_text(XSS)
        expect(page.locator("#run-stages")).to_contain_text(XSS)
        shout.locator("a.stage-link").click()  # the stage's details open beside the list
        panel = page.locator("#stage-panel #stage-detail")
        expect(panel.locator(".stage-title")).to_contain_text(XSS)
        expect(panel.locator(".stage-output").first).to_contain_text(XSS)
        page.goto(f"/ui/runs/{run_id}/stages/" + stage_id(page, "shout"))  # and as a page
        expect(page.locator("#stage-detail .stage-output").first).to_contain_text(XSS)
        # Only the UI's own scripts are on the pages, each a file; no dialog opened (`watch`).
        for url in (f"/ui/runs/{run_id}", page.url):
            page.goto(url)
            assert page.locator("script:not([src])").count() == 0
            assert page.locator("svg script, svg foreignObject").count() == 0
    finally:
        fabro.cancel(run_id)


def test_a_run_is_paused_and_unpaused_from_the_run_page(page: Page, fabro: Fabro) -> None:
    run_id = fabro.start_run(SLEEP)
    try:
        fabro.wait_for_run(run_id, lambda run: run.get("current_node") == "nap")
        page.goto(f"/ui/runs/{run_id}")
        page.get_by_role("button", name="Pause").click()
        expect(page.locator("#run-status")).to_have_attribute("data-status", "paused")
        assert fabro.run(run_id)["status"] == "paused"
        page.get_by_role("button", name="Unpause").click()
        expect(page.locator("#run-status")).to_have_attribute("data-status", "running")
        expect(page.get_by_role("button", name="Pause")).to_be_visible()
    finally:
        fabro.cancel(run_id)
