"""Context values too large for the checkpoint go to a file (engine.md §6 step 10)."""

from __future__ import annotations

import json
from pathlib import Path

from fabro.engine.outcome import Outcome

OFFLOAD_BYTES = 100_000
# A character takes at most 6 bytes in JSON text (`\u001f`; 4 in UTF-8 when not escaped).
_MAX_JSON_BYTES_PER_CHAR = 6


def offload(outcome: Outcome, values_dir: Path) -> Outcome:
    """Context updates over 100 KB of JSON are written to ``values_dir``; the context keeps
    `file://<path>` in their place."""
    updates = dict(outcome.context_updates)
    changed = False
    for key, value in outcome.context_updates.items():
        if type(value) is str and len(value) * _MAX_JSON_BYTES_PER_CHAR + 2 <= OFFLOAD_BYTES:
            continue  # too short to be over the limit, whatever its characters
        encoded = json.dumps(value, ensure_ascii=False)
        if len(encoded.encode("utf-8")) <= OFFLOAD_BYTES:
            continue
        path = values_dir / f"{_safe(key)}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(encoded, encoding="utf-8")
        updates[key] = f"file://{path.resolve()}"
        changed = True
    return outcome.with_(context_updates=updates) if changed else outcome


def _safe(key: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in key)
