"""Browser fixtures: a real `fabro serve` and Debian's Chromium driven by Playwright (sync API).

One zero-config server (temporary HOME, simulated LLM) and one browser serve the whole
package; each test gets a fresh browser context, already signed in (``page``) or not
(``anonymous_page``). The server is a subprocess, so the tests are plain sync functions that
wait with ``expect(...)`` and deadlines, never with sleeps.

Chromium is Debian's (``/usr/bin/chromium``, or ``FABRO_CHROMIUM``), installed by
scripts/_setup.sh: Playwright's own browser download is never used. Without it every test here
fails with one line saying so, rather than skipping out of sight.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Dialog,
    Page,
    Playwright,
    StorageState,
    expect,
    sync_playwright,
)

from bench.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.serverproc import ServerProcess, start_server
from tests.ui.browser.workflows import write_registry

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
WAIT_MS = 10_000  # the longest any single expectation waits (a loaded machine is slow)
SIGNIN_LINE = "Sign in to the web UI: "
USER = "alice"
SERVER_ENV = {
    # No provider key reaches the server: agent and prompt stages use the simulated LLM.
    "ANTHROPIC_API_KEY": "",
    "OPENAI_API_KEY": "",
    "OPENAI_BASE_URL": "",
    # The zero-config user is the OS user (getpass reads LOGNAME first): the same on every
    # machine, so that the screenshots show the same name.
    "LOGNAME": USER,
    "USER": USER,
    # Runs a test leaves waiting must never hold up another test's runs.
    "FABRO_MAX_CONCURRENT_RUNS": "50",
}
TERMINAL = frozenset({"completed", "failed", "cancelled"})

expect.set_options(timeout=WAIT_MS)


@dataclass
class Fabro:
    """The server under test: its URL, the banner's token and sign-in link, and API helpers."""

    server: ServerProcess
    token: str
    _http: httpx.Client | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return self.server.url.rstrip("/")

    @property
    def signin_link(self) -> str:
        """The sign-in link the zero-config banner printed (one line, after the token)."""
        for line in self.server.stdout.splitlines():
            if line.strip().startswith(SIGNIN_LINE):
                return line.strip().removeprefix(SIGNIN_LINE).strip()
        pytest.fail(f"the zero-config banner prints no '{SIGNIN_LINE}...' line", pytrace=False)

    @property
    def http(self) -> httpx.Client:
        if self._http is None:
            self._http = self.server.client(token=self.token)
        return self._http

    def start_run(self, dot: str | None = None, **body: Any) -> str:
        """Start a run of ``dot`` (or of ``workflow=SLUG``) through the API, as the printed
        token's user; its id."""
        if dot is not None:
            body["dot_source"] = dot
        response = self.http.post("/runs", json=body)
        assert response.status_code in (200, 201), response.text
        run_id: str = response.json()["id"]
        return run_id

    def run(self, run_id: str) -> dict[str, Any]:
        response = self.http.get(f"/runs/{run_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def wait_for_run(
        self, run_id: str, until: Callable[[dict[str, Any]], bool], timeout_s: float = 15.0
    ) -> dict[str, Any]:
        """Poll the run until ``until(run)`` holds; fail with its last state after the deadline."""
        deadline = time.monotonic() + timeout_s
        while True:
            run = self.run(run_id)
            if until(run):
                return run
            if time.monotonic() > deadline:
                pytest.fail(f"run {run_id} never got there: {run}", pytrace=False)
            time.sleep(0.05)

    def wait_for_question(self, run_id: str) -> dict[str, Any]:
        run = self.wait_for_run(run_id, lambda run: "pending_question" in run)
        question: dict[str, Any] = run["pending_question"]
        return question

    def answer(self, run_id: str, option_key: str) -> None:
        """Answer the run's pending question with one of its options, through the API."""
        qid = self.wait_for_question(run_id)["id"]
        response = self.http.post(
            f"/runs/{run_id}/questions/{qid}/answer", json={"selected_option_key": option_key}
        )
        assert response.status_code < 300, response.text

    def cancel(self, run_id: str) -> None:
        """Best-effort cleanup of a run a test leaves behind."""
        if self.run(run_id)["status"] not in TERMINAL:
            self.http.post(f"/runs/{run_id}/cancel")

    def close(self) -> None:
        if self._http is not None:
            self._http.close()


