"""Matching what a person typed to a question's options (the API's question JSON).

Keys match case-insensitively, then labels (with or without their `[K] ` accelerator);
anything else is free text when the question allows it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

# `[A] Approve`, `A) Approve`, `A - Approve` (fabro.workflow.labels.option_key's forms).
_ACCELERATOR = re.compile(r"^\s*(?:\[[^\]]+\]|\w{1,3}\)|\w{1,3} - )\s*")


class NoSuchOption(ValueError):
    """The text names no option; the message lists the valid keys."""


def options_of(question: Mapping[str, Any]) -> list[Mapping[str, str]]:
    options = question.get("options") or []
    return [o for o in options if isinstance(o, Mapping) and isinstance(o.get("key"), str)]


def valid_keys(question: Mapping[str, Any]) -> str:
    return ", ".join(str(option["key"]) for option in options_of(question))


def option_key(question: Mapping[str, Any], text: str) -> str | None:
    """The option key ``text`` names (a key, or a label), else None."""
    wanted = text.strip().casefold()
    if not wanted:
        return None
    options = options_of(question)
    for option in options:
        if option["key"].casefold() == wanted:
            return option["key"]
    for option in options:
        label = str(option.get("label") or "")
        if wanted in (label.casefold(), _ACCELERATOR.sub("", label).casefold()):
            return option["key"]
    return None


def answer_body(question: Mapping[str, Any], text: str) -> dict[str, Any]:
    """The SubmitAnswerRequest for a typed line; NoSuchOption when nothing fits."""
    key = option_key(question, text)
    if key is not None:
        return {"selected_option_key": key}
    if question.get("allow_freeform") and text.strip():
        return {"value": text.strip()}
    raise NoSuchOption(f"Please answer with one of: {valid_keys(question)}")


def checked_keys(question: Mapping[str, Any], keys: Sequence[str]) -> list[str]:
    """The canonical spelling of each key; NoSuchOption names the first unknown one."""
    canonical = []
    for key in keys:
        found = next(
            (o["key"] for o in options_of(question) if o["key"].casefold() == key.casefold()),
            None,
        )
        if found is None:
            qid = question.get("id", "the question")
            raise NoSuchOption(f"no option '{key}' in {qid}; valid keys: {valid_keys(question)}")
        canonical.append(found)
    return canonical
