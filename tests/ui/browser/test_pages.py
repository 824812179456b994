"""Every page passes axe-core (no serious or critical violation) in light and dark, at 1280x800
and at a phone's 390 px; and a screenshot of each page is taken on the way (docs/ui.md).

This module has a server of its own, holding one run in each state, so that the pages (and the
screenshots) show the same things whatever the other tests did. Screenshots go to
``$FABRO_SCREENSHOTS`` when set (scripts/screenshots copies them to docs/images/ui/), else to
a temporary folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, StorageState, expect

from tests.ui.browser.conftest import (
    DESKTOP,
    PHONE,
    Fabro,
    Watch,
    new_context,
    serving,
    sign_in,
    stage_id,
)
from tests.ui.browser.fake_openai import fake_openai
from tests.ui.browser.workflows import BROKEN, FAILING, SLEEP
from tests.ui.routes import PAGES, ui_rules, url_map

DOCS = Path(__file__).resolve().parents[3] / "docs"
BLOCKING = ("serious", "critical")
AXE_SCRIPT = Axe().axe_script  # axe-core (MPL-2.0) as axe-playwright-python bundles it
# What every screenshot is taken with, so that refreshed ones differ only where the UI did.
STEADY = {"timezone_id": "UTC", "locale": "en-US"}


@dataclass(frozen=True)
class Runs:
    """One run in each state, started in the order the board lists them (newest first)."""

    completed: str
    failed: str
    cancelled: str
    running: str
    waiting: str
    plan_stage: str  # the completed run's model stage, for the stage page


@pytest.fixture(scope="module")
def fabro(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fabro]:
    """This module's own server (it overrides the package's), whose model stages call a fake
    OpenAI endpoint that reports tokens, so that the usage page has something to show."""
    with fake_openai() as base_url:
        env = {"OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "test-key"}
        env |= {"FABRO_PROVIDER": "openai", "FABRO_MODEL": "gpt-5.4"}
        with serving(tmp_path_factory.mktemp("pages-server"), env) as running:
            yield running


@pytest.fixture(scope="module")
def signed_in(browser: Browser, fabro: Fabro) -> StorageState:
    return sign_in(browser, fabro)


@pytest.fixture(scope="module")
def runs(fabro: Fabro, browser: Browser, signed_in: StorageState) -> Iterator[Runs]:
    labels = {"team": "web", "ticket": "FAB-16"}
    completed = fabro.start_run(workflow="hello", title="Say hello to the team", labels=labels)
    fabro.answer(completed, "Y")
    failed = fabro.start_run(FAILING, title="Nightly checks")
    cancelled = fabro.start_run(SLEEP, title="Long import (cancelled)")
    running = fabro.start_run(SLEEP, title="Import the archive", labels={"team": "data"})
    waiting = fabro.start_run(workflow="hello", title="Release notes 2.4", labels=labels)
    fabro.wait_for_run(cancelled, lambda run: run.get("current_node") == "nap")
    fabro.cancel(cancelled)
    for run_id, status in ((completed, "completed"), (failed, "failed"), (cancelled, "cancelled")):
        fabro.wait_for_run(run_id, lambda run, status=status: run["status"] == status)
    fabro.wait_for_run(running, lambda run: run.get("current_node") == "nap")
    fabro.wait_for_question(waiting)
    # One schedule for the schedules page's table (monthly, so it never fires mid-test in
    # practice; a fire would only add a run).
    schedule = {"cron": "0 6 1 * *", "title": "Monthly release notes", "labels": labels}
    response = fabro.http.post("/workflows/hello/schedules", json=schedule)
    assert response.status_code == 201, response.text
    context = browser.new_context(base_url=fabro.url, storage_state=signed_in)
    page = context.new_page()
    page.goto(f"/ui/runs/{completed}")
    plan_stage = stage_id(page, "plan")
    context.close()
    yield Runs(completed, failed, cancelled, running, waiting, plan_stage)
    for run_id in (running, waiting):
        fabro.cancel(run_id)


# The GET rules under /ui/ that answer with no page of their own (each says what it is
# instead); any other is a page, and must be in PAGES (test_every_page_is_checked).
NOT_PAGES = {
    "ui.static": "the stylesheet, scripts and icons",
    "ui.signin_link": "signs in, then redirects to the board",
    "ui.board_card": "one card, which the board's script swaps in",
    "ui.board_cards": "a column's next cards (Show more)",
    "ui.board_events": "the board's Server-Sent Events",
    "ui.run_live": "the run page's live parts, which its script swaps in",
}


def page_paths(runs: Runs) -> dict[str, str]:
    paths = {
        "board": "/ui/",
        "run": f"/ui/runs/{runs.waiting}",
        "stage": f"/ui/runs/{runs.completed}/stages/{runs.plan_stage}",
        "new-run": "/ui/runs/new",
        "workflows": "/ui/workflows",
        "workflow": "/ui/workflows/hello",
        "schedules": "/ui/workflows/hello/schedules",
        "usage": "/ui/usage",
        "audit": "/ui/audit",
        "signin": "/ui/signin",
    }
    assert tuple(paths) == PAGES
    return paths


def settle(page: Page, name: str) -> None:
    """Bring a page to the state worth checking and showing."""
    if name == "new-run":  # with a diagnostic showing, as when a user makes a mistake
        page.get_by_label("Paste DOT").check()
        page.get_by_label("DOT source", exact=True).fill(BROKEN)
        expect(page.locator("#source-view .line-error")).to_have_count(1)
    elif name == "run":
        expect(page.locator("#run-questions .question-text")).to_be_visible()
    elif name == "board":
        expect(page.locator(".board-card").first).to_be_visible()
    elif name == "schedules":
        expect(page.locator("#schedules tbody time[data-localised]")).to_have_count(1)
    elif name == "audit":
        expect(page.locator("#audit-table tbody time[data-localised]").first).to_be_visible()
    page.evaluate("document.fonts.ready")


def serious(page: Page) -> list[str]:
    """axe-core's serious and critical violations on ``page``, one line each."""
    response: dict[str, Any] = page.evaluate("axe.run({resultTypes: ['violations']})")
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']} at "
        + ", ".join(str(node["target"]) for node in violation["nodes"][:5])
        for violation in response["violations"]
        if violation["impact"] in BLOCKING
    ]


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = os.environ.get("FABRO_SCREENSHOTS")
    return Path(folder) if folder else tmp_path_factory.mktemp("screenshots")


