"""The condition language of edge `condition` and `manager.stop_condition` (§7).

    expr   = and ( "||" and )*
    and    = unary ( "&&" unary )*
    unary  = "!" unary | clause
    clause = WORD OP WORD | WORD ("=" | "!=")      # a missing value means ""
           | WORD                                  # bare key: truthiness

`parse_condition` compiles text (regexes included) once; `evaluate` runs it against the current
outcome and context. `condition_holds` is the engine's convenience: it parses with a cache and
treats unparseable text as false, as the spec requires at run time.

`matches` patterns are Python `re` syntax matched by RE2 in linear time (fabro.workflow.regex):
a pattern RE2 cannot match with the same meaning is a syntax error, reported at validation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from fabro.workflow.errors import ConditionSyntaxError
from fabro.workflow.regex import LinearPattern, UnsupportedPattern, compile_pattern

OPERATORS: Final = ("=", "!=", ">", "<", ">=", "<=", "contains", "matches")
_TWO_CHAR: Final = ("&&", "||", "!=", ">=", "<=")
_SPECIAL: Final = frozenset("=!><&| \t\r\n\f\v")
_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
# How errors name tokens; this mirrors the original's wording (`unexpected token Word("x")`).
_TOKEN_NAMES: Final = {
    "&&": "And",
    "||": "Or",
    "!": "Not",
    "=": "Eq",
    "!=": "Ne",
    ">": "Gt",
    "<": "Lt",
    ">=": "Ge",
    "<=": "Le",
    "contains": "Contains",
    "matches": "Matches",
}


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # "word" or an operator/punctuation text
    text: str
    col: int

    def describe(self) -> str:
        if self.kind == "word":
            return f"Word({json.dumps(self.text, ensure_ascii=False)})"
        return _TOKEN_NAMES[self.kind]


@dataclass(frozen=True, slots=True)
class Clause:
    """`key op value`; `op` is None for a bare key (truthiness)."""

    key: str
    op: str | None = None
    value: str = ""
    pattern: LinearPattern | None = None


@dataclass(frozen=True, slots=True)
class Not:
    """`!operand`."""

    operand: Condition


@dataclass(frozen=True, slots=True)
class And:
    """All parts hold."""

    parts: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """Some part holds."""

    parts: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Always:
    """The empty condition: always true."""


Condition = Clause | Not | And | Or | Always


def parse_condition(text: str) -> Condition:
    """Parse a condition; raises ConditionSyntaxError (message and 1-based column)."""
    tokens = _tokenize(text)
    if not tokens:
        return Always()
    parser = _Parser(tokens, len(text) + 1)
    condition = parser.expr()
    if parser.pos < len(tokens):
        token = tokens[parser.pos]
        raise ConditionSyntaxError(f"unexpected token {token.describe()}", token.col)
    return condition


def evaluate(
    condition: Condition, outcome_fields: Mapping[str, object], context: Mapping[str, object]
) -> bool:
    """Evaluate against the outcome (`outcome`: status, `preferred_label`) and the context."""
    if isinstance(condition, Clause):
        return _clause(condition, outcome_fields, context)
    if isinstance(condition, Not):
        return not evaluate(condition.operand, outcome_fields, context)
    if isinstance(condition, And):
        return all(evaluate(part, outcome_fields, context) for part in condition.parts)
    if isinstance(condition, Or):
        return any(evaluate(part, outcome_fields, context) for part in condition.parts)
    return True


def condition_holds(
    text: str, outcome_fields: Mapping[str, object], context: Mapping[str, object]
) -> bool:
    """Parse (cached) and evaluate `text`; empty is true, unparseable is false (§7)."""
    condition = _cached_parse(text)
    return condition is not None and evaluate(condition, outcome_fields, context)


def may_take_time(text: str) -> bool:
    """Whether evaluating ``text`` may search a pattern, so the engine runs it off the loop.

    A plain text test, true for every condition with a `matches` clause: it costs nothing on
    the event loop, where parsing (compiling the pattern) could.
    """
    return "matches" in text


# Bounded twice: by entries, and each compiled pattern by RE2's memory limit (regex._MAX_MEM).
@lru_cache(maxsize=256)
def _cached_parse(text: str) -> Condition | None:
    try:
        return parse_condition(text)
    except ConditionSyntaxError:
        return None


def value_text(value: object) -> str:
    """How a context value reads in a condition (§7): JSON scalars as text, containers as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)  # Python's repr is the shortest round-trip form
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _resolve(
    key: str, outcome_fields: Mapping[str, object], context: Mapping[str, object]
) -> object:
    if key == "outcome":
        return outcome_fields.get("outcome", "")
    if key == "preferred_label":
        return outcome_fields.get("preferred_label") or ""
    if key.startswith("context."):
        if key in context:
            return context[key]
        return context.get(key[len("context.") :], "")
    return context.get(key, "")


