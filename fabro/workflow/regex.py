r"""The regular expressions of `matches` conditions: Python `re` meaning, RE2 speed (§7).

A `matches` pattern is written in Python's `re` syntax, and Python's backtracking engine can
take exponential time on it (`^(a+)+$` against a long run of `a` and a `!`): one condition on a
value a command printed could hold the server for minutes. RE2 matches in time linear in the
text, but reads some constructs differently: `\d`, `\w`, `\s`, `\b` are ASCII there, case
folding differs for a few letters, and `$` never matches before a final newline.

So a pattern is parsed by Python's own parser and written out again for RE2 with each
character set spelled out as the exact code points Python would match, computed with Python's
own engine, and each anchor as an RE2 construct of the same meaning. What RE2 cannot express
with the same meaning is refused with the reason (`UnsupportedPattern`), so that a workflow
using it fails validation instead of being matched differently: backreferences, lookaround,
atomic groups and possessive repeats, `\B`, a Unicode `\b` (`(?a:\b)` is fine), and a `$`
that more of the pattern follows (`\Z` and `(?m)$` are fine).

Text is matched as UTF-8, which cannot carry lone surrogates: sets leave them out, and a
subject's (stored text never has any) read as U+FFFD.
"""

from __future__ import annotations

import _sre  # type: ignore[import-not-found]  # the case mappings Python's engine uses
import array
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from re import _casefix, _parser  # type: ignore[attr-defined]  # Python's own pattern parser
from typing import Any, Final

import re2

# Linear time is still time: RE2's slowest mode (its NFA, when its DFA runs out of memory)
# costs about (characters searched) x (character positions of the pattern, repeats expanded).
# Both are bounded, so one search stays well under a second on the worst pattern. A value is
# searched in its first MAX_SUBJECT_CHARS characters, above the 65,536 kept of a command's
# output and the default limit of an expanded variable.
MAX_SUBJECT_CHARS: Final = 256 * 1024
MAX_POSITIONS: Final = 1_000
# RE2's memory per pattern (program and DFA cache), which bounds the cache of conditions.
_MAX_MEM: Final = 1 << 20

_LAST: Final = 0x10FFFF
_SURROGATES: Final = (0xD800, 0xDFFF)
_SURROGATE: Final = re.compile("[\ud800-\udfff]")
_IGNORECASE: Final = re.IGNORECASE.value
_MULTILINE: Final = re.MULTILINE.value
_DOTALL: Final = re.DOTALL.value
_ASCII: Final = re.ASCII.value
_UNICODE: Final = re.UNICODE.value
_MAXREPEAT: Final[int] = _parser.MAXREPEAT
_CATEGORIES: Final = {
    "CATEGORY_DIGIT": r"\d",
    "CATEGORY_NOT_DIGIT": r"\D",
    "CATEGORY_SPACE": r"\s",
    "CATEGORY_NOT_SPACE": r"\S",
    "CATEGORY_WORD": r"\w",
    "CATEGORY_NOT_WORD": r"\W",
}
_REFUSED: Final = {
    "GROUPREF": "backreferences",
    "GROUPREF_EXISTS": "conditional groups (?(n)...)",
    "ASSERT": "lookahead and lookbehind",
    "ASSERT_NOT": "lookahead and lookbehind",
    "ATOMIC_GROUP": "atomic groups (?>...)",
    "POSSESSIVE_REPEAT": "possessive quantifiers",
}

Ranges = tuple[tuple[int, int], ...]  # sorted, disjoint, inclusive code point ranges


class UnsupportedPattern(ValueError):
    """A valid Python pattern that cannot be matched in linear time with the same meaning."""


@dataclass(frozen=True, slots=True)
class LinearPattern:
    """A compiled `matches` pattern; equal when the source text is."""

    source: str
    _regexp: Any = field(compare=False, repr=False)

    def search(self, text: str) -> bool:
        """Whether the pattern matches somewhere in ``text`` (its first MAX_SUBJECT_CHARS)."""
        return self._regexp.search(_utf8(text[:MAX_SUBJECT_CHARS])) is not None


def compile_pattern(source: str) -> LinearPattern:
    """Compile a Python-syntax pattern for RE2; re.error or UnsupportedPattern if it cannot be."""
    re.compile(source)  # Python's own syntax errors, worded as users of `re` know them
    parsed = _parser.parse(source)
    text, positions = _sequence(parsed, parsed.state.flags, True)
    if positions > MAX_POSITIONS:
        raise UnsupportedPattern(
            f"too complex: {positions} character positions with repeats expanded "
            f"(limit {MAX_POSITIONS})"
        )
    return LinearPattern(source, _compile_re2(text))


