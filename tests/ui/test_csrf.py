"""Every form of the UI needs its session's CSRF token: each POST rule under /ui/ (read off
the url_map, so a form added later is covered by itself) refuses a signed-in session's request
without it. The sign-in form, before any session, has its own check (test_auth.py)."""

from __future__ import annotations

import pytest
from markupsafe import escape
from quart.typing import TestClientProtocol as Client
from werkzeug.routing import Rule

from fabro.ui.auth import BAD_CSRF
from tests.ui.routes import sample_path, ui_rules

OWN_CHECK = "ui.signin_submit"  # a double-submit cookie, as no session exists yet
FORMS = [rule for rule in ui_rules("POST") if rule.endpoint != OWN_CHECK]


def test_the_forms_are_found() -> None:
    endpoints = {rule.endpoint for rule in FORMS}
    assert {"ui.signout", "ui.add_schedule", "ui.schedule_action", "ui.run_action"} <= endpoints
    assert OWN_CHECK in {rule.endpoint for rule in ui_rules("POST")}


@pytest.mark.parametrize("rule", FORMS, ids=lambda rule: rule.endpoint)
async def test_a_post_without_the_csrf_token_is_refused(
    rule: Rule, ui_client: Client, ui_csrf: str
) -> None:
    path = sample_path(rule)
    for form in ({}, {"csrf_token": "0" * 64}):
        refused = await ui_client.post(path, form=form)
        assert refused.status_code == 403, (path, form)
        assert escape(BAD_CSRF) in await refused.get_data(as_text=True)
    # With the token the same request gets past the check (its answer is the route's own).
    accepted = await ui_client.post(path, form={"csrf_token": ui_csrf})
    assert accepted.status_code != 403, (path, await accepted.get_data(as_text=True))
