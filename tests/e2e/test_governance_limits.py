"""Idempotent writes and rate limits against real `fabro serve` processes on 127.0.0.1."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import httpx

from fabro.auth.keys import ensure_key_pair, mint_token
from tests.e2e.conftest import StartServer
from tests.e2e.runs_support import (
    USER,
    jwt_server,
    read_events,
    start_run,
    wait_for_status,
    wait_until,
)

GATED = """digraph Gated {
  start [shape=Mdiamond]
  approve [shape=hexagon, label="Ship it?"]
  exit [shape=Msquare]
  start -> approve
  approve -> exit [label="[Y] Yes"]
  approve -> exit [label="[N] No"]
}"""
CONCURRENT = 100


def pending_question(http: httpx.Client, run_id: str) -> str:
    def probe() -> str | None:
        data = http.get(f"/runs/{run_id}/questions").json()["data"]
        return str(data[0]["id"]) if data else None

    qid: str = wait_until("the gate's question", probe)
    return qid


async def answer_at_once(
    url: str, token: str, path: str, body: dict[str, str], key: str
) -> list[httpx.Response]:
    """``CONCURRENT`` identical answers with one key, all sent before any is answered."""
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
    limits = httpx.Limits(max_connections=CONCURRENT)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=60) as http:
        return list(await asyncio.gather(*(http.post(path, json=body) for _ in range(CONCURRENT))))


def test_concurrent_identical_answers_with_one_key_apply_once_and_survive_a_restart(
    fabro_server: StartServer, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    server, token = jwt_server(fabro_server, tmp_path / "first", data_dir)
    with server.client(token=token) as http:
        run_id = start_run(http, GATED)
        qid = pending_question(http, run_id)
        path = f"/runs/{run_id}/questions/{qid}/answer"
        answers = asyncio.run(
            answer_at_once(server.url, token, path, {"selected_option_key": "Y"}, "once")
        )
        first = next(a for a in answers if "Idempotent-Replayed" not in a.headers)
        assert sum(1 for a in answers if "Idempotent-Replayed" not in a.headers) == 1
        assert all(
            (a.status_code, a.content) == (first.status_code, first.content) == (204, b"")
            for a in answers
        )
        assert all(a.headers["Idempotent-Replayed"] == "true" for a in answers if a is not first)

        # Another answer under the same key: 409, and the stored answer stays.
        other = http.post(
            path, json={"selected_option_key": "N"}, headers={"Idempotency-Key": "once"}
        )
        assert other.status_code == 409
        assert other.json()["errors"][0]["detail"] == (
            "Idempotency-Key was already used with a different request."
        )
        wait_for_status(http, run_id, {"completed"})
        events = read_events(http, run_id)
        assert [e.variant for e in events].count("InterviewCompleted") == 1

        # A failed request does not use up its key.
        second_run = start_run(http, GATED)
        second_path = f"/runs/{second_run}/questions/{pending_question(http, second_run)}/answer"
        retried = {"Idempotency-Key": "retry"}
        assert (
            http.post(second_path, json={"selected_option_key": "Z"}, headers=retried).status_code
            == 400
        )
        good = http.post(second_path, json={"selected_option_key": "N"}, headers=retried)
        assert good.status_code == 204 and "Idempotent-Replayed" not in good.headers

        session = http.post("/sessions", json={"content": "hi"}, headers={"Idempotency-Key": "s"})
        assert session.status_code == 201
    server.stop()

    with sqlite3.connect(data_dir / "fabro.db") as db:
        stored = db.execute(
            "SELECT status, answer FROM questions WHERE run_id = ? AND qid = ?", [run_id, qid]
        ).fetchall()
    assert len(stored) == 1 and stored[0][0] == "answered" and '"Y"' in stored[0][1]

    # After a restart the keys are still there: the same requests are replayed.
    server, token = jwt_server(fabro_server, tmp_path / "second", data_dir)
    with server.client(token=token) as http:
        again = http.post(
            path, json={"selected_option_key": "Y"}, headers={"Idempotency-Key": "once"}
        )
        assert again.status_code == 204 and again.headers["Idempotent-Replayed"] == "true"
        replayed = http.post("/sessions", json={"content": "hi"}, headers={"Idempotency-Key": "s"})
        assert replayed.status_code == 201 and replayed.headers["Idempotent-Replayed"] == "true"
        assert replayed.content == session.content
        assert replayed.headers["Location"] == session.headers["Location"]


LIMITED = f"""\
[api]
authentication_strategies = ["jwt"]
[web.auth]
allowed_usernames = ["{USER}", "bob"]
[rate_limits]
reads = 5
writes = 3
run_starts = 2
"""
BURST = 12  # more than twice the reads limit: some are refused even across a window's edge


def rate_headers(response: httpx.Response) -> tuple[str | None, ...]:
    names = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")
    return tuple(response.headers.get(name) for name in names)


def test_a_burst_gets_429_with_the_rate_limit_headers(
    fabro_server: StartServer, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    key = ensure_key_pair(data_dir / "keys")
    alice = mint_token(key, subject=USER, issuer="fabro-web", ttl_s=3600)
    bob = mint_token(key, subject="bob", issuer="fabro-web", ttl_s=3600)
    server = fabro_server(config=LIMITED, data_dir=data_dir)
    with server.client(token=alice) as http:
        started = http.post("/runs", json={"dot_source": GATED})
        assert started.status_code == 201
        limit, remaining, reset = rate_headers(started)
        assert limit == "2" and remaining in {"0", "1"} and reset and 1 <= int(reset) <= 60
        run_id = started.json()["id"]

        burst = [http.get(f"/runs/{run_id}") for _ in range(BURST)]  # the fast lane's route
        served = [r for r in burst if r.status_code == 200]
        refused = [r for r in burst if r.status_code == 429]
        assert len(served) + len(refused) == BURST and len(refused) >= BURST - 2 * 5
        assert all(rate_headers(r)[0] == "5" for r in burst)
        # The first read of the window, answered by the fast lane, with its headers.
        assert burst[0].status_code == 200 and rate_headers(burst[0])[:2] == ("5", "4")
        error = refused[0].json()["errors"][0]
        assert error["status"] == "429" and error["title"] == "Too Many Requests"
        assert "5 reads per minute ([rate_limits] reads)" in error["detail"]
        assert 1 <= int(refused[0].headers["Retry-After"]) <= 60
        assert refused[0].headers["RateLimit-Remaining"] == "0"

        for _ in range(BURST):  # never limited, and not counted
            health = http.get("/health")
            assert health.status_code == 200 and rate_headers(health) == (None, None, None)

    with server.client(token=bob) as http:
        other = http.get("/user")
        assert other.status_code == 200 and rate_headers(other)[:2] == ("5", "4")
