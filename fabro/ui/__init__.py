"""The web UI, served by `fabro serve` under /ui/ (docs/ui.md).

Server-rendered Jinja pages with small hand-written scripts for live updates; no build step.
Every page and form works with JavaScript off except what is live by nature (the board
moving, graph colours changing): those reload on a plain refresh. The pages call the same
functions as the API, with the same checks; a form's POST carries a CSRF token.
"""

from __future__ import annotations

from quart import Quart

from fabro.ui.blueprint import ui


def register_ui(app: Quart) -> None:
    """Add the UI's pages, static files and headers to ``app``."""
    # Imported for their routes on the blueprint.
    from fabro.ui import (  # noqa: F401
        audit_page,
        auth,
        board,
        new_run,
        run_page,
        schedules_page,
        templating,
        usage_page,
        workflows_pages,
    )

    app.register_blueprint(ui)