def _clause(
    clause: Clause, outcome_fields: Mapping[str, object], ctx: Mapping[str, object]
) -> bool:
    raw = _resolve(clause.key, outcome_fields, ctx)
    actual = value_text(raw)
    op = clause.op
    if op is None:
        return actual not in ("", "false", "0")
    if op == "=":
        return actual == clause.value
    if op == "!=":
        return actual != clause.value
    if op == "contains":
        if isinstance(raw, list):
            return any(value_text(item) == clause.value for item in raw)
        return clause.value in actual
    if op == "matches":
        assert clause.pattern is not None
        return clause.pattern.search(actual)
    if not (_NUMBER.fullmatch(actual) and _NUMBER.fullmatch(clause.value)):
        return False
    left, right = float(actual), float(clause.value)
    if op == ">":
        return left > right
    if op == "<":
        return left < right
    if op == ">=":
        return left >= right
    return left <= right


def _tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    n = len(text)
    pos = 0
    while pos < n:
        c = text[pos]
        if c.isspace():
            pos += 1
            continue
        two = text[pos : pos + 2]
        if two in _TWO_CHAR:
            tokens.append(_Tok(two, two, pos + 1))
            pos += 2
        elif c in "=!><":
            tokens.append(_Tok(c, c, pos + 1))
            pos += 1
        elif c in "&|":
            raise ConditionSyntaxError(
                f"unexpected character '{c}' in condition expression", pos + 1
            )
        else:
            end = pos
            while end < n and text[end] not in _SPECIAL and not text[end].isspace():
                end += 1
            word = text[pos:end]
            # `contains` / `matches` are operators only right after a WORD.
            if word in ("contains", "matches") and tokens and tokens[-1].kind == "word":
                tokens.append(_Tok(word, word, pos + 1))
            else:
                tokens.append(_Tok("word", word, pos + 1))
            pos = end
    return tokens


class _Parser:
    def __init__(self, tokens: list[_Tok], end_col: int) -> None:
        self.tokens = tokens
        self.pos = 0
        self.end_col = end_col

    def _peek(self) -> _Tok | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def expr(self) -> Condition:
        parts = [self._and()]
        while (token := self._peek()) is not None and token.kind == "||":
            self.pos += 1
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def _and(self) -> Condition:
        parts = [self._unary()]
        while (token := self._peek()) is not None and token.kind == "&&":
            self.pos += 1
            parts.append(self._unary())
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def _unary(self) -> Condition:
        # Iterative, so a long run of `!` cannot exhaust the stack; `!!x` is `x`.
        negations = 0
        while (token := self._peek()) is not None and token.kind == "!":
            self.pos += 1
            negations += 1
        clause = self._clause()
        return Not(clause) if negations % 2 else clause

    def _clause(self) -> Clause:
        key = self._peek()
        if key is None:
            raise ConditionSyntaxError("unexpected end of condition expression", self.end_col)
        if key.kind != "word":
            raise ConditionSyntaxError(f"unexpected token {key.describe()}", key.col)
        self.pos += 1
        op = self._peek()
        if op is None or op.kind not in OPERATORS:
            return Clause(key.text)
        self.pos += 1
        value = self._peek()
        if value is None or value.kind != "word":
            if op.kind in ("=", "!="):
                return Clause(key.text, op.kind, "")
            if value is None:
                raise ConditionSyntaxError("unexpected end of condition expression", self.end_col)
            raise ConditionSyntaxError(f"unexpected token {value.describe()}", value.col)
        self.pos += 1
        pattern = None
        if op.kind == "matches":
            try:
                pattern = compile_pattern(value.text)
            except (re.error, UnsupportedPattern, OverflowError, RecursionError) as exc:
                raise ConditionSyntaxError(
                    f"invalid regular expression '{value.text}': {exc}", value.col
                ) from None
        return Clause(key.text, op.kind, value.text, pattern)
