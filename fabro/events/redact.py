"""Secret redaction (engine.md §12): secrets replaced wherever they appear in text.

Every string of a JSON-like value is rewritten, in order: exact secret values (taken from the
environment, and the server's secrets as they are set: ``Redactor.add``), well-known token
patterns, bearer tokens, then ``key=value`` style secrets. Keys of objects are never changed.
Replacements use the literal ``[REDACTED]``.

Text from outside (a program's output, a model's reply, a tool's result, a chat turn) is
*cleaned* where it enters (``Redactor.clean``): made storable (fabro/events/storable.py), then
redacted, so that every copy made of it later (context, checkpoint, stage rows and files, the
next prompt) is clean. Text that arrives in pieces goes through a ``StreamRedactor``, which
finds a secret cut in two.
"""

from __future__ import annotations

import functools
import os
import re
import string
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar, cast

from fabro import jsontext
from fabro.events.storable import storable, storable_value

REDACTED = "[REDACTED]"

# Provider keys named by the spec; any variable whose name says secret (is_secret_env_name)
# and those of settings.redaction.secret_env are treated the same way.
SECRET_ENV_VARS = (
    "ANTHROPIC_API_KEY",
    "OPENAI_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "KIMI_API_KEY",
    "ZAI_API_KEY",
    "MINIMAX_API_KEY",
    "INCEPTION_API_KEY",
)
MIN_SECRET_LENGTH = 8  # shorter values would redact ordinary words and numbers

_SECRET_SUFFIXES = ("_API_KEY", "_SECRET", "_TOKEN", "_PASSWORD")
_SECRET_PREFIXES = ("FABRO_JWT_",)
_ALWAYS_KEPT = frozenset({"PATH", "HOME", "USER", "SHELL", "LANG", "TERM", "TMPDIR"})

_TOKEN_PATTERN = re.compile(
    "|".join(
        (
            # Not after a letter or digit, so slugs like "task-runner-timeout-handling" survive.
            r"(?<![A-Za-z0-9])sk-ant-[A-Za-z0-9_-]{20,}",
            r"(?<![A-Za-z0-9])sk-(?:proj-)?[A-Za-z0-9_-]{20,}",
            r"gh[pousr]_[A-Za-z0-9]{36,}",
            r"xox[abprs]-[A-Za-z0-9-]{10,}",
            r"AKIA[0-9A-Z]{16}",
            r"AIza[0-9A-Za-z_-]{35}",
            r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}",
        )
    )
)
# Private key blocks. Text is often cut (command output keeps its tail), so a block without its
# footer runs to the end of the string, and an orphan footer takes the base64 lines before it.
_PEM_MARKER = "PRIVATE KEY-----"
_PEM_FOOTER = re.compile(r"-----END [A-Z ]*PRIVATE KEY-----")
_PEM_BLOCK = re.compile(
    rf"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:{_PEM_FOOTER.pattern}|\Z)", re.DOTALL
)
_BASE64_OR_BREAK = frozenset(string.ascii_letters + string.digits + "+/=\r\n")
# No pattern matches fewer characters (`token=` and 8 more, a `key=value` secret).
_SHORTEST_MATCH = 14
_BEARER = re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/=-]{16,}")
_KEY_VALUE = re.compile(
    r"(?i)(api[_-]?key|secret|token|password)([\"']?\s*[:=]\s*[\"']?)([^\s\"',]{8,})"
)

# Text of a stream passed on a line at a time waits at most this long for the line's end.
LINE_HOLD = 65_536
# Held back at the end of a streamed piece: the start of a secret value, from this many
# characters (a single character that starts one goes on; the rest of the secret, if it
# follows, is redacted then).
MIN_HELD = 2

T = TypeVar("T")
_SCALARS = frozenset({int, float, bool, type(None)})
# Strings shorter than this are remembered by value (a few thousand of them at most); the
# last longer one by identity.
_REMEMBERED_LENGTH = 64
_SHORT_MEMO_SIZE = 4096


