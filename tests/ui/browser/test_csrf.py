"""A POST without the session's CSRF token is refused, from a form and from a script."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.ui.browser.conftest import Fabro

GATE = """digraph Gate {
  start [shape=Mdiamond]
  ask [shape=hexagon, label="Proceed?"]
  exit [shape=Msquare]
  start -> ask
  ask -> exit [label="[Y] Yes"]
}"""


def test_a_form_whose_token_was_removed_is_refused(page: Page) -> None:
    page.goto("/ui/")
    signout = page.locator("form.signout")
    signout.locator('input[name="csrf_token"]').evaluate("input => input.remove()")
    signout.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("alert")).to_contain_text("CSRF token")
    page.goto("/ui/")  # still signed in: the refused POST changed nothing
    expect(page.locator("header .who")).to_be_visible()


def test_a_script_post_without_the_header_is_refused(page: Page, fabro: Fabro) -> None:
    run_id = fabro.start_run(GATE)
    try:
        page.goto("/ui/")
        refused = page.request.post(f"/runs/{run_id}/cancel")
        assert refused.status == 403
        assert "CSRF" in refused.json()["errors"][0]["detail"]
        refused = page.request.post("/ui/signout", form={"csrf_token": "0" * 64})
        assert refused.status == 403
        token = page.locator('meta[name="csrf-token"]').get_attribute("content")
        assert token
        accepted = page.request.post(f"/runs/{run_id}/cancel", headers={"X-CSRF-Token": token})
        assert accepted.ok, accepted.text()
        fabro.wait_for_run(run_id, lambda run: run["status"] == "cancelled")
    finally:
        fabro.cancel(run_id)
