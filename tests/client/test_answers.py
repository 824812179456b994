"""Matching typed answers to a question's options: keys in any case, then labels."""

from __future__ import annotations

from typing import Any

import pytest

from fabro.client.answers import NoSuchOption, answer_body, checked_keys, option_key

QUESTION: dict[str, Any] = {
    "id": "q-1",
    "text": "Ship it?",
    "options": [
        {"key": "A", "label": "[A] Approve"},
        {"key": "R", "label": "R) Revise"},
        {"key": "X", "label": "X - Abandon"},
        {"key": "go", "label": "go"},
    ],
    "allow_freeform": False,
}


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("A", "A"),
        ("a", "A"),
        (" r \n", "R"),
        ("GO", "go"),
        ("[a] approve", "A"),  # the whole label
        ("Approve", "A"),  # the label without its accelerator
        ("revise", "R"),
        ("abandon", "X"),
        ("", None),
        ("Z", None),
        ("Approv", None),
    ],
)
def test_option_key(text: str, key: str | None) -> None:
    assert option_key(QUESTION, text) == key


def test_answer_body() -> None:
    assert answer_body(QUESTION, "a") == {"selected_option_key": "A"}
    with pytest.raises(NoSuchOption, match=r"^Please answer with one of: A, R, X, go$"):
        answer_body(QUESTION, "maybe")
    free = {**QUESTION, "allow_freeform": True}
    assert answer_body(free, " ship it on Monday ") == {"value": "ship it on Monday"}
    assert answer_body(free, "approve") == {"selected_option_key": "A"}  # options first


def test_checked_keys_are_canonical_and_a_wrong_one_lists_the_valid_ones() -> None:
    assert checked_keys(QUESTION, ["a", "Go"]) == ["A", "go"]
    with pytest.raises(NoSuchOption) as caught:
        checked_keys(QUESTION, ["a", "Z"])
    assert str(caught.value) == "no option 'Z' in q-1; valid keys: A, R, X, go"
