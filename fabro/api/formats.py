"""Request bodies in YAML and TOML: parsed safely into the values a JSON body has.

A YAML body is read by PyYAML's safe constructors behind a composer that refuses what the JSON
model does not have and what could cost more than the text's size: every explicit tag (even
``!!str``: a tag asks for a type, and fabro's bodies take JSON's types only), every alias (no
expansion bombs), nesting deeper than MAX_DEPTH and more than MAX_VALUES values. TOML is
read by ``tomllib``. Then one walk refuses keys that are not strings, NaN and infinities and
lone surrogates, as the JSON parser does, and notes dates and times: a timestamp where a string
is expected fails the typed validation as any other wrong type does (``Field 'x' must be a
string.``), and one left in a free-form field is refused by ``refuse_dates``.
"""

from __future__ import annotations

import asyncio
import math
import re
import tomllib
from datetime import date, time
from typing import Any, Final

import yaml
from yaml.events import AliasEvent
from yaml.nodes import Node

from fabro.errors import BadRequest

# Content-Type (without parameters) -> the format of the body.
MEDIA_TYPES: Final[dict[str, str]] = {
    "application/json": "json",
    "application/yaml": "yaml",
    "application/x-yaml": "yaml",
    "application/yml": "yaml",
    "text/yaml": "yaml",
    "text/x-yaml": "yaml",
    "application/toml": "toml",
}
MAX_DEPTH: Final = 64  # as for JSON bodies (fabro.api.request.MAX_JSON_DEPTH)
# No fabro body comes near this many values; it bounds the memory and time a body may cost
# (tomllib and PyYAML's composer and constructors are Python code, with a cost per value).
MAX_VALUES: Final = 100_000
# Larger bodies are parsed off the event loop: YAML and TOML are read by Python code, and a
# body of 10 MiB takes seconds.
PARSE_IN_THREAD_BYTES: Final = 64 * 1024
_CORE_TAG = "tag:yaml.org,2002:"
SHOWN_CHARS: Final = 64


class Dated(dict[str, Any]):
    """A parsed body that holds a date or a time somewhere (checked by ``refuse_dates``)."""


async def parse_document(raw: bytes | str, kind: str) -> Any:
    """``raw`` as ``kind`` ("yaml" or "toml"), off the event loop when it is large."""
    if len(raw) > PARSE_IN_THREAD_BYTES:
        return await asyncio.to_thread(parse_text, raw, kind)
    return parse_text(raw, kind)


def parse_text(raw: bytes | str, kind: str) -> Any:
    """``raw`` as ``kind`` ("yaml" or "toml"): its value, a ``Dated`` dict when it holds a date,
    or a 400 naming the problem."""
    subject = f"{kind.upper()} body"
    try:
        text = (
            raw if isinstance(raw, str) else raw.decode("utf-8-sig" if kind == "yaml" else "utf-8")
        )
    except UnicodeDecodeError as exc:
        raise BadRequest(f"Malformed {subject}: not valid UTF-8 at byte {exc.start}.") from None
    value = _parse_yaml(text) if kind == "yaml" else _parse_toml(text)
    has_dates = _check_values(value, subject)
    return Dated(value) if has_dates and isinstance(value, dict) else value


def _parse_yaml(text: str) -> Any:
    loader = _SafeLoader(text)
    try:
        return loader.get_single_data()
    except _Refused as exc:
        raise BadRequest(str(exc)) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = ", ".join(part for part in (exc.context, exc.problem) if part) or "not YAML"
        raise BadRequest(f"Malformed YAML body{where}: {problem}.") from None
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: an integer past int's limit
        raise BadRequest(f"Malformed YAML body: {exc}.") from None
    finally:
        loader.dispose()


def _parse_toml(text: str) -> Any:
    if _toml_values(text) > MAX_VALUES:
        raise BadRequest(f"TOML body has more than {MAX_VALUES} values.")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadRequest(f"Malformed TOML body: {exc}.") from None
    except RecursionError:
        raise BadRequest(f"TOML body nests deeper than {MAX_DEPTH} levels.") from None
    except ValueError as exc:  # an integer past Python's conversion limit
        raise BadRequest(f"Malformed TOML body: {exc}.") from None


# TOML's strings and comments, so that what is left can be counted; a heuristic only bounds the
# work: tomllib reads the text either way.
_TOML_TEXT = re.compile(
    r'"""(?:[^\\]|\\.)*?"""|\'\'\'.*?\'\'\'|"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'|#[^\n]*', re.DOTALL
)


