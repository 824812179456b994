"""The runs board: a run's card moves across the columns live and is answered from the card."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

from tests.ui.browser.conftest import Fabro, mark, same_document
from tests.ui.browser.workflows import GATE, gate_after_file


def card_in(page: Page, column: str, run_id: str) -> Locator:
    return page.locator(f'section.board-column[data-column="{column}"] #card-{run_id}')


def test_a_run_moves_across_the_board_without_a_reload(
    page: Page, fabro: Fabro, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    page.goto("/ui/")
    mark(page)
    run_id = fabro.start_run(gate_after_file(go))
    try:
        expect(card_in(page, "active", run_id)).to_be_visible()
        go.touch()
        card = card_in(page, "waiting", run_id)
        expect(card).to_be_visible()
        expect(card.locator(".question-text")).to_have_text("Ship it?")
        expect(card_in(page, "active", run_id)).to_have_count(0)
        assert same_document(page), "the board reloaded to show the move"

        card.get_by_role("button", name=re.compile("Yes")).click()
        done = card_in(page, "completed", run_id)
        expect(done).to_be_visible()
        expect(done.locator(".status")).to_contain_text("Completed")
        assert fabro.wait_for_run(run_id, lambda run: run["status"] == "completed")
    finally:
        go.touch()
        fabro.cancel(run_id)


def test_the_board_filters_by_label(page: Page, fabro: Fabro) -> None:
    mine = fabro.start_run(GATE, labels={"board-test": "filter"})
    other = fabro.start_run(GATE)
    try:
        fabro.wait_for_question(mine)
        fabro.wait_for_question(other)
        page.goto("/ui/")
        page.get_by_label("Label", exact=True).fill("board-test=filter")
        page.get_by_role("button", name="Filter").click()
        expect(page).to_have_url(re.compile(r"label=board-test%3Dfilter"))
        expect(card_in(page, "waiting", mine)).to_be_visible()
        expect(page.locator(f"#card-{other}")).to_have_count(0)
    finally:
        fabro.cancel(mine)
        fabro.cancel(other)