def _compile_re2(text: str) -> Any:
    options = re2.Options()
    options.log_errors = False
    options.max_mem = _MAX_MEM
    try:
        regexp = re2.compile(text, options)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise UnsupportedPattern(f"RE2 cannot compile it ({reason})") from None
    return regexp


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        return _SURROGATE.sub("\ufffd", text).encode("utf-8")


# RE2 syntax for a part of the pattern, and how many character positions it has.
_Written = tuple[str, int]


def _sequence(items: Iterable[tuple[Any, Any]], flags: int, tail: bool) -> _Written:
    """``tail``: nothing of the whole pattern can follow this sequence."""
    items = list(items)
    last = len(items) - 1
    written = [_item(op, av, flags, tail and i == last) for i, (op, av) in enumerate(items)]
    return "".join(text for text, _ in written), sum(count for _, count in written)


def _item(op: Any, av: Any, flags: int, tail: bool) -> _Written:
    name = str(op)
    if name in _REFUSED:
        raise UnsupportedPattern(f"{_REFUSED[name]} are not supported (conditions use RE2)")
    if name in ("LITERAL", "NOT_LITERAL", "IN", "ANY"):
        return _re2_set(_subtract(_charset(name, av, flags), (_SURROGATES,))), 1
    if name == "AT":
        return _anchor(str(av), flags, tail), 0
    if name == "BRANCH":
        written = [_sequence(alternative, flags, tail) for alternative in av[1]]
        text = "|".join(text for text, _ in written)
        return f"(?:{text})", sum(count for _, count in written)
    if name == "SUBPATTERN":
        _group, add, remove, body = av
        scoped = (flags | add) & ~remove
        if add & _UNICODE:
            scoped &= ~_ASCII
        text, count = _sequence(body, scoped, tail)
        return f"(?:{text})", count
    if name in ("MAX_REPEAT", "MIN_REPEAT"):
        low, high, body = av
        text, count = _sequence(body, flags, tail and high <= 1)
        bound = f"{{{low},}}" if high == _MAXREPEAT else f"{{{low},{high}}}"
        lazy = "?" if name == "MIN_REPEAT" else ""
        return f"(?:{text}){bound}{lazy}", count * (max(low, 1) if high == _MAXREPEAT else high)
    raise UnsupportedPattern(f"the construct {name} is not supported")


def _anchor(at: str, flags: int, tail: bool) -> str:
    multiline = bool(flags & _MULTILINE)
    if at == "AT_BEGINNING":
        return "(?m:^)" if multiline else r"\A"
    if at == "AT_BEGINNING_STRING":
        return r"\A"
    if at == "AT_END_STRING":
        return r"\z"
    if at == "AT_END":
        if multiline:
            return "(?m:$)"
        if not tail:
            raise UnsupportedPattern(
                "'$' is supported only at the end of the pattern (or write \\Z or (?m))"
            )
        return r"(?:\n?\z)"  # Python's `$`: the end, or just before a final newline
    if at == "AT_NON_BOUNDARY":
        # RE2's `\B` also holds inside a multi-byte character, where Python has no position.
        raise UnsupportedPattern("\\B is not supported (conditions use RE2)")
    if not flags & _ASCII:
        raise UnsupportedPattern(
            "\\b is Unicode-aware in Python and ASCII-only in RE2: "
            "write (?a:\\b) for an ASCII word boundary"
        )
    return r"\b"


def _charset(name: str, av: Any, flags: int) -> Ranges:
    """The code points one character of the pattern matches, exactly as Python's engine does."""
    if name == "ANY":
        return _FULL if flags & _DOTALL else _complement(((10, 10),))
    case_sensitive = _sensitive(name, av, flags & _ASCII != 0)
    if not flags & _IGNORECASE:
        return case_sensitive
    domain, text = _case_domain()
    outside = _subtract(case_sensitive, domain)
    mode = "(?ai)" if flags & _ASCII else "(?i)"
    pattern = re.compile(mode + _python_class(name, av))
    inside = _ranges(ord(char) for char in pattern.findall(text))
    return _union(outside, inside)


