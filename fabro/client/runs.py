"""`fabro runs list|show|cancel|events|answer`: talk to a running server (cli.md §6).

Each command is a function of a ClientSettings and its options that writes its output to the
given streams and returns the exit status, so the click layer stays a thin shell.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

import httpx

from fabro.auth.client import ClientSettings, http_client
from fabro.events.sse import FrameParser

RECONNECTS = 5
RECONNECT_DELAY_S = 1.0
MARKS = {"completed": "✓", "failed": "✗", "running": "…", "cancelled": "✗", "pending": "·"}


class ApiError(Exception):
    """An error response (any status >= 400) or a connection failure, already worded."""


@dataclass
class Output:
    out: TextIO
    err: TextIO

    def line(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()


def _request(settings: ClientSettings, method: str, path: str, **kwargs: Any) -> httpx.Response:
    try:
        with http_client(settings, timeout=30.0) as client:
            response = client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        raise ApiError(f"cannot connect to {settings.base_url}: {exc}") from None
    _raise_for_error(response)
    return response


def _raise_for_error(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        error = response.json()["errors"][0]
        raise ApiError(f"{error['status']} {error['title']}: {error['detail']}")
    except (ValueError, KeyError, IndexError, TypeError):
        raise ApiError(f"{response.status_code} {response.reason_phrase}") from None


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
    data = _request(settings, "GET", "/runs", params=params).json()["data"]
    if as_json:
        output.line(json.dumps(data))
        return 0
    rows = [("ID", "STATUS", "CREATED", "TITLE")]
    rows += [(r["id"], r["status"], _short_ts(r["created_at"]), r.get("title", "")) for r in data]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        output.line(
            "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3]
        )
    return 0


def show_run(settings: ClientSettings, output: Output, run_id: str, *, as_json: bool) -> int:
    run = _request(settings, "GET", f"/runs/{run_id}").json()
    if as_json:
        output.line(json.dumps(run))
        return 0
    stages = _request(settings, "GET", f"/runs/{run_id}/stages", params={"page[limit]": 100})
    fields = [
        ("id", run["id"]),
        ("status", run["status"]),
        ("title", run.get("title")),
        ("workflow", (run.get("workflow") or {}).get("slug")),
        ("goal", run.get("goal")),
        ("created", run.get("created_at")),
        ("started", run.get("started_at")),
        ("finished", run.get("finished_at")),
        ("current node", run.get("current_node")),
        ("queue position", run.get("queue_position")),
        ("pending question", _question_text(run.get("pending_question"))),
        ("error", (run.get("error") or {}).get("message")),
    ]
    for name, value in fields:
        if value not in (None, ""):
            output.line(f"{name}: {value}")
    for stage in stages.json()["data"]:
        took = f"  {stage['duration_secs']:.1f}s" if stage.get("duration_secs") is not None else ""
        mark = MARKS.get(stage["status"], "?")
        output.line(f"{mark} {stage['id']}  {stage['name']}{took}")
    return 0


def _question_text(question: dict[str, str] | None) -> str | None:
    return f"{question['id']} {question['text']}" if question else None


def cancel_run(settings: ClientSettings, output: Output, run_id: str) -> int:
    _request(settings, "POST", f"/runs/{run_id}/cancel")
    output.line(f"cancelled {run_id}")
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
    if key is not None:
        body: dict[str, Any] = {"selected_option_key": key}
    elif keys is not None:
        body = {"selected_option_keys": [k.strip() for k in keys.split(",") if k.strip()]}
    else:
        body = {"value": value}
    _request(settings, "POST", f"/runs/{run_id}/questions/{qid}/answer", json=body)
    output.line(f"answered {qid}")
    return 0


def _frames(
    settings: ClientSettings, run_id: str, after: int
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Frames of one connection; ends when the server ends the stream (or on 410)."""
    headers = {"Last-Event-ID": str(after)} if after else {}
    with http_client(settings, timeout=httpx.Timeout(30.0, read=None)) as client:
        with client.stream("GET", f"/runs/{run_id}/events", headers=headers) as response:
            if response.status_code == 410:
                return
            if response.status_code >= 400:
                response.read()
                _raise_for_error(response)
            parser = FrameParser()
            for line in response.iter_lines():
                frame = parser.feed(line)
                if frame is not None and frame.seq is not None:
                    yield frame.seq, json.loads(frame.data)


def follow_events(
    settings: ClientSettings,
    output: Output,
    run_id: str,
    *,
    after: int,
    as_json: bool,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Print every event; reconnect with Last-Event-ID after a dropped connection."""
    last = after
    failures = 0
    while True:
        try:
            for seq, event in _frames(settings, run_id, last):
                last = seq
                failures = 0
                if as_json:
                    output.line(json.dumps({"id": seq, "data": event}))
                else:
                    ((variant, fields),) = event.items()
                    compact = json.dumps(fields, separators=(",", ":"))
                    output.line(f"{seq} {variant} {compact}")
            return 0
        except (httpx.TransportError, httpx.StreamError) as exc:
            failures += 1
            if failures > RECONNECTS:
                raise ApiError(f"cannot connect to {settings.base_url}: {exc}") from None
            sleep(RECONNECT_DELAY_S)