def banner_token(stdout: str) -> str:
    for line in stdout.splitlines():
        if line.startswith("    eyJ"):
            return line.strip()
    raise AssertionError(f"no token in the zero-config banner:\n{stdout}")


@contextmanager
def serving(workdir: Path, env: dict[str, str] | None = None) -> Iterator[Fabro]:
    """A zero-config `fabro serve` on 127.0.0.1 (free port, temporary HOME and data dir) whose
    registry holds the workflows of ``workflows.REGISTRY``; stopped on the way out. ``env``
    adds to (or overrides) SERVER_ENV."""
    registry = write_registry(workdir / "workflows")
    server_env = SERVER_ENV | {"FABRO_WORKFLOWS_DIR": str(registry)} | (env or {})
    server = start_server(workdir, env=server_env)
    running = Fabro(server=server, token=banner_token(server.stdout))
    try:
        yield running
    finally:
        running.close()
        server.stop()


def sign_in(browser: Browser, fabro: Fabro) -> StorageState:
    """A session cookie for the banner's user, from pasting the banner's token on the sign-in
    page (the printed sign-in link itself is used once, by its own test)."""
    context = browser.new_context(base_url=fabro.url)
    try:
        page = context.new_page()
        page.goto("/ui/signin")
        page.get_by_label("JWT").fill(fabro.token)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{fabro.url}/ui/")
        return context.storage_state()
    finally:
        context.close()


@pytest.fixture(scope="package")
def fabro(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fabro]:
    """The server the tests of this package share (each test looks only at its own runs)."""
    with serving(tmp_path_factory.mktemp("browser-server")) as running:
        yield running


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"Chromium is missing at {CHROMIUM}: scripts/test installs it with apt-get "
            "(apt-get install chromium), or set FABRO_CHROMIUM to a Chromium binary",
            pytrace=False,
        )
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    # Playwright gives every launch a fresh, empty user-data dir of its own.
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="package")
def signed_in(browser: Browser, fabro: Fabro) -> StorageState:
    return sign_in(browser, fabro)


@dataclass
class Watch:
    """What a page did that no test wants: dialogs (an injected alert) and CSP violations."""

    dialogs: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)

    def attach(self, context: BrowserContext) -> None:
        def on_page(page: Page) -> None:
            page.on("dialog", self.on_dialog)
            page.on("console", self.on_console)

        context.on("page", on_page)

    def on_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            self.csp_violations.append(message.text)

    def check(self) -> None:
        assert self.dialogs == [], f"a page opened a dialog: {self.dialogs}"
        assert self.csp_violations == [], f"the CSP refused something: {self.csp_violations}"


@pytest.fixture
def watch() -> Watch:
    return Watch()


def new_context(
    browser: Browser,
    fabro: Fabro,
    watch: Watch,
    state: StorageState | None,
    **options: Any,
) -> BrowserContext:
    options.setdefault("viewport", DESKTOP)
    context = browser.new_context(base_url=fabro.url, storage_state=state, **options)
    context.set_default_timeout(WAIT_MS)
    watch.attach(context)
    return context


@pytest.fixture
def context(
    browser: Browser, fabro: Fabro, signed_in: StorageState, watch: Watch
) -> Iterator[BrowserContext]:
    """A fresh context (1280x800, light) holding the signed-in session."""
    context = new_context(browser, fabro, watch, signed_in)
    yield context
    context.close()
    watch.check()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def anonymous_page(browser: Browser, fabro: Fabro, watch: Watch) -> Iterator[Page]:
    """A page in a fresh context with no session."""
    context = new_context(browser, fabro, watch, None)
    yield context.new_page()
    context.close()
    watch.check()


def stage_id(page: Page, node_id: str) -> str:
    """The id of the latest stage of ``node_id``, read off the run page open in ``page``."""
    item = page.locator(f'#run-stages li.stage-item[data-node-id="{node_id}"]').last
    value = item.get_attribute("data-stage-id")
    assert value, f"no stage of {node_id} on the page"
    return value


def mark(page: Page) -> None:
    """Mark the document, so that ``same_document`` can tell whether it was reloaded."""
    page.evaluate("window.fabroTestMark = 1")


def same_document(page: Page) -> bool:
    """Whether ``page`` still shows the document ``mark`` marked (no reload, no navigation)."""
    marked: bool = page.evaluate("window.fabroTestMark === 1")
    return marked