def _may_hold_token(text: str) -> bool:
    """Whether ``text`` holds a literal that every match of _TOKEN_PATTERN contains (a few
    substring searches: the pattern costs ~0.1 µs per character)."""
    return (
        "sk-" in text
        or "xox" in text
        or "AKIA" in text
        or "AIza" in text
        or "eyJ" in text
        or (
            "gh" in text
            and (
                "ghp_" in text
                or "gho_" in text
                or "ghu_" in text
                or "ghs_" in text
                or "ghr_" in text
            )
        )
    )


def _has_key_word_but_token(folded: str) -> bool:
    """Whether case-folded text holds a key word of _KEY_VALUE other than "token" ("ap\u0131":
    (?i) matches a dotless ı for the i, which case-folding does not)."""
    return "api" in folded or "ap\u0131" in folded or "secret" in folded or "password" in folded


def is_secret_env_name(name: str) -> bool:
    """Whether a variable's name says its value is a secret (redacted wherever it appears).

    The names of engine.md §9.3; commands now see only an allow-list (handlers/command.py).
    """
    upper = name.upper()
    if upper in _ALWAYS_KEPT:
        return False
    # Case-insensitive for the prefix as well: treating more names as secret is the safe side.
    return upper.endswith(_SECRET_SUFFIXES) or upper.startswith(_SECRET_PREFIXES)


def secret_values(env: Mapping[str, str], names: Iterable[str] = ()) -> frozenset[str]:
    """The values of ``env`` that must never appear anywhere: those of the built-in secret
    names and of ``names`` (settings.redaction.secret_env)."""
    extra = frozenset(names)
    return secret_texts(
        value
        for name, value in env.items()
        if name in SECRET_ENV_VARS or name in extra or is_secret_env_name(name)
    )


def secret_texts(values: Iterable[str]) -> frozenset[str]:
    """Secret values as the redactor takes them: each one, and each line of a multi-line one
    (a key's lines are printed one by one as often as whole), long enough to be specific."""
    found: set[str] = set()
    for value in values:
        found.add(value)
        if "\n" in value:
            found.update(line.strip() for line in value.splitlines())
    return frozenset(value for value in found if len(value) >= MIN_SECRET_LENGTH)


class _Memo:
    """Results remembered for one set of secret values (replaced whole when the set grows)."""

    __slots__ = ("last", "short")

    def __init__(self) -> None:
        # The last long string redacted and its result: a prompt or a response whose event
        # needs a walk (Redactor.encode_own) is redacted again as its stored turn.
        self.last: tuple[str, str] = ("", "")
        self.short: dict[str, str] = {}


