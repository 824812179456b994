"""Races a client can start: one key gives one run, one question takes one answer."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import httpx

from tests.e2e.runs_support import wait_for_status, wait_until
from tests.security.conftest import Attacked

GATED = """digraph Gated {
  graph [goal="Race"]
  start [shape=Mdiamond]
  approve [shape=hexagon, label="Go?"]
  exit [shape=Msquare]
  start -> approve
  approve -> exit [label="[Y] Yes"]
  approve -> exit [label="[N] No"]
}"""
CONCURRENCY = 50


def race(
    attacked: Attacked,
    send: Callable[[httpx.AsyncClient, int], Coroutine[Any, Any, httpx.Response]],
    headers: dict[str, str] | None = None,
) -> list[httpx.Response]:
    """Send CONCURRENCY requests at once over their own connections."""

    async def all_at_once() -> list[httpx.Response]:
        async with httpx.AsyncClient(
            base_url=attacked.server.url,
            headers={"Authorization": f"Bearer {attacked.token}", **(headers or {})},
            timeout=30,
            limits=httpx.Limits(max_connections=CONCURRENCY),
        ) as http:
            return await asyncio.gather(*(send(http, i) for i in range(CONCURRENCY)))

    return asyncio.run(all_at_once())


def runs_labelled(http: httpx.Client, tag: str) -> list[str]:
    listed = http.get("/runs", params={"page[limit]": 100}).json()["data"]
    return [run["id"] for run in listed if run["labels"].get("race") == tag]


def cancel(http: httpx.Client, run_id: str) -> None:
    assert http.post(f"/runs/{run_id}/cancel").status_code == 200
    wait_for_status(http, run_id, {"cancelled"})


def test_concurrent_posts_with_one_idempotency_key_create_one_run(attacked: Attacked) -> None:
    tag = uuid.uuid4().hex
    body = {"dot_source": GATED, "labels": {"race": tag}}
    responses = race(
        attacked, lambda http, _: http.post("/runs", json=body), {"Idempotency-Key": tag}
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * (CONCURRENCY - 1) + [201], [r.text for r in responses]
    ids = {r.json()["id"] for r in responses}
    assert len(ids) == 1
    with attacked.client() as http:
        assert runs_labelled(http, tag) == list(ids)
        cancel(http, ids.pop())


def test_one_key_with_different_bodies_at_once_creates_one_run(attacked: Attacked) -> None:
    """Whichever body wins the key, every other body is refused; never two runs."""
    tag = uuid.uuid4().hex

    def send(http: httpx.AsyncClient, i: int) -> Coroutine[Any, Any, httpx.Response]:
        body = {"dot_source": GATED, "labels": {"race": tag, "n": str(i)}}
        return http.post("/runs", json=body)

    responses = race(attacked, send, {"Idempotency-Key": tag})
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * (CONCURRENCY - 1), statuses
    for refused in (r for r in responses if r.status_code == 409):
        assert refused.json()["errors"][0]["status"] == "409"
    with attacked.client() as http:
        (run_id,) = runs_labelled(http, tag)
        cancel(http, run_id)


def test_concurrent_answers_to_one_question_apply_exactly_one(attacked: Attacked) -> None:
    with attacked.client() as http:
        run_id = http.post("/runs", json={"dot_source": GATED}).json()["id"]
        wait_until(
            "the gate's question",
            lambda: http.get(f"/runs/{run_id}/questions").json()["data"] or None,
        )

    def send(http: httpx.AsyncClient, i: int) -> Coroutine[Any, Any, httpx.Response]:
        key = "Y" if i % 2 else "N"
        return http.post(f"/runs/{run_id}/questions/q-1/answer", json={"selected_option_key": key})

    responses = race(attacked, send)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [204] + [409] * (CONCURRENCY - 1), statuses
    with attacked.client() as http:
        wait_for_status(http, run_id, {"completed"})
        answered = [
            event
            for event in http.get(f"/runs/{run_id}/events", timeout=30).text.splitlines()
            if "InterviewCompleted" in event
        ]
        assert len(answered) == 1, answered