def _toml_values(text: str) -> int:
    """At most how many values a TOML text holds: each is after a `=`, a `,` or a `[`."""
    bare = _TOML_TEXT.sub("", text)
    return bare.count("=") + bare.count(",") + bare.count("[")


class _Refused(Exception):
    """A YAML construct fabro does not read (tag, alias, depth, size)."""


if yaml.__with_libyaml__:
    from yaml._yaml import CParser as _Parser
else:  # PyYAML built without libyaml: the pure-Python reader, scanner and parser, slower

    class _Parser(  # type: ignore[no-redef]
        yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser
    ):
        def __init__(self, stream: str) -> None:
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)


class _SafeLoader(
    yaml.composer.Composer, _Parser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver
):
    """libyaml's parser (when present), then Python's composer with the checks above in front
    of it, then the safe constructors, which build plain values only (text, numbers, booleans,
    null, dates, lists and dicts): a tag could have asked for more, and none gets through."""

    def __init__(self, stream: str) -> None:
        _Parser.__init__(self, stream)
        yaml.composer.Composer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        event = self.peek_event()
        assert event is not None  # the composer asks for a node only where one starts
        line = event.start_mark.line + 1 if event.start_mark else 0
        if isinstance(event, AliasEvent):
            alias = _shown(event.anchor or "")
            raise _Refused(
                f"YAML body has an alias (*{alias}) at line {line}; aliases are not accepted."
            )
        tag = getattr(event, "tag", None)
        if tag is not None:
            shown = "!!" + tag.removeprefix(_CORE_TAG) if tag.startswith(_CORE_TAG) else tag
            raise _Refused(
                f"YAML body has the tag '{_shown(shown)}' at line {line}; tags are not accepted."
            )
        self._nodes += 1
        if self._nodes > MAX_VALUES:
            raise _Refused(f"YAML body has more than {MAX_VALUES} values.")
        if self._depth >= MAX_DEPTH:
            raise _Refused(f"YAML body nests deeper than {MAX_DEPTH} levels.")
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        assert node is not None  # a node was there to peek at
        return node


def _check_values(value: Any, subject: str) -> bool:
    """Refuse what a JSON body cannot hold; True when ``value`` holds a date or a time.

    Walked without recursion; the depth is checked here for TOML (YAML's was, while composing).
    """
    has_dates = False
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            _check_text(item, path, subject)
        elif isinstance(item, float) and not math.isfinite(item):
            raise BadRequest(f"{_owner(path, subject)} has {item}, which is not a JSON number.")
        elif isinstance(item, date | time):
            has_dates = True
        elif isinstance(item, dict | list):
            if len(path) >= MAX_DEPTH:
                raise BadRequest(f"{subject} nests deeper than {MAX_DEPTH} levels.")
            if isinstance(item, list):
                stack.extend((child, (*path, index)) for index, child in enumerate(item))
                continue
            for key, child in item.items():
                if not isinstance(key, str):
                    raise BadRequest(
                        f"Key {_shown(str(key))} of {_owner(path, subject, lower=True)}"
                        " must be a string (quote it)."
                    )
                _check_text(key, path, subject)
                stack.append((child, (*path, key)))
    return has_dates


_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_text(text: str, path: tuple[str | int, ...], subject: str) -> None:
    found = _SURROGATE.search(text)
    if found is not None:
        raise BadRequest(
            f"{_owner(path, subject)} has a lone surrogate (\\u{ord(found[0]):04x});"
            " text must be valid Unicode."
        )


def refuse_dates(body: Any) -> None:
    """A 400 naming the first field of ``body`` that holds a date or a time.

    Called once typed validation has passed: a date left then sits in a free-form field, where
    a JSON body could only have sent text.
    """
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(body, ())]
    while stack:
        item, where = stack.pop()
        if isinstance(item, date | time):
            raise BadRequest(
                f"Field '{_dotted(where)}' is a date or time; quote it to send it as text."
            )
        if isinstance(item, dict):
            stack.extend((child, (*where, key)) for key, child in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend((child, (*where, i)) for i, child in reversed(list(enumerate(item))))


def _owner(path: tuple[str | int, ...], subject: str, *, lower: bool = False) -> str:
    if path:
        return f"field '{_dotted(path)}'" if lower else f"Field '{_dotted(path)}'"
    return f"the {subject}" if lower else f"The {subject}"


def _dotted(path: tuple[str | int, ...]) -> str:
    """`vars.region`, `labels[1]`: a field path as api.md's messages write it."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{_shown(part)}" if text else _shown(part)
    return text


def _shown(text: str) -> str:
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "…"
