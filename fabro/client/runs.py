"""`fabro runs list|show|cancel|pause|unpause|events|answer`: talk to a running server (cli.md §6).

Each command is a function of a FabroClient and its options that writes its output to the
given streams and returns the exit status, so the click layer stays a thin shell.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, TextIO

from fabro.cli_options import short_ts, table
from fabro.client.answers import checked_keys
from fabro.client.api import pending_question, plain, run_status, shown_status
from fabro.client.sdk import FabroClient

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


def list_runs(
    client: FabroClient,
    output: Output,
    *,
    status: str | None,
    workflow: str | None,
    limit: int | None,
    offset: int | None,
    as_json: bool,
) -> int:
    statuses = status.split(",") if status else None
    page = client.get_runs_page(status=statuses, workflow=workflow, limit=limit, offset=offset)
    data = plain(page.data)
    if as_json:
        output.line(json.dumps(data))
        return 0
    rows = [("ID", "STATUS", "CREATED", "TITLE")]
    rows += [(str(r["id"]), shown_status(r), _created(r), str(r.get("title") or "")) for r in data]
    for line in table(rows):
        output.line(line)
    return 0


def _created(run: dict[str, Any]) -> str:
    created: str | None = run.get("created_at")
    return short_ts(created) if created else ""


def show_run(client: FabroClient, output: Output, run_id: str, *, as_json: bool) -> int:
    run = plain(client.get_run(run_id))
    if as_json:
        output.line(json.dumps(run))
        return 0
    stages = plain(list(client.list_stages(run_id)))
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
    for stage in stages:
        took = f"  {stage['duration_secs']:.1f}s" if stage.get("duration_secs") is not None else ""
        mark = MARKS.get(stage["status"], "?")
        output.line(f"{mark} {stage['id']}  {stage['name']}{took}")
    return 0


def _question_text(question: Any) -> str | None:
    if not question:
        return None
    return f"{question.get('id', '')} {question.get('text', '')}".strip()


def transition(client: FabroClient, output: Output, run_id: str, action: str) -> int:
    """`cancel`, `pause` or `unpause`: POST the action, print `<past tense> <id>`."""
    actions = {"cancel": client.cancel_run, "pause": client.pause_run}
    actions.get(action, client.unpause_run)(run_id)
    output.line(f"{action}led {run_id}" if action == "cancel" else f"{action}d {run_id}")
    return 0


def answer_question(
    client: FabroClient,
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
        pending = plain(list(client.list_questions(run_id)))
        question = next((q for q in pending if q.get("id") == qid), None)
        if question is not None:
            chosen = checked_keys(question, chosen)  # NoSuchOption lists the valid keys
    if key is not None:
        client.answer_question(run_id, qid, option=chosen[0])
    elif keys is not None:
        client.answer_question(run_id, qid, options=chosen)
    else:
        client.answer_question(run_id, qid, value=value)
    output.line(f"answered {qid}")
    return 0


def follow_events(
    client: FabroClient, output: Output, run_id: str, *, after: int, as_json: bool
) -> int:
    """Print every event until the run has no more (the SDK reconnects with Last-Event-ID
    after a dropped connection or a server restart)."""
    for event in client.stream_run_events(run_id, after=after):
        if as_json:
            output.line(json.dumps({"id": event.seq, "data": event.payload}))
        else:
            fields = event.payload.get(event.variant)
            compact = json.dumps(fields, separators=(",", ":"))
            output.line(f"{event.seq} {event.variant} {compact}")
    return 0
