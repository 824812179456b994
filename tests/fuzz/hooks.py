"""Schemathesis hooks for the API fuzz run (loaded by the schemathesis CLI, see tests/fuzz/api.py).

- ``fabro_error_envelope``: a check that every error response has the one envelope of api.md §2
  (exactly one entry, ``status`` equal to the HTTP status, the title of the table, a detail).
- ``fabro_common_headers``: every response carries ``X-Content-Type-Options: nosniff`` and
  ``Cache-Control`` (``no-store``, ``no-cache`` for event streams), and no CORS headers.
- ``after_call``: counts the requests made, by status class, into ``$FABRO_FUZZ_STATS`` (JSON,
  written when the CLI process exits) so the runner can report how many requests it made.
"""

from __future__ import annotations

import ast
import atexit
import json
import os
import threading
from collections import Counter
from typing import Any

import schemathesis
import tomli_w
from schemathesis import Case, CheckContext, HookContext, Response

from fabro.errors import STATUS_TITLES

STATS_ENV = "FABRO_FUZZ_STATS"

# fabro reads request bodies in YAML and TOML as well as JSON (fabro/api/formats.py), and the
# document lists their media types; schemathesis writes YAML but knows neither
# application/yml nor TOML.
schemathesis.serializer.alias("application/yml", "application/yaml")


def toml_body(ctx: Any, value: Any) -> bytes:
    """``value`` as TOML: nulls left out (TOML has none, and fabro reads a null field as an
    absent one); what TOML cannot hold (a body that is no object, a null in a list) goes as
    its JSON text, which the server refuses with a 400 as it should."""
    if isinstance(value, dict):
        try:
            return tomli_w.dumps(_without_nulls(value)).encode()
        except (TypeError, ValueError):
            pass
    return json.dumps(value).encode()


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


schemathesis.serializer("application/toml")(toml_body)


# CPython 3.11's AST constructor is not thread-safe: two schemathesis workers describing
# Hypothesis lambdas at once fail with "SystemError: AST constructor recursion depth mismatch".
# Serialize ast.parse in this (fuzzer) process; the server is not affected.
_ast_lock = threading.Lock()
_ast_parse = ast.parse


def _locked_parse(*args: Any, **kwargs: Any) -> Any:
    with _ast_lock:
        return _ast_parse(*args, **kwargs)


ast.parse = _locked_parse  # type: ignore[assignment]

_lock = threading.Lock()
_requests = 0
_statuses: Counter[str] = Counter()
_operations: dict[str, Counter[str]] = {}


def _header(response: Response, name: str) -> str | None:
    values = response.headers.get(name.lower())
    return values[0] if values else None


@schemathesis.check
def fabro_error_envelope(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    status = response.status_code
    if status < 400:
        return None
    try:
        body: Any = json.loads(response.content)
    except ValueError:
        raise AssertionError(f"{status} without a JSON body: {response.content[:200]!r}") from None
    assert isinstance(body, dict) and list(body) == ["errors"], f"not the envelope: {body!r}"
    errors = body["errors"]
    assert isinstance(errors, list) and len(errors) == 1, f"not exactly one error: {body!r}"
    entry = errors[0]
    assert isinstance(entry, dict) and set(entry) == {"status", "title", "detail"}, entry
    assert entry["status"] == str(status), f"status {entry['status']!r} in a {status}"
    assert entry["title"] == STATUS_TITLES.get(status), f"title {entry['title']!r} for {status}"
    detail = entry["detail"]
    assert isinstance(detail, str) and detail.strip(), f"empty detail: {entry!r}"
    assert "Traceback" not in detail, f"a stack trace in the detail: {detail!r}"
    return None


@schemathesis.check
def fabro_common_headers(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    assert _header(response, "X-Content-Type-Options") == "nosniff", "no X-Content-Type-Options"
    content_type = _header(response, "Content-Type") or ""
    expected = "no-cache" if content_type.startswith("text/event-stream") else "no-store"
    cache_control = _header(response, "Cache-Control")
    assert cache_control == expected, f"Cache-Control {cache_control!r}, expected {expected!r}"
    assert _header(response, "Access-Control-Allow-Origin") is None, "a CORS header"
    return None


@schemathesis.hook
def after_call(context: HookContext, case: Case, response: Response) -> None:
    global _requests
    with _lock:
        _requests += 1
        status = f"{response.status_code // 100}xx"
        _statuses[status] += 1
        _operations.setdefault(case.operation.label, Counter())[status] += 1


def _write_stats() -> None:
    path = os.environ.get(STATS_ENV)
    if not path:
        return
    with _lock:
        stats = {
            "requests": _requests,
            "statuses": dict(sorted(_statuses.items())),
            "operations": {op: dict(sorted(c.items())) for op, c in sorted(_operations.items())},
        }
    with open(path, "w", encoding="utf-8") as out:
        json.dump(stats, out, indent=1)


atexit.register(_write_stats)
