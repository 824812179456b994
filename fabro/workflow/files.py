"""`@file` references in the graph goal and node prompts (workflow-language.md §10).

A reference is a property of a workflow file on disk: it names a file inside the workflow's own
folder. The path is resolved (symlinks followed) and then checked, so `~`, absolute paths and
`..` or symlinks leading out of the folder are refused; such a reference stays as written and
validation reports it (`unresolved_file_ref`). Values that arrive in a request are never read.
"""

from __future__ import annotations

from pathlib import Path

from fabro.workflow.errors import WorkflowSourceError
from fabro.workflow.model import Graph
from fabro.workflow.value import Value


def file_inside(name: str, base_dir: Path) -> Path | None:
    """The existing file `name` (relative) resolves to inside `base_dir`, or None.

    Symlinks are followed before the check; `~`, absolute paths and anything that leads out of
    the folder give None.
    """
    if not name or name.startswith("~") or Path(name).is_absolute():
        return None
    try:
        folder = base_dir.resolve(strict=True)
        path = (folder / name).resolve(strict=True)
    except (OSError, ValueError, RuntimeError):
        return None
    return path if path.is_relative_to(folder) and path.is_file() else None


def read_reference(text: str, base_dir: Path) -> str | None:
    """The contents of the file `@path` names inside `base_dir`, or None (unreadable, outside)."""
    path = file_inside(text[1:].strip(), base_dir)
    if path is None:
        return None
    try:
        content = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
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


def goal_option(goal: str | None) -> str | None:
    """The CLI's `--goal`: `@file` is the local user's own file (relative to the current folder).

    Raises WorkflowSourceError when it cannot be read.
    """
    if goal is None or not goal.startswith("@"):
        return goal
    path = Path(goal[1:]).expanduser()
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise WorkflowSourceError(f"Cannot read goal file {path}: {reason}") from None
