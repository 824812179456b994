"""`@file` references in the graph goal and node prompts (workflow-language.md §10)."""

from __future__ import annotations

from pathlib import Path

from fabro.workflow.model import Graph
from fabro.workflow.value import Value


def read_reference(text: str, base_dir: Path) -> str | None:
    """The contents of the file `@path` names (relative to `base_dir`), or None if unreadable."""
    try:
        path = Path(text[1:].strip()).expanduser()
        if not path.is_absolute():
            path = base_dir / path
        content = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError, ValueError, RuntimeError):
        return None
    return content.removeprefix("\ufeff")


def inline_file_references(graph: Graph, base_dir: Path) -> None:
    """Replace `@path` goals and prompts by the file's contents; unreadable ones stay as written."""
    goal = graph.attrs.get("goal")
    if goal is not None:
        graph.attrs["goal"] = _inlined(goal, base_dir)
    for node in graph.nodes.values():
        prompt = node.attrs.get("prompt")
        if prompt is not None:
            node.attrs["prompt"] = _inlined(prompt, base_dir)


def _inlined(value: Value, base_dir: Path) -> Value:
    if not value.text.startswith("@"):
        return value
    content = read_reference(value.text, base_dir)
    return value if content is None else value.with_text(content)
