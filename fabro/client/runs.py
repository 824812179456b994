"""`fabro runs list|show|cancel|pause|unpause|events|answer`: talk to a running server (cli.md §6).

Each command is a function of a ClientSettings and its options that writes its output to the
given streams and returns the exit status, so the click layer stays a thin shell.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TextIO

import httpx

from fabro.auth.client import ClientSettings, async_http_client
from fabro.client.answers import checked_keys
from fabro.client.api import pending_question, request, run_status, shown_status
from fabro.client.events import EventStream

MARKS = {"completed": "✓", "failed": "✗", "running": "…", "cancelled": "✗", "pending": "·"}


@dataclass
class Output:
    out: TextIO
    err: TextIO

    def line(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def note(self, text: str) -> None:
        self.err.write(text + "\n")
        self.err.flush()


def _short_ts(value: str | None) -> str:
    """`2026-03-12T10:15:02.123Z` -> `2026-03-12T10:15:02Z`."""
    return value[:19] + "Z" if value else ""


def list_runs(
    settings: ClientSettings,
    output: Output,
    *,
    status: str | None,
    workflow: str | None,
    limit: int | None,
    offset: int | None,
    as_json: bool,
) -> int:
    params: dict[str, Any] = {}
    if status:
        params["status"] = status
    if workflow:
        params["workflow"] = workflow
    if limit is not None:
        params["page[limit]"] = limit
    if offset is not None:
        params["page[offset]"] = offset
    data = request(settings, "GET", "/runs", params=params).json()["data"]
    if as_json:
        output.line(json.dumps(data))
        return 0
    rows = [("ID", "STATUS", "CREATED", "TITLE")]
    rows += [
        (str(r["id"]), shown_status(r), _short_ts(r.get("created_at")), str(r.get("title") or ""))
        for r in data
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        output.line(
            "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3]
        )
    return 0


def show_run(settings: ClientSettings, output: Output, run_id: str, *, as_json: bool) -> int:
    run = request(settings, "GET", f"/runs/{run_id}").json()
    if as_json:
        output.line(json.dumps(run))
        return 0
    stages = request(settings, "GET", f"/runs/{run_id}/stages", params={"page[limit]": 100})
    question = pending_question(run)
    status = shown_status(run)
    if status != run_status(run):
        status = f"{status} ({run_status(run)}, at a human gate)"
    fields = [
        ("id", run["id"]),
        ("status", status),
        ("title", run.get("title")),
        ("workflow", (run.get("workflow") or {}).get("slug")),
        ("goal", run.get("goal")),
        ("created", run.get("created_at")),
        ("started", run.get("started_at")),
        ("finished", run.get("finished_at")),
        ("current node", run.get("current_node")),
        ("queue position", run.get("queue_position")),
        ("pending question", _question_text(question)),
        ("error", (run.get("error") or {}).get("message")),
    ]
    for name, value in fields:
        if value not in (None, ""):
            output.line(f"{name}: {value}")
    if question is not None:
        output.line(
            f"answer with: fabro runs answer {run['id']} {question.get('id')} --option-key KEY"
        )
    for stage in stages.json()["data"]:
        took = f"  {stage['duration_secs']:.1f}s" if stage.get("duration_secs") is not None else ""
        mark = MARKS.get(stage["status"], "?")
        output.line(f"{mark} {stage['id']}  {stage['name']}{took}")
    return 0


def _question_text(question: Any) -> str | None:
    if not question:
        return None
    return f"{question.get('id', '')} {question.get('text', '')}".strip()


def transition(settings: ClientSettings, output: Output, run_id: str, action: str) -> int:
    """`cancel`, `pause` or `unpause`: POST the action, print `<past tense> <id>`."""
    request(settings, "POST", f"/runs/{run_id}/{action}")
    output.line(f"{action}led {run_id}" if action == "cancel" else f"{action}d {run_id}")
    return 0


def answer_question(
    settings: ClientSettings,
    output: Output,
    run_id: str,
    qid: str,
    *,
    key: str | None,
    keys: str | None,
    value: str | None,
) -> int:
    """Keys match case-insensitively when the question is pending (else the server decides)."""
    chosen = [key] if key is not None else []
    if keys is not None:
        chosen = [k.strip() for k in keys.split(",") if k.strip()]
    if chosen:
        pending = request(settings, "GET", f"/runs/{run_id}/questions").json()["data"]
        question = next((q for q in pending if q.get("id") == qid), None)
        if question is not None:
            chosen = checked_keys(question, chosen)  # NoSuchOption lists the valid keys
    if key is not None:
        body: dict[str, Any] = {"selected_option_key": chosen[0]}
    elif keys is not None:
        body = {"selected_option_keys": chosen}
    else:
        body = {"value": value}
    request(settings, "POST", f"/runs/{run_id}/questions/{qid}/answer", json=body)
    output.line(f"answered {qid}")
    return 0


def follow_events(
    settings: ClientSettings,
    output: Output,
    run_id: str,
    *,
    after: int,
    as_json: bool,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> int:
    """Print every event; reconnect with Last-Event-ID after a dropped connection."""

    async def follow() -> None:
        async with async_http_client(settings, timeout=httpx.Timeout(30.0, read=None)) as http:
            stream = EventStream(http, settings, run_id, after=after, sleep=sleep)
            async for event in stream.events():
                if as_json:
                    output.line(json.dumps({"id": event.seq, "data": event.payload}))
                else:
                    fields = event.payload.get(event.variant)
                    compact = json.dumps(fields, separators=(",", ":"))
                    output.line(f"{event.seq} {event.variant} {compact}")

    asyncio.run(follow())
    return 0
