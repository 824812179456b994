"""The web UI's URL rules, read off a real app's url_map: tests that must cover every page or
every form walk these, so that a page or form added later is covered (or fails) by itself."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from werkzeug.routing import Map, Rule

from fabro.app import create_app
from fabro.config import Settings

# Every page, by the name of its screenshot; the sign-in page is seen signed out.
PAGES = (
    "board",
    "run",
    "stage",
    "new-run",
    "workflows",
    "workflow",
    "schedules",
    "usage",
    "audit",
    "signin",
)


@cache
def url_map() -> Map:
    """The app's rules (built, never served: nothing is opened, so no folder is needed)."""
    unused = Path("/nonexistent")
    return create_app(Settings(data_dir=unused, workflows_dir=unused)).url_map


def ui_rules(method: str) -> list[Rule]:
    """The rules under /ui/ that answer ``method``, in the map's order."""
    return [
        rule
        for rule in url_map().iter_rules()
        if rule.rule.startswith("/ui/") and method in (rule.methods or ())
    ]


def sample_path(rule: Rule) -> str:
    """A path ``rule`` matches, each of its variables ``sample-NAME``."""
    adapter = url_map().bind("localhost")
    return adapter.build(rule.endpoint, {name: f"sample-{name}" for name in rule.arguments})