def _sensitive(name: str, av: Any, ascii_only: bool) -> Ranges:
    if name == "LITERAL":
        return ((av, av),)
    if name == "NOT_LITERAL":
        return _complement(((av, av),))
    negate = False
    parts: list[Ranges] = []
    for op, value in av:
        kind = str(op)
        if kind == "NEGATE":
            negate = True
        elif kind == "LITERAL":
            parts.append(((value, value),))
        elif kind == "RANGE":
            parts.append((tuple(value),))
        else:  # CATEGORY
            parts.append(_category(str(value), ascii_only))
    union = _union(*parts)
    return _complement(union) if negate else union


def _python_class(name: str, av: Any) -> str:
    """Python syntax for one parsed character of the pattern, to run Python's engine on it."""
    if name in ("LITERAL", "NOT_LITERAL"):
        return ("[^" if name == "NOT_LITERAL" else "[") + _py_char(av) + "]"
    items = []
    for op, value in av:
        kind = str(op)
        if kind == "NEGATE":
            items.append("^")
        elif kind == "LITERAL":
            items.append(_py_char(value))
        elif kind == "RANGE":
            items.append(_py_char(value[0]) + "-" + _py_char(value[1]))
        else:
            items.append(_CATEGORIES[str(value)])
    return "[" + "".join(items) + "]"


def _py_char(code: int) -> str:
    return f"\\U{code:08x}"


def _re2_set(ranges: Ranges) -> str:
    """An RE2 atom for a set without surrogates: one character, a class, or a negated class."""
    if len(ranges) == 1 and ranges[0][0] == ranges[0][1]:
        return _re2_char(ranges[0][0])
    complement = _subtract(_complement(ranges), (_SURROGATES,))
    if len(complement) < len(ranges):
        return "[^" + _re2_ranges(complement) + "]" if complement else r"[\x{0}-\x{10ffff}]"
    return "[" + _re2_ranges(ranges) + "]" if ranges else r"[^\x{0}-\x{10ffff}]"


def _re2_ranges(ranges: Ranges) -> str:
    return "".join(
        _re2_char(low) if low == high else f"{_re2_char(low)}-{_re2_char(high)}"
        for low, high in ranges
    )


def _re2_char(code: int) -> str:
    return f"\\x{{{code:x}}}"


@cache
def _category(name: str, ascii_only: bool) -> Ranges:
    """`\\d`, `\\w`, `\\s` and their negations, from Python's engine over every code point."""
    positive = name.replace("_NOT", "")
    flags = re.ASCII if ascii_only else 0
    found = re.compile(_CATEGORIES[positive] + "+", flags).finditer(_all_code_points())
    ranges = tuple((match.start(), match.end() - 1) for match in found)
    return ranges if positive == name else _complement(ranges)


@cache
def _all_code_points() -> str:
    codes = array.array("I", range(_LAST + 1))  # as UTF-32: far quicker than joining chr()s
    if sys.byteorder == "big":
        codes.byteswap()
    return codes.tobytes().decode("utf-32-le", "surrogatepass")


@cache
def _case_domain() -> tuple[Ranges, str]:
    """Every character case-insensitive matching can treat specially, as ranges and as text.

    Outside it a character is uncased and no other character lowers to it, so Python's
    IGNORECASE matches it exactly as the case-sensitive pattern does.
    """
    cased = [code for code in range(_LAST + 1) if _sre.unicode_iscased(code)]
    codes = set(cased) | {_sre.unicode_tolower(code) for code in cased}
    for low, others in _casefix._EXTRA_CASES.items():
        codes.add(low)
        codes.update(others)
    ordered = sorted(codes)
    return _ranges(ordered), "".join(map(chr, ordered))


_FULL: Final[Ranges] = ((0, _LAST),)


def _ranges(codes: Iterable[int]) -> Ranges:
    result: list[tuple[int, int]] = []
    for code in sorted(set(codes)):
        if result and result[-1][1] + 1 == code:
            result[-1] = (result[-1][0], code)
        else:
            result.append((code, code))
    return tuple(result)


def _union(*sets: Ranges) -> Ranges:
    merged: list[tuple[int, int]] = []
    for low, high in sorted(pair for ranges in sets for pair in ranges):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return tuple(merged)


def _complement(ranges: Ranges) -> Ranges:
    result: list[tuple[int, int]] = []
    start = 0
    for low, high in ranges:
        if low > start:
            result.append((start, low - 1))
        start = high + 1
    if start <= _LAST:
        result.append((start, _LAST))
    return tuple(result)


def _intersect(first: Ranges, second: Ranges) -> Ranges:
    return _complement(_union(_complement(first), _complement(second)))


def _subtract(first: Ranges, second: Ranges) -> Ranges:
    return _intersect(first, _complement(second))
