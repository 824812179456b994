"""The model stylesheet (workflow-language.md §8): parser, specificity and application.

    * { llm_model: claude-sonnet-4-5; }      specificity 0, every node
    box { ... }                              1, nodes with that shape
    .code { ... }                            2, nodes with that class
    #review { ... }                          3, that node

For each node and each applied property, the matching rule with the highest specificity wins
(the later rule on a tie); the value is written only when the node lacks the attribute.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from fabro.workflow.errors import StylesheetSyntaxError
from fabro.workflow.model import Graph, Node
from fabro.workflow.value import Value

APPLIED_PROPERTIES: Final = ("llm_model", "llm_provider", "reasoning_effort", "backend")

_WORD_CHARS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_CLASS_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
_SPECIFICITY: Final = {"*": 0, "shape": 1, "class": 2, "id": 3}


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule: selector kind (`*`, `shape`, `class`, `id`), its name and its declarations."""

    kind: str
    name: str
    declarations: tuple[tuple[str, str], ...]

    @property
    def specificity(self) -> int:
        """0 for `*`, 1 shape, 2 class, 3 id."""
        return _SPECIFICITY[self.kind]

    @property
    def selector(self) -> str:
        """The selector as diagnostics print it: `*`, the shape, `.class` or `#id`."""
        if self.kind == "*":
            return "*"
        if self.kind == "class":
            return "." + self.name
        if self.kind == "id":
            return "#" + self.name
        return self.name

    def matches(self, node: Node) -> bool:
        """Whether the selector selects `node`."""
        if self.kind == "*":
            return True
        if self.kind == "shape":
            return node.shape == self.name
        if self.kind == "class":
            return self.name in node.classes
        return node.id == self.name


def parse_stylesheet(text: str) -> list[Rule]:
    """Parse stylesheet text into rules; raises StylesheetSyntaxError."""
    return _Parser(text).rules()


def apply_stylesheet(graph: Graph, rules: list[Rule]) -> None:
    """Write each applied property from the winning rule onto nodes that do not set it."""
    if not rules:
        return
    # Per selector and property, the last rule declaring it (its position) and its last value:
    # each node then looks up its own selectors instead of testing every rule, so a long
    # stylesheet on a large graph costs (rules + nodes), not (rules x nodes).
    declared: dict[tuple[str, str], dict[str, tuple[int, str]]] = {}
    for position, rule in enumerate(rules):
        latest = declared.setdefault((rule.kind, rule.name), {})
        for prop, value in rule.declarations:
            if prop in APPLIED_PROPERTIES:
                latest[prop] = (position, value)
    for node in graph.nodes.values():
        # The node's selectors by falling specificity (id, class, shape, *); within one tier,
        # which only classes can fill, the later rule wins.
        tiers = (
            [("id", node.id)],
            [("class", name) for name in node.classes],
            [("shape", node.shape)],
            [("*", "*")],
        )
        for prop in APPLIED_PROPERTIES:
            if prop in node.attrs:
                continue
            for tier in tiers:
                found = [declared[sel][prop] for sel in tier if prop in declared.get(sel, {})]
                if found:
                    node.attrs[prop] = Value.string(max(found)[1])
                    break


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def _error(self, message: str) -> StylesheetSyntaxError:
        return StylesheetSyntaxError(message, self.pos)

    def _skip_ws(self) -> None:
        text, n = self.text, len(self.text)
        while self.pos < n and text[self.pos].isspace():
            self.pos += 1

    def _run(self, allowed: frozenset[str]) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in allowed:
            self.pos += 1
        return self.text[start : self.pos]

    def rules(self) -> list[Rule]:
        rules: list[Rule] = []
        while True:
            self._skip_ws()
            if self.pos >= len(self.text):
                return rules
            kind, name = self._selector()
            self._skip_ws()
            if self.text[self.pos : self.pos + 1] != "{":
                raise self._error("expected '{' after selector")
            self.pos += 1
            rules.append(Rule(kind, name, self._declarations()))

    def _selector(self) -> tuple[str, str]:
        c = self.text[self.pos]
        if c == "*":
            self.pos += 1
            return "*", "*"
        if c == "#":
            self.pos += 1
            name = self._run(_WORD_CHARS)
            if not name:
                raise self._error("expected identifier after '#'")
            return "id", name
        if c == ".":
            self.pos += 1
            name = self._run(_CLASS_CHARS)
            if not name:
                raise self._error("expected class name after '.'")
            return "class", name
        name = self._run(_WORD_CHARS)
        if not name:
            raise self._error("expected selector ('*', '#id', '.class', or shape name)")
        return "shape", name

    def _declarations(self) -> tuple[tuple[str, str], ...]:
        text, n = self.text, len(self.text)
        declarations: list[tuple[str, str]] = []
        while True:
            while self.pos < n and (text[self.pos].isspace() or text[self.pos] == ";"):
                self.pos += 1
            if self.pos >= n:
                raise self._error("unexpected end of stylesheet, expected '}'")
            if text[self.pos] == "}":
                self.pos += 1
                return tuple(declarations)
            start = self.pos
            while self.pos < n and text[self.pos] not in ":;{}" and not text[self.pos].isspace():
                self.pos += 1
            prop = text[start : self.pos]
            self._skip_ws()
            if self.pos >= n or text[self.pos] != ":":
                raise self._error(f"expected ':' after property name '{prop}'")
            self.pos += 1
            start = self.pos
            while self.pos < n and text[self.pos] not in ";}":
                self.pos += 1
            value = text[start : self.pos].strip()
            if not value:
                raise self._error(f"empty value for property '{prop}'")
            declarations.append((prop, value))
