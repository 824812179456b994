"""Reading server.toml and .env files: UTF-8 text, TOML with positions, and typed access to
the parsed document whose errors name the file and line."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

from fabro import config_values as valid
from fabro.errors import StartupError


def show(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value).lower()


_TOML_POSITION = re.compile(r"^(?P<msg>.*?)\s*\(at line (?P<line>\d+), column (?P<col>\d+)\)$")


def read_toml(path: Path) -> dict[str, Any]:
    try:
        text = utf8_text(path)
    except OSError as exc:
        raise StartupError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_POSITION.match(str(exc))
        if match:
            where = f"{path}:{match['line']}:{match['col']}"
            raise StartupError(f"{where}: {match['msg']}") from None
        raise StartupError(f"{path}: {exc}") from None
    except ValueError as exc:  # an integer of more than 4,300 digits
        raise StartupError(f"{path}: {str(exc).split(';')[0]}") from None


def utf8_text(path: Path) -> str:
    """The text of ``path``; StartupError naming the line of the first byte that is not UTF-8."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise StartupError(
            f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x})"
        ) from None


def load_dotenv(path: Path, environ: dict[str, str] | os._Environ[str]) -> None:
    """Load KEY=VALUE lines from ``path`` without overriding variables already set."""
    try:
        text = utf8_text(path)
    except OSError:
        return
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        key, value = key.strip(), value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        if key and key not in environ:
            environ[key] = value


class FileSource:
    """Typed access to a parsed server.toml, with errors that name the file and line."""

    def __init__(self, path: Path | None, document: dict[str, Any]) -> None:
        self.path = path
        self.document = document

    def _lookup(self, key: str) -> tuple[bool, Any]:
        node: Any = self.document
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return False, None
            node = node[part]
        return True, node

    def has(self, key: str) -> bool:
        return self._lookup(key)[0]

    def has_table(self, key: str) -> bool:
        found, value = self._lookup(key)
        return found and isinstance(value, dict)

    def get(self, key: str, validate: valid.Validator) -> Any:
        _, raw = self._lookup(key)
        try:
            return validate(raw)
        except valid.Invalid as exc:
            where = self.where(key)
            raise StartupError(f"{where}: {key} must be {exc} (got {show(raw)})") from None

    def where(self, key: str) -> str:
        """``file:line`` of ``key``'s assignment (``file`` alone when the line is not found)."""
        line = _line_of(self.path, key) if self.path else None
        return f"{self.path}:{line}" if line else f"{self.path}"


def _line_of(path: Path, dotted_key: str) -> int | None:
    """The line of ``dotted_key``'s assignment, found by scanning the file table by table."""
    table, _, leaf = dotted_key.rpartition(".")
    current = ""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    header = re.compile(r"^\s*\[\s*([A-Za-z0-9_.\- ]+?)\s*\]\s*(#.*)?$")
    for number, line in enumerate(lines, start=1):
        match = header.match(line)
        if match:
            current = match.group(1).replace(" ", "")
            continue
        assignment = re.match(r"^\s*([A-Za-z0-9_.\-\"]+)\s*=", line)
        if not assignment:
            continue
        key = assignment.group(1).replace('"', "")
        full = f"{current}.{key}" if current else key
        if full == dotted_key or (current == table and key == leaf):
            return number
    return None
