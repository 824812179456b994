"""Context values too large for the checkpoint go to a file (engine.md §6 step 10)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fabro.engine.outcome import Outcome

OFFLOAD_BYTES = 100_000
# A character takes at most 6 bytes in JSON text (`\u001f`; 4 in UTF-8 when not escaped).
_MAX_JSON_BYTES_PER_CHAR = 6


def offload(outcome: Outcome, run_dir: Path, stage_id: str) -> Outcome:
    """Context updates over 100 KB of JSON are written to ``<run_dir>/nodes/<stage_id>/values``;
    the context keeps `file://<path>` in their place. Nearly every outcome has none: it is
    returned as it is, without a copy of its updates or a path built for nothing."""
    updates: dict[str, Any] | None = None  # a copy, made at the first value offloaded
    for key, value in outcome.context_updates.items():
        if type(value) is str and len(value) * _MAX_JSON_BYTES_PER_CHAR + 2 <= OFFLOAD_BYTES:
            continue  # too short to be over the limit, whatever its characters
        encoded = json.dumps(value, ensure_ascii=False)
        if len(encoded.encode("utf-8")) <= OFFLOAD_BYTES:
            continue
        path = run_dir / "nodes" / stage_id / "values" / f"{_safe(key)}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(encoded, encoding="utf-8")
        if updates is None:
            updates = dict(outcome.context_updates)
        updates[key] = f"file://{path.resolve()}"
    return outcome if updates is None else outcome.with_(context_updates=updates)


def _safe(key: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in key)
