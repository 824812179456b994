"""Times show in the viewer's time zone, with the exact stored time on hover."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from playwright.sync_api import Browser, Locator, StorageState

from tests.ui.browser.conftest import Fabro, Watch, new_context
from tests.ui.browser.workflows import GATE


def clock(iso: str, zone: str) -> str:
    """The wall-clock time of ``iso`` in ``zone`` as en-US writes it (`8:52:23 PM`)."""
    local = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(ZoneInfo(zone))
    return local.strftime("%I:%M:%S %p").lstrip("0")


def local_text(shown: Locator) -> str:
    """The text common.js wrote into a `<time>` once it has localised it."""
    shown.page.wait_for_function(
        "element => element.dataset.localised === '1'", arg=shown.element_handle()
    )
    return " ".join(shown.inner_text().split())  # ICU may write a narrow no-break space


def test_a_run_s_times_are_in_the_viewer_s_zone(
    browser: Browser, fabro: Fabro, signed_in: StorageState, watch: Watch
) -> None:
    run_id = fabro.start_run(GATE)
    created = fabro.run(run_id)["created_at"]
    try:
        for zone in ("Asia/Tokyo", "America/New_York"):
            context = new_context(
                browser, fabro, watch, signed_in, timezone_id=zone, locale="en-US"
            )
            page = context.new_page()
            page.goto(f"/ui/runs/{run_id}")
            shown = page.locator(f'.run-facts time[datetime="{created}"]').first
            text = local_text(shown)
            assert clock(created, zone) in text, (zone, text)
            assert shown.get_attribute("title") == created
            context.close()
    finally:
        fabro.cancel(run_id)
    watch.check()


def test_the_audit_log_s_times_are_in_the_viewer_s_zone(
    browser: Browser, fabro: Fabro, signed_in: StorageState, watch: Watch
) -> None:
    run_id = fabro.start_run(GATE)  # a POST: at least one record
    fabro.cancel(run_id)
    newest = fabro.http.get("/audit-logs", params={"page[limit]": 1}).json()["data"][0]["at"]
    context = new_context(
        browser, fabro, watch, signed_in, timezone_id="Asia/Tokyo", locale="en-US"
    )
    page = context.new_page()
    page.goto("/ui/audit")
    text = local_text(page.locator(f'#audit-table time[datetime="{newest}"]').first)
    assert clock(newest, "Asia/Tokyo") in text, text
    context.close()
    watch.check()