VARIANTS = {
    "light-desktop": {"color_scheme": "light", "viewport": DESKTOP},
    "dark-desktop": {"color_scheme": "dark", "viewport": DESKTOP},
    "light-phone": {"color_scheme": "light", "viewport": PHONE},
    "dark-phone": {"color_scheme": "dark", "viewport": PHONE},
}
# What each variant photographs besides running axe-core on every page: page names (None: all
# of them) and the suffix of their PNG files.
SHOOT: dict[str, tuple[set[str] | None, str]] = {
    "light-desktop": (None, ""),
    "dark-desktop": ({"board"}, "-dark"),
    "light-phone": ({"board"}, "-phone"),
    "dark-phone": (set(), ""),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_page_passes_axe_core(
    variant: str,
    browser: Browser,
    fabro: Fabro,
    signed_in: StorageState,
    runs: Runs,
    watch: Watch,
    shots: Path,
) -> None:
    options = VARIANTS[variant] | STEADY
    found: dict[str, list[str]] = {}
    contexts = [
        new_context(browser, fabro, watch, signed_in, **options),
        new_context(browser, fabro, watch, None, **options),
    ]
    try:
        # axe-core arrives with every document (an init script is not subject to the CSP,
        # and is cheaper than evaluating the 500 KB script after each load).
        for context in contexts:
            context.add_init_script(script=AXE_SCRIPT)
        signed, anonymous = (context.new_page() for context in contexts)
        for name, path in page_paths(runs).items():
            page = anonymous if name == "signin" else signed
            response = page.goto(path)
            assert response is not None and response.status == 200, f"{path}: {response}"
            settle(page, name)
            if problems := serious(page):
                found[name] = problems
            wanted, suffix = SHOOT[variant]
            if wanted is None or name in wanted:
                page.screenshot(path=shots / f"{name}{suffix}.png", animations="disabled")
            if wanted is None and name == "run":  # and its graph, below the fold
                page.evaluate("document.getElementById('graph-heading').scrollIntoView()")
                page.screenshot(path=shots / "run-graph.png", animations="disabled")
    finally:
        for context in contexts:
            context.close()
    assert found == {}, "axe-core found serious violations:\n" + "\n".join(
        f"{name}: {line}" for name, lines in found.items() for line in lines
    )
    watch.check()


def test_every_page_is_checked() -> None:
    """Each GET rule under /ui/ that renders a page (all but NOT_PAGES) is one of PAGES, so a
    page added later is checked by axe-core and photographed, or this fails."""
    sample = Runs(*(f"sample-{name}" for name in ("c", "f", "x", "r", "w", "s")))
    adapter = url_map().bind("localhost")
    opened = [adapter.match(path, "GET")[0] for path in page_paths(sample).values()]
    served = {rule.endpoint: rule.rule for rule in ui_rules("GET")}
    assert set(NOT_PAGES) <= set(served), "NOT_PAGES names a rule that is gone"
    unchecked = sorted(
        rule for endpoint, rule in served.items() if endpoint not in {*opened, *NOT_PAGES}
    )
    assert unchecked == [], f"pages that test_pages.py never opens (add them to PAGES): {unchecked}"
    assert len(set(opened)) == len(PAGES), "two of PAGES are the same page"


def screenshot_names() -> list[str]:
    return [
        f"{name}{suffix}"
        for wanted, suffix in SHOOT.values()
        for name in PAGES
        if wanted is None or name in wanted
    ] + ["run-graph"]


def test_the_docs_show_every_screenshot() -> None:
    text = (DOCS / "ui.md").read_text(encoding="utf-8")
    for name in screenshot_names():
        assert f"](images/ui/{name}.png)" in text, f"docs/ui.md does not show {name}.png"
        assert (DOCS / "images" / "ui" / f"{name}.png").is_file(), "run scripts/screenshots"
    kept = sorted(path.stem for path in (DOCS / "images" / "ui").glob("*.png"))
    assert kept == sorted(screenshot_names()), "docs/images/ui/ holds a picture no test takes"
