"""The simulated users of `scripts/load` (bench/load.py) and the workflow they drive.

Each ``Client`` owns one keep-alive connection and loops over a weighted mix of operations,
checking every response against the spec (api.md) and recording it in the shared ``Tally``.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.api import Fabro
from bench.loadreport import Tally
from fabro.events.sse import FrameParser

TERMINAL_STATUSES = ("completed", "failed", "cancelled")
TERMINAL_VARIANTS = ("WorkflowRunCompleted", "WorkflowRunFailed", "RunCancelled")
STATUS_FILTERS = ("running", "queued,running", "completed", "running,paused", "failed,cancelled")
ANSWER_RACE = "Question no longer exists or was already answered."
IDEMPOTENCY_CONFLICT = "Idempotency-Key was already used with a different request body."
SSE_READ_S = 1.5  # longest time a client follows one event stream
DONE_PROBABILITY = 0.08  # chance that an answer finishes the run instead of looping again

# command stages with short sleeps, parallel branches with a fan-in, a human gate that loops.
LOOP_WORKFLOW = """digraph Load {
  graph [goal="Keep the engine writing", max_node_visits=0, default_max_retry=0]
  start [shape=Mdiamond]
  exit [shape=Msquare]
  prep [shape=parallelogram, script="sleep 0.05"]
  fan [shape=component]
  left [shape=parallelogram, script="sleep 0.1"]
  right [shape=parallelogram, script="sleep 0.05"]
  join [shape=tripleoctagon]
  gate [shape=hexagon, label="Another round?"]
  finish [shape=parallelogram, script="true"]
  start -> prep -> fan
  fan -> left
  fan -> right
  left -> join
  right -> join
  join -> gate
  gate -> prep [label="[A] Again"]
  gate -> finish [label="[D] Done"]
  finish -> exit
}"""

# (operation, weight): each client step picks one.
MIX = (("list", 20), ("get", 25), ("events", 15), ("submit", 5), ("answer", 35))


@dataclass
class Shared:
    """What the clients learn and share while they run."""

    rng: random.Random
    tally: Tally = field(default_factory=Tally)
    run_ids: list[str] = field(default_factory=list)
    pending: dict[str, str] = field(default_factory=dict)  # run id -> a pending question id
    seen_seq: dict[str, int] = field(default_factory=dict)  # run id -> highest SSE id seen
    keys: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)  # key, body, run
    answered: set[tuple[str, str]] = field(default_factory=set)  # (run id, qid) answered: 204
    submitted: int = 0

    def learn(self, run: dict[str, Any]) -> None:
        question = run.get("pending_question")
        if question is not None:
            self.pending[run["id"]] = question["id"]
        else:
            self.pending.pop(run["id"], None)


def run_body(rng: random.Random) -> dict[str, Any]:
    return {"dot_source": LOOP_WORKFLOW, "labels": {"load": str(rng.randrange(1000))}}


class Client:
    """One simulated user with its own connection, looping over the operation mix."""

    def __init__(self, fabro: Fabro, shared: Shared) -> None:
        self.fabro = fabro
        self.http = fabro.client(limits=httpx.Limits(max_connections=1), timeout=30)
        self.shared = shared
        self.tally = shared.tally
        self.rng = random.Random(shared.rng.random())

    async def request(
        self,
        op: str,
        method: str,
        path: str,
        expect: int | tuple[int, ...],
        *,
        allowed: Callable[[httpx.Response], bool] | None = None,
        **kwargs: Any,
    ) -> httpx.Response | None:
        """One timed request; returns the response when its status was expected or allowed."""
        started = time.perf_counter()
        try:
            response = await self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            elapsed = (time.perf_counter() - started) * 1000
            self.tally.record(op, elapsed, "error", f"{type(exc).__name__}: {exc}")
            return None
        elapsed = (time.perf_counter() - started) * 1000
        self.tally.check_body(response.text)
        wanted = (expect,) if isinstance(expect, int) else expect
        if response.status_code in wanted:
            self.tally.record(op, elapsed, "ok")
            return response
        if allowed is not None and allowed(response):
            self.tally.record(op, elapsed, "expected")
            return response
        self.tally.record(op, elapsed, "error", f"{response.status_code} {response.text}")
        return None

    def pick_run(self) -> str:
        return self.rng.choice(self.shared.run_ids)

    def violation(self, op: str, text: str) -> None:
        """A response with the expected status whose content breaks the contract."""
        self.tally.ops[op].errors += 1
        self.tally.sample(f"{op}: {text}")

    async def loop(self, until: float) -> None:
        names = [name for name, _ in MIX]
        weights = [weight for _, weight in MIX]
        steps: dict[str, Callable[[float], Awaitable[None]]] = {
            "list": self.list_runs,
            "get": self.get_run,
            "events": self.follow_events,
            "submit": self.submit,
            "answer": self.answer,
        }
        try:
            while time.perf_counter() < until:
                await steps[self.rng.choices(names, weights)[0]](until)
        finally:
            await self.http.aclose()

    async def list_runs(self, until: float) -> None:
        params: dict[str, Any] = {
            "page[limit]": self.rng.choice((5, 20, 50, 100)),
            "page[offset]": self.rng.randrange(max(1, len(self.shared.run_ids))),
        }
        statuses = None
        if self.rng.random() < 0.5:
            statuses = self.rng.choice(STATUS_FILTERS)
            params["status"] = statuses
        response = await self.request("GET /runs", "GET", "/runs", 200, params=params)
        if response is None:
            return
        body = response.json()
        for run in body["data"]:
            status = run["run_status"]
            if statuses is not None and status not in statuses.split(","):
                self.violation("GET /runs", f"?status={statuses} returned a {status} run")
            self.shared.learn(run)
        order = [(run["created_at"], run["id"]) for run in body["data"]]
        if order != sorted(order, reverse=True):
            self.violation("GET /runs", "page not in created_at, id descending order")
        if not isinstance(body["meta"]["has_more"], bool):
            self.violation("GET /runs", "meta.has_more is not a boolean")

    async def get_run(self, until: float) -> None:
        run_id = self.pick_run()
        response = await self.request("GET /runs/{id}", "GET", f"/runs/{run_id}", 200)
        if response is not None:
            self.shared.learn(response.json())

    async def submit(self, until: float) -> None:
        roll = self.rng.random()
        body = run_body(self.rng)
        if roll < 0.3 or not self.shared.keys:
            key = uuid.uuid4().hex if roll >= 0.15 else None
            headers = {"Idempotency-Key": key} if key else {}
            op = "POST /runs" if key is None else "POST /runs (new key)"
            response = await self.request(op, "POST", "/runs", 201, json=body, headers=headers)
            if response is not None:
                await self.created(op, response, key, body)
            return
        if roll < 0.45:
            await self.submit_twice_at_once(body)
            return
        key, used, run_id = self.rng.choice(self.shared.keys)
        headers = {"Idempotency-Key": key}
        if roll < 0.85:
            op = "POST /runs (replay)"
            replay = await self.request(op, "POST", "/runs", 200, json=used, headers=headers)
            if replay is not None and replay.json()["id"] != run_id:
                self.violation(op, f"key {key} replayed run {replay.json()['id']}, not {run_id}")
            return
        other = {**used, "title": f"other {uuid.uuid4().hex}"}
        await self.request(
            "POST /runs (key reuse)",
            "POST",
            "/runs",
            (),
            allowed=lambda r: r.status_code == 409 and IDEMPOTENCY_CONFLICT in r.text,
            json=other,
            headers=headers,
        )

    async def created(
        self, op: str, response: httpx.Response, key: str | None, body: dict[str, Any]
    ) -> None:
        """Remember a new run; it must be readable at once (read after write)."""
        run_id = response.json()["id"]
        self.shared.run_ids.append(run_id)
        self.shared.submitted += 1
        if key is not None:
            self.shared.keys.append((key, body, run_id))
        if response.headers.get("Location") != f"/runs/{run_id}":
            self.violation(op, f"Location {response.headers.get('Location')!r} for {run_id}")
        await self.request("GET /runs/{id} (after create)", "GET", f"/runs/{run_id}", 200)

    async def submit_twice_at_once(self, body: dict[str, Any]) -> None:
        """One new key sent twice concurrently: one 201 and one 200 replay, of the same run."""
        key = uuid.uuid4().hex
        op = "POST /runs (same key x2)"
        headers = {"Idempotency-Key": key}
        partner = Client(self.fabro, self.shared)
        try:
            first, second = await asyncio.gather(
                self.request(op, "POST", "/runs", (200, 201), json=body, headers=headers),
                partner.request(op, "POST", "/runs", (200, 201), json=body, headers=headers),
            )
        finally:
            await partner.http.aclose()
        if first is None or second is None:
            return
        statuses = sorted((first.status_code, second.status_code))
        ids = {first.json()["id"], second.json()["id"]}
        if statuses != [200, 201] or len(ids) != 1:
            self.violation(op, f"key {key}: statuses {statuses}, runs {sorted(ids)}")
            return
        created = first if first.status_code == 201 else second
        await self.created(op, created, key, body)

    async def answer(self, until: float) -> None:
        pending = self.shared.pending
        run_id = self.rng.choice(list(pending)) if pending else self.pick_run()
        listed = await self.request(
            "GET /runs/{id}/questions", "GET", f"/runs/{run_id}/questions", 200
        )
        if listed is None:
            return
        questions = listed.json()["data"]
        if not questions:
            pending.pop(run_id, None)
            return
        qid = questions[0]["id"]
        key = "D" if self.rng.random() < DONE_PROBABILITY else "A"
        response = await self.request(
            "POST /runs/{id}/questions/{qid}/answer",
            "POST",
            f"/runs/{run_id}/questions/{qid}/answer",
            204,
            allowed=lambda r: r.status_code == 409 and ANSWER_RACE in r.text,
            json={"selected_option_key": key},
        )
        if response is None:
            return
        if pending.get(run_id) == qid:
            del pending[run_id]
        if response.status_code != 204:
            return
        op = "POST /runs/{id}/questions/{qid}/answer"
        if (run_id, qid) in self.shared.answered:
            self.violation(op, f"{run_id} {qid} accepted two answers")
        self.shared.answered.add((run_id, qid))
        # Read after write: the answered question is no longer pending.
        after = await self.request("GET /runs/{id} (after answer)", "GET", f"/runs/{run_id}", 200)
        if after is not None and (after.json().get("pending_question") or {}).get("id") == qid:
            self.violation("GET /runs/{id} (after answer)", f"{run_id} {qid} still pending")

    async def follow_events(self, until: float) -> None:
        run_id = self.pick_run()
        after = self.rng.randint(0, self.shared.seen_seq.get(run_id, 0))
        op = "GET /runs/{id}/events (SSE)"
        wanted = self.rng.randint(3, 20)
        started = time.perf_counter()
        headers = {"Last-Event-ID": str(after), "Accept": "text/event-stream"}
        try:
            async with self.http.stream(
                "GET", f"/runs/{run_id}/events", headers=headers
            ) as response:
                elapsed = (time.perf_counter() - started) * 1000
                if response.status_code == 410:
                    text = (await response.aread()).decode()
                    self.tally.check_body(text)
                    outcome = "expected" if await self.is_terminal(run_id) else "error"
                    self.tally.record(op, elapsed, outcome, f"410 on a live run: {text}")
                    return
                if response.status_code != 200:
                    text = (await response.aread()).decode()
                    self.tally.check_body(text)
                    self.tally.record(op, elapsed, "error", f"{response.status_code} {text}")
                    return
                self.tally.record(op, elapsed, "ok")
                budget = min(SSE_READ_S, max(0.05, until - time.perf_counter()))
                await self.read_frames(response, run_id, after, wanted, budget)
        except httpx.HTTPError as exc:
            elapsed = (time.perf_counter() - started) * 1000
            self.tally.record(op, elapsed, "error", f"{type(exc).__name__}: {exc}")

    async def read_frames(
        self, response: httpx.Response, run_id: str, after: int, wanted: int, budget_s: float
    ) -> None:
        """Read up to ``wanted`` frames for ``budget_s``; ids must follow ``after`` one by one."""
        parser = FrameParser()
        expected_seq = after + 1
        read = 0
        ended = True
        try:
            async with asyncio.timeout(budget_s):
                async for line in response.aiter_lines():
                    frame = parser.feed(line)
                    if frame is None:
                        continue
                    self.tally.frames += 1
                    read += 1
                    if frame.seq != expected_seq:
                        self.tally.sample(
                            f"SSE {run_id}: id {frame.id} where {expected_seq} was due"
                        )
                        self.tally.ops["GET /runs/{id}/events (SSE)"].errors += 1
                        return
                    expected_seq += 1
                    seen = self.shared.seen_seq
                    seen[run_id] = max(seen.get(run_id, 0), frame.seq)
                    variant = next(iter(json.loads(frame.data)))
                    if variant in TERMINAL_VARIANTS or read >= wanted:
                        return
        except TimeoutError:
            ended = False
        if ended and read < wanted:
            # The server ended the stream without a terminal event: allowed (a subscriber that
            # fell behind is dropped and reconnects), but worth reporting.
            self.tally.dropped_streams += 1

    async def is_terminal(self, run_id: str) -> bool:
        response = await self.request("GET /runs/{id}", "GET", f"/runs/{run_id}", 200)
        return response is not None and response.json()["status"] in TERMINAL_STATUSES
