"""The workflows registry (api.md §7): one sub-folder of `workflows_dir` per workflow.

Pure file logic, scanned afresh on every call so that edits show up without a restart. A
folder named `[A-Za-z0-9_-]+` holding `workflow.dot` (or, if absent, `workflow.fabro`) is a
workflow whose slug is the folder name; an optional `workflow.toml` holds its run configuration.
"""

from __future__ import annotations

import logging
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from fabro.errors import BadRequest
from fabro.workflow.errors import WorkflowError
from fabro.workflow.model import Graph
from fabro.workflow.parser import parse_graph
from fabro.workflow.prepare import read_source

log = logging.getLogger(__name__)

SLUG: Final = re.compile(r"[A-Za-z0-9_-]+")
DOT_FILENAMES: Final = ("workflow.dot", "workflow.fabro")
CONFIG_FILENAME: Final = "workflow.toml"
_STRING_KEYS: Final = ("name", "description", "goal", "directory")
_TABLE_KEYS: Final = ("vars", "labels")
_LLM_KEYS: Final = ("model", "provider")


class WorkflowConfigError(BadRequest):
    """A `workflow.toml` that cannot be used; its detail names the file and the problem.

    A 400 because it surfaces when a client starts the workflow (`POST /runs`).
    """


@dataclass(frozen=True)
class RegistryWorkflow:
    """One registry workflow: where it lives, its DOT text and its validated configuration."""

    slug: str
    folder: Path
    filename: str
    dot_path: Path
    text: str
    config: dict[str, Any] = field(default_factory=dict)
    # Set (and `config` left empty) when workflow.toml is invalid: listing still shows the
    # workflow, starting it reports this problem.
    config_error: str | None = None

    def graph(self) -> Graph | None:
        """The parsed graph, or None when the DOT does not parse (it is listed all the same)."""
        try:
            return parse_graph(self.text, file=str(self.dot_path))
        except (WorkflowError, RecursionError):
            return None

    def display_name(self, graph: Graph | None) -> str:
        """`workflow.toml` name, else the graph label, else the digraph name, else the slug."""
        name = self.config.get("name")
        if name:
            return str(name)
        if graph is not None:
            return graph.label or graph.name or self.slug
        return self.slug

    def description(self, graph: Graph | None) -> str:
        """`workflow.toml` description, else the graph goal, else `""`."""
        text = self.config.get("description")
        if text:
            return str(text)
        return graph.goal if graph is not None else ""


def _invalid(path: Path, problem: str) -> str:
    return f"Invalid workflow configuration {path}: {problem}."


def validate_config(raw: dict[str, Any], path: Path) -> dict[str, Any]:
    """The known keys of a parsed `workflow.toml`, type-checked; raises WorkflowConfigError."""
    config: dict[str, Any] = {}
    for key in raw:
        if key not in (*_STRING_KEYS, *_TABLE_KEYS, "llm", "version"):
            log.debug("%s: ignoring unknown key %r", path, key)
    if "version" in raw:
        version = raw["version"]
        if not isinstance(version, int) or isinstance(version, bool) or version != 1:
            raise WorkflowConfigError(_invalid(path, "'version' must be 1"))
        config["version"] = 1
    for key in _STRING_KEYS:
        if key in raw:
            if not isinstance(raw[key], str):
                raise WorkflowConfigError(_invalid(path, f"'{key}' must be a string"))
            config[key] = raw[key]
    if "llm" in raw:
        llm = raw["llm"]
        if not isinstance(llm, dict):
            raise WorkflowConfigError(_invalid(path, "[llm] must be a table"))
        chosen: dict[str, str] = {}
        for key in _LLM_KEYS:
            if key in llm:
                if not isinstance(llm[key], str):
                    raise WorkflowConfigError(_invalid(path, f"'llm.{key}' must be a string"))
                chosen[key] = llm[key]
        config["llm"] = chosen
    for key in _TABLE_KEYS:
        if key in raw:
            table = raw[key]
            if not isinstance(table, dict):
                raise WorkflowConfigError(_invalid(path, f"[{key}] must be a table"))
            for name, value in table.items():
                if not isinstance(value, str):
                    raise WorkflowConfigError(_invalid(path, f"'{key}.{name}' must be a string"))
            config[key] = dict(table)
    return config


def load_config(path: Path) -> dict[str, Any]:
    """Read and validate a `workflow.toml`; raises WorkflowConfigError."""
    try:
        raw = tomllib.loads(read_source(path))
    except tomllib.TOMLDecodeError as exc:
        raise WorkflowConfigError(_invalid(path, str(exc))) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise WorkflowConfigError(_invalid(path, f"cannot read it ({exc})")) from None
    return validate_config(raw, path)


def _read(folder: Path) -> RegistryWorkflow | None:
    """The workflow in ``folder``, or None when it is not one (or its DOT cannot be read)."""
    for filename in DOT_FILENAMES:
        dot = folder / filename
        if dot.is_file():
            break
    else:
        return None
    try:
        text = read_source(dot)
    except (OSError, UnicodeDecodeError) as exc:
        log.warning("registry: cannot read %s: %s", dot, exc)
        return None
    config: dict[str, Any] = {}
    error = None
    toml = folder / CONFIG_FILENAME
    if toml.is_file():
        try:
            config = load_config(toml)
        except WorkflowConfigError as exc:
            error = exc.detail
    return RegistryWorkflow(folder.name, folder, filename, dot, text, config, error)


def read_workflow(workflows_dir: Path, slug: str) -> RegistryWorkflow | None:
    """The workflow named ``slug`` as listed (an invalid `workflow.toml` is only recorded)."""
    if not SLUG.fullmatch(slug):
        return None  # also keeps `..` and separators out of the path
    folder = workflows_dir / slug
    return _read(folder) if folder.is_dir() else None


def find_workflow(workflows_dir: Path, slug: str) -> RegistryWorkflow | None:
    """The workflow to run for ``slug``; raises WorkflowConfigError for a bad `workflow.toml`."""
    found = read_workflow(workflows_dir, slug)
    if found is not None and found.config_error is not None:
        raise WorkflowConfigError(found.config_error)
    return found


def list_workflows(workflows_dir: Path) -> list[RegistryWorkflow]:
    """Every workflow of the registry, sorted by slug; a missing folder is an empty registry."""
    try:
        folders = sorted(
            (entry for entry in workflows_dir.iterdir() if SLUG.fullmatch(entry.name)),
            key=lambda entry: entry.name,
        )
    except (FileNotFoundError, NotADirectoryError):
        return []
    found = []
    for folder in folders:
        if folder.is_dir() and (workflow := _read(folder)) is not None:
            found.append(workflow)
    return found
