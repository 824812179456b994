"""What every UI template can call: navigation, statuses as text and icon, the CSRF token."""

from __future__ import annotations

from typing import Any

from quart import current_app

from fabro.ui import audit_page, auth
from fabro.ui.blueprint import ui

# (endpoint, label) in the order of the navigation bar; a page not built yet is left out.
NAV = (
    ("ui.board", "Runs"),
    ("ui.new_run", "New run"),
    ("ui.workflows", "Workflows"),
    ("ui.usage", "Usage"),
    ("ui.audit", "Audit log"),
)

# Every status a run, stage or question can show: an icon (hidden from screen readers) and
# the words read out. Colour (app.css, `.status-<name>`) is only the third cue.
STATUS = {
    "queued": ("○", "Queued"),
    "starting": ("◔", "Starting"),
    "running": ("●", "Running"),
    "waiting": ("?", "Waiting for a person"),
    "paused": ("⏸", "Paused"),
    "completed": ("✓", "Completed"),
    "succeeded": ("✓", "Succeeded"),
    "success": ("✓", "Success"),
    "partial_success": ("◐", "Partial success"),
    "failed": ("✗", "Failed"),
    "fail": ("✗", "Failed"),
    "cancelled": ("⊘", "Cancelled"),
    "skipped": ("–", "Skipped"),
    "retry": ("↻", "Retrying"),
    "pending": ("○", "Pending"),
    "blocked": ("■", "Blocked"),
}


def status_icon(status: str) -> str:
    return STATUS.get(status, ("•", status))[0]


def status_label(status: str) -> str:
    return STATUS.get(status, ("•", status.replace("_", " ").capitalize()))[1]


def nav_links() -> list[tuple[str, str]]:
    return [
        (endpoint, label)
        for endpoint, label in NAV
        if endpoint in current_app.view_functions and _shown(endpoint)
    ]


def _shown(endpoint: str) -> bool:
    """Whether the signed-in principal may open the page (a viewer sees no "New run")."""
    if endpoint == "ui.new_run":
        return auth.can_act()
    return endpoint != "ui.audit" or audit_page.is_admin()


@ui.app_context_processor
def ui_globals() -> dict[str, Any]:
    return {
        "nav_links": nav_links,
        "status_icon": status_icon,
        "status_label": status_label,
        "csrf_token": auth.csrf_token,
        "signed_in_as": auth.signed_in_as,
        "can_act": auth.can_act,
    }
