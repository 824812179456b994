"""Resolve a workflow argument to a DOT file (cli.md §2, items 1-4).

1. an existing `.dot` / `.fabro` file;
2. an existing `.toml` run configuration (`graph` = DOT path relative to it, plus `goal`,
   `[vars]` and the other keys of `workflow.toml`);
3. a registry name `[A-Za-z0-9_-]+` with a folder holding `workflow.dot` (or `workflow.fabro`)
   and an optional `workflow.toml`;
4. otherwise `WorkflowSourceError` (the CLI exits 2).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from fabro.home import expand_home
from fabro.workflow.errors import WorkflowSourceError
from fabro.workflow.prepare import read_source

DOT_SUFFIXES: Final = (".dot", ".fabro")
RUN_CONFIG_KEYS: Final = frozenset(
    {"version", "name", "description", "goal", "directory", "llm", "vars", "labels", "graph"}
)
_REGISTRY_NAME = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class WorkflowSource:
    """A resolved workflow: the DOT file and text, and what a run configuration contributes."""

    path: Path
    text: str
    goal: str | None = None
    vars: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    config_path: Path | None = None
    warnings: tuple[str, ...] = ()


def registry_dir(
    workflows_dir: Path | None, data_dir: Path | None, env: Mapping[str, str] | None = None
) -> Path:
    """`--workflows-dir`, else FABRO_WORKFLOWS_DIR, else `<data_dir>/workflows`."""
    env = os.environ if env is None else env
    if workflows_dir is not None:
        return workflows_dir
    if env.get("FABRO_WORKFLOWS_DIR"):
        return expand_home(env["FABRO_WORKFLOWS_DIR"], env)
    return expand_home(data_dir or env.get("FABRO_DATA_DIR") or "~/.fabro", env) / "workflows"


def resolve_workflow(argument: str, *, registry: Path | None = None) -> WorkflowSource:
    """Resolve a CLI workflow argument; raises WorkflowSourceError with the CLI's message."""
    path = Path(argument)
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix in DOT_SUFFIXES:
            return WorkflowSource(path, _read(path))
        if suffix == ".toml":
            return _from_run_config(path)
        raise WorkflowSourceError(
            f"Unsupported workflow file: {argument} (expected .dot, .fabro or .toml)"
        )
    if registry is not None and _REGISTRY_NAME.fullmatch(argument):
        folder = registry / argument
        for name in ("workflow.dot", "workflow.fabro"):
            dot = folder / name
            if dot.is_file():
                return _from_registry(folder, dot)
    raise WorkflowSourceError(f"Workflow not found: {argument}")


def _read(path: Path) -> str:
    try:
        return read_source(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise WorkflowSourceError(f"Cannot read {path}: {exc}") from None


def _load_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(_read(path))
    except tomllib.TOMLDecodeError as exc:
        raise WorkflowSourceError(f"Invalid run configuration {path}: {exc}") from None


def _config_fields(config: dict[str, Any], path: Path) -> tuple[str | None, dict[str, str]]:
    goal = config.get("goal")
    if goal is not None and not isinstance(goal, str):
        raise WorkflowSourceError(f"Invalid run configuration {path}: 'goal' must be a string")
    raw_vars = config.get("vars", {})
    if not isinstance(raw_vars, dict):
        raise WorkflowSourceError(f"Invalid run configuration {path}: [vars] must be a table")
    return goal, {str(key): str(value) for key, value in raw_vars.items()}


def _from_run_config(path: Path) -> WorkflowSource:
    config = _load_toml(path)
    graph = config.get("graph")
    if not isinstance(graph, str) or not graph:
        raise WorkflowSourceError(f"Invalid run configuration {path}: 'graph' is required")
    dot = path.parent / graph
    if not dot.is_file():
        raise WorkflowSourceError(f"Workflow not found: {dot}")
    goal, variables = _config_fields(config, path)
    warnings = tuple(
        f"{path}: ignoring unsupported run configuration key '{key}'"
        for key in config
        if key not in RUN_CONFIG_KEYS
    )
    return WorkflowSource(dot, _read(dot), goal, variables, config, path, warnings)


def _from_registry(folder: Path, dot: Path) -> WorkflowSource:
    toml = folder / "workflow.toml"
    config = _load_toml(toml) if toml.is_file() else {}
    goal, variables = _config_fields(config, toml)
    return WorkflowSource(dot, _read(dot), goal, variables, config, toml if config else None)
