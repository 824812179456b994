"""The UI from the keyboard alone: a skip link first, a visible focus ring, a gate answered."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.ui.browser.conftest import Fabro
from tests.ui.browser.workflows import GATE

MAX_TABS = 80


def focused(page: Page) -> str:
    """The focused element as `tag:text`, for finding it by tabbing."""
    label: str = page.evaluate(
        "() => { const e = document.activeElement;"
        " return e ? `${e.tagName.toLowerCase()}:${(e.textContent || '').trim()}` : ''; }"
    )
    return label


def test_a_gate_is_answered_from_its_card_with_the_keyboard(page: Page, fabro: Fabro) -> None:
    run_id = fabro.start_run(GATE, title="Keyboard gate")
    try:
        fabro.wait_for_question(run_id)
        page.goto("/ui/")
        page.keyboard.press("Tab")
        assert focused(page) == "a:Skip to content"
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline not in ("", "none"), "the focused element shows no focus ring"

        card = page.locator(f"#card-{run_id}")
        expect(card.locator(".question-text")).to_have_text("Ship it?")
        yes = card.get_by_role("button", name="[Y] Yes")
        for _ in range(MAX_TABS):
            page.keyboard.press("Tab")
            if yes.evaluate("button => button === document.activeElement"):
                break
        else:
            raise AssertionError(f"Tab never reached the card's Yes button (at {focused(page)})")
        page.keyboard.press("Enter")
        expect(page.locator(f'[data-column="completed"] #card-{run_id}')).to_be_visible()
        fabro.wait_for_run(run_id, lambda run: run["status"] == "completed")
    finally:
        fabro.cancel(run_id)
