"""Failure classes, signatures and the circuit breaker (workflow-language.md §12.7)."""

from __future__ import annotations

import re

CLASS_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("canceled", ("cancel", "abort")),
    (
        "transient_infra",
        (
            "timeout", "timed out", "rate limit", "connection refused", "connection reset",
            "500", "502", "503", "504", "context deadline exceeded", "could not resolve host",
            "temporary failure", "network is unreachable", "broken pipe",
            "tls handshake timeout", "no route to host", "temporarily unavailable",
            "try again", "too many requests", "service unavailable", "gateway timeout",
            "econnrefused", "econnreset", "dial tcp", "transport is closing",
            "stream disconnected", "stream closed before", "cross-device link", "os error 18",
        ),
    ),
    (
        "budget_exhausted",
        (
            "turn limit", "token limit", "context length", "budget", "quota exceeded",
            "max_turns", "max turns", "max_tokens", "max tokens", "context window exceeded",
        ),
    ),
    ("structural", ("scope violation", "write_scope_violation")),
)  # fmt: skip

_ALIASES = {
    "cancelled": "canceled",
    "transient": "transient_infra",
    "retryable": "transient_infra",
    "permanent": "deterministic",
    "budget": "budget_exhausted",
}
CLASSES = frozenset(
    {
        "transient_infra",
        "deterministic",
        "budget_exhausted",
        "compilation_loop",
        "canceled",
        "structural",
    }
)
BREAKER_CLASSES = frozenset({"deterministic", "structural"})


def classify_message(message: str) -> str:
    """The class derived from a failure message: the first keyword group that matches."""
    lowered = message.lower()
    for failure_class, keywords in CLASS_KEYWORDS:
        if any(keyword in lowered for keyword in keywords):
            return failure_class
    return "deterministic"


def parse_class(text: str) -> str:
    """An explicit class string, read leniently; unknown values are `deterministic`."""
    cleaned = text.strip().lower()
    cleaned = _ALIASES.get(cleaned, cleaned)
    return cleaned if cleaned in CLASSES else "deterministic"


def effective_class(explicit: str | None, message: str) -> str:
    return parse_class(explicit) if explicit else classify_message(message)


_HEX = re.compile(r"\b[0-9a-f]{7,64}\b")
_NUM = re.compile(r"\b[0-9]+\b")
_COMMA = re.compile(r",\s+")
_SPACE = re.compile(r"\s+")


def normalize_reason(reason: str) -> str:
    text = reason.strip().lower()
    text = _HEX.sub("<hex>", text)
    text = _NUM.sub("<n>", text)
    text = _COMMA.sub(",", text)
    text = _SPACE.sub(" ", text).strip()[:240]
    return text or "unknown"


def signature(node_id: str, failure_class: str, reason: str) -> str:
    """`<node_id>|<class>|<normalized reason>`."""
    return f"{node_id}|{failure_class}|{normalize_reason(reason)}"
