"""Routing directives in LLM responses (workflow-language.md §13)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from fabro.engine.outcome import Outcome, is_status

DIRECTIVE_KEYS = frozenset(
    {"preferred_next_label", "outcome", "failure_reason", "suggested_next_ids", "context_updates"}
)


def json_objects(text: str) -> Iterator[str]:
    """Balanced `{...}` spans, matching braces outside JSON strings."""
    depth = 0
    start = -1
    in_string = False
    escaped = False
    for index, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if char == '"' and depth > 0:
            in_string = True
        elif char == "{":
            if depth == 0:
                start = index
            depth += 1
        elif char == "}" and depth > 0:
            depth -= 1
            if depth == 0:
                yield text[start : index + 1]


def find_directive(text: str) -> dict[str, Any] | None:
    """The last JSON object in ``text`` that parses and carries a directive key."""
    found: dict[str, Any] | None = None
    for candidate in json_objects(text):
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict) and DIRECTIVE_KEYS & value.keys():
            found = value
    return found


def apply_directive(outcome: Outcome, directive: dict[str, Any]) -> Outcome:
    changes: dict[str, Any] = {}
    label = directive.get("preferred_next_label")
    if isinstance(label, str):
        changes["preferred_label"] = label
    ids = directive.get("suggested_next_ids")
    if isinstance(ids, list) and ids and all(isinstance(item, str) for item in ids):
        changes["suggested_next_ids"] = list(ids)
    updates = directive.get("context_updates")
    if isinstance(updates, dict):
        changes["context_updates"] = {**outcome.context_updates, **updates}
    status = directive.get("outcome")
    if is_status(status):
        if status == "fail":
            reason = directive.get("failure_reason")
            message = reason if isinstance(reason, str) and reason else "stage reported failure"
            failed = Outcome.fail(message, "deterministic")
            changes.update(status="fail", failure=failed.failure)
        else:
            changes.update(status=status, failure=None)
    return outcome.with_(**changes) if changes else outcome
