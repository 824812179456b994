"""Signing in from a browser: the printed link works once; the session cookie is locked down."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from tests.ui.browser.conftest import USER, Fabro, Watch, new_context, sign_in


def test_the_printed_link_signs_in_once(browser: Browser, fabro: Fabro, watch: Watch) -> None:
    link = fabro.signin_link
    assert link.startswith(f"{fabro.url}/ui/signin/link?token=")

    first = new_context(browser, fabro, watch, None)
    page = first.new_page()
    page.goto(link)
    expect(page).to_have_url(f"{fabro.url}/ui/")  # the token leaves the address bar
    expect(page.locator("header .who")).to_have_text(USER)
    (cookie,) = [c for c in first.cookies() if c["name"] == "fabro_session"]
    assert (cookie["httpOnly"], cookie["sameSite"], cookie["secure"]) == (True, "Strict", False)
    first.close()

    second = new_context(browser, fabro, watch, None)
    page = second.new_page()
    response = page.goto(link)
    assert response is not None and response.status == 401
    expect(page.get_by_role("alert")).to_contain_text("already used")
    expect(page.locator("header .who")).to_have_count(0)
    second.close()
    watch.check()


def test_a_page_without_a_session_sends_the_browser_to_sign_in(
    anonymous_page: Page, fabro: Fabro
) -> None:
    page = anonymous_page
    page.goto("/")  # a browser asking the root for HTML is sent to the UI
    expect(page).to_have_url(f"{fabro.url}/ui/signin?next=/ui/")
    expect(page.get_by_role("heading", name="Sign in to fabro")).to_be_visible()


def test_a_wrong_pasted_token_is_refused_with_its_reason(anonymous_page: Page) -> None:
    page = anonymous_page
    page.goto("/ui/signin")
    page.get_by_label("JWT").fill("not-a-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.locator("header .who")).to_have_count(0)


def test_signing_out_revokes_the_session_everywhere(
    browser: Browser, fabro: Fabro, watch: Watch
) -> None:
    state = sign_in(browser, fabro)  # a session of its own: the shared one stays signed in
    first = new_context(browser, fabro, watch, state)
    copy = new_context(browser, fabro, watch, state)  # the same cookie, kept elsewhere
    page = first.new_page()
    page.goto("/ui/")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{fabro.url}/ui/signin")
    other = copy.new_page()
    other.goto("/ui/usage")
    expect(other).to_have_url(re.compile(r"/ui/signin\?next="))
    first.close()
    copy.close()
    watch.check()