class Redactor:
    """Redacts strings for a set of secret values, which may grow (``add``), never shrink."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._compile({s for s in secrets if len(s) >= MIN_SECRET_LENGTH})

    def _compile(self, secrets: set[str]) -> None:
        # Longest first, so a secret that contains another one is replaced whole.
        ordered = sorted(secrets, key=len, reverse=True)
        self._secrets = ordered
        self.longest = len(ordered[0]) if ordered else 0
        self._initials = frozenset(secret[0] for secret in ordered)
        self._exact = re.compile("|".join(map(re.escape, ordered))) if ordered else None
        # The same values as they appear inside JSON text: JSON escapes character by
        # character, so a string holding a secret holds its escaped form once encoded.
        escaped = [jsontext.dumps(secret)[1:-1] for secret in ordered]
        self._exact_in_json = re.compile("|".join(map(re.escape, escaped))) if ordered else None
        # Last, after the patterns: a result remembered meanwhile (by another thread, with the
        # old patterns) went into the memo replaced here, never into the one used from now on.
        self._memo = _Memo()

    def add(self, secrets: Iterable[str]) -> bool:
        """Redact ``secrets`` too from now on (a secret set while runs go on); True when the
        set grew. Values shorter than MIN_SECRET_LENGTH are left out, as at creation."""
        known = set(self._secrets)
        grown = known | {s for s in secrets if len(s) >= MIN_SECRET_LENGTH}
        if len(grown) == len(known):
            return False
        self._compile(grown)
        return True

    def text(self, text: str) -> str:
        """One string with every secret replaced."""
        if len(text) < MIN_SECRET_LENGTH:
            return text  # shorter than any secret and any pattern
        memo = self._memo
        if len(text) < _REMEMBERED_LENGTH:
            # Short strings recur (node names, statuses, models): remembered by value.
            known = memo.short.get(text)
            if known is None:
                if len(memo.short) >= _SHORT_MEMO_SIZE:
                    memo.short = {}
                known = memo.short[text] = self._redact(text)
            return known
        last = memo.last
        if text is last[0]:
            return last[1]
        redacted = self._redact(text)
        memo.last = (text, redacted)  # one assignment: a consistent pair for any thread
        return redacted

    def clean(self, text: str) -> str:
        """Text from outside fabro, storable and redacted (see the module docstring)."""
        return self.text(storable(text))

    def clean_value(self, value: T) -> T:
        """A JSON-like value from outside fabro, storable and redacted."""
        return self.value(storable_value(value))

    def safe_cut(self, text: str, cut: int) -> int:
        """The largest index <= ``cut`` that cuts no secret value of ``text`` in two, counting
        one that ``text`` ends with the first MIN_HELD or more characters of."""
        for start in range(max(0, cut - self.longest + 1), cut):
            if text[start] not in self._initials:
                continue
            for secret in self._secrets:
                end = start + len(secret)
                if end <= cut:
                    continue
                if end <= len(text):
                    if text.startswith(secret, start):
                        return start
                elif len(text) - start >= MIN_HELD and secret.startswith(text[start:]):
                    return start
        return cut

    def continued(self, before: str, text: str) -> str:
        """``text`` redacted, where ``before`` came just before it (already passed on): the
        rest of a secret value that began in ``before`` is redacted too."""
        rest = 0
        if self._exact is not None and before:
            joined = before + text
            for match in self._exact.finditer(joined, max(0, len(before) - self.longest + 1)):
                if match.start() >= len(before):
                    break
                rest = max(rest, match.end() - len(before))
        if rest <= 0:
            return self.text(text)
        return REDACTED + self.text(text[rest:])

    def _redact(self, text: str) -> str:
        if self._exact is not None:
            text = self._exact.sub(REDACTED, text)
        if len(text) < _SHORTEST_MATCH:
            return text
        # Key blocks before tokens: a token found inside a key would break up its base64 lines.
        if _PEM_MARKER in text:
            text = _redact_private_keys(text)
        # Each pattern runs only when the text holds a literal every match of it contains.
        if _may_hold_token(text):
            text = _TOKEN_PATTERN.sub(REDACTED, text)
        folded = text.casefold()  # what (?i) matches, except a dotless ı for i
        if "bearer" in folded:
            text = _BEARER.sub(f"Bearer {REDACTED}", text)
        if ("=" in text or ":" in text) and ("token" in folded or _has_key_word_but_token(folded)):
            text = _KEY_VALUE.sub(rf"\1\2{REDACTED}", text)
        return text

    def value(self, value: T) -> T:
        """A JSON-like value with every string inside redacted; keys and non-strings unchanged."""
        return cast(T, self._walk(value))

    def encode_own(self, payloads: list[dict[str, Any]]) -> list[str]:
        """The compact JSON text of each payload, redacted; payloads that need it are redacted
        in place too (they must be JSON made for the caller and shared with nobody, as ``own``
        needs).

        Most payloads hold nothing any rule could match. That is decided on their JSON text,
        which holds every string of them, with a few substring searches; only the payloads of
        a text that might are walked string by string.
        """
        texts = [jsontext.dumps(payload) for payload in payloads]
        if self._could_change("\n".join(texts)):
            for index, payload in enumerate(payloads):
                if self._could_change(texts[index]):
                    self.own(payload)
                    texts[index] = jsontext.dumps(payload)
        return texts

    def _could_change(self, json_text: str) -> bool:
        """Whether redacting the strings of the value encoded as ``json_text`` could change
        any: False only when no rule of ``_redact`` can match any of them. A string that a rule
        matches holds the rule's literal below, and so does the text (JSON escapes character
        by character, and escapes none of these characters)."""
        text = json_text
        if self._exact_in_json is not None and self._exact_in_json.search(text):
            return True
        if _PEM_MARKER in text or _may_hold_token(text):
            return True
        folded = text.casefold()
        if "bearer" in folded or _has_key_word_but_token(folded):
            return True
        # In JSON text an unescaped `":` only ever ends a key: "token" at the end of a key
        # such as "input_tokens" (keys are never redacted) is not a reason to look closer.
        return "token" in folded and folded.count("token") != folded.count('tokens":')

    def own(self, value: T) -> T:
        """``value`` redacted in place: for JSON made for the caller and shared with nobody
        (an event's ``to_json()``), which saves copying every object and list of it."""
        kind = type(value)
        if kind is dict:
            text = self.text
            own = self.own
            for key, item in cast(dict[Any, Any], value).items():
                kind = type(item)
                if kind is str:
                    # Shorter strings cannot hold a secret (text() would return them as is).
                    if len(item) >= MIN_SECRET_LENGTH:
                        cast(dict[Any, Any], value)[key] = text(item)
                elif kind not in _SCALARS:
                    cast(dict[Any, Any], value)[key] = own(item)
            return value
        if kind is list:
            items = cast(list[Any], value)
            for index, item in enumerate(items):
                items[index] = self.own(item)
            return value
        return cast(T, self._walk(value))

    def _walk(self, value: Any) -> Any:
        kind = type(value)
        if kind is str:
            return self.text(value)
        if kind in _SCALARS:
            return value
        if kind is dict:  # the common case first, each item without a call when it can
            walk = self._walk
            text = self.text
            return {
                key: text(item)
                if type(item) is str
                else item
                if type(item) in _SCALARS
                else walk(item)
                for key, item in value.items()
            }
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {key: self._walk(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self._walk(item) for item in value]
        if isinstance(value, tuple):
            return tuple(self._walk(item) for item in value)
        return value


class StreamRedactor:
    """Cleans text that arrives in pieces (a program's output, a streamed reply).

    A secret value cut between two pieces is still found: what could be its start is held
    back until the next piece. With ``lines`` the text is passed on a line at a time (up to
    LINE_HOLD characters), so that the patterns see whole lines too; without, it goes on at
    once but for the start of a secret value.
    """

    def __init__(self, redactor: Redactor, *, lines: bool) -> None:
        self._redactor = redactor
        self._lines = lines
        self._pending = ""  # received, not passed on
        self._before = ""  # the end of what was passed on, as received

    def feed(self, piece: str) -> str:
        """The text that can be passed on now, cleaned (may be empty)."""
        pending = self._pending + storable(piece)
        cut = len(pending)
        if self._lines:
            cut = pending.rfind("\n") + 1
            cut = max(cut, len(pending) - max(LINE_HOLD, self._redactor.longest))
        cut = self._redactor.safe_cut(pending, cut)
        self._pending = pending[cut:]
        return self._pass(pending[:cut])

    def close(self) -> str:
        """The rest, cleaned: the stream has ended."""
        rest, self._pending = self._pending, ""
        return self._pass(rest)

    def _pass(self, text: str) -> str:
        if not text:
            return ""
        cleaned = self._redactor.continued(self._before, text)
        keep = self._redactor.longest
        self._before = (self._before + text)[-keep:] if keep else ""
        return cleaned


def _redact_private_keys(text: str) -> str:
    text = _PEM_BLOCK.sub(REDACTED, text)
    # Any footer left has lost its header. Walk back over the base64 lines before it by hand:
    # a regex would rescan every long base64 run from each of its positions.
    parts: list[str] = []
    done = 0
    for footer in _PEM_FOOTER.finditer(text):
        start = footer.start()
        while start > done and text[start - 1] in _BASE64_OR_BREAK:
            start -= 1
        while start < footer.start() and text[start] in "\r\n":
            start += 1  # keep the line break before the key lines
        parts += (text[done:start], REDACTED)
        done = footer.end()
    parts.append(text[done:])
    return "".join(parts)


@functools.lru_cache(maxsize=16)
def redactor_for(secrets: frozenset[str]) -> Redactor:
    """The Redactor of a set of secret values, compiled once per distinct set."""
    return Redactor(secrets)


def redact(value: T, env: Mapping[str, str] | None = None) -> T:
    """Redact every string in ``value``, with secrets read from ``env`` (default: os.environ)."""
    secrets = secret_values(os.environ if env is None else env)
    return redactor_for(secrets).value(value)
