"""Agent and prompt stages through the real engine, against both providers' wire protocols."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from fabro.clock import now_ts
from fabro.llm.http import HttpRetryPolicy
from fabro.llm.router import Router
from fabro.storage import stages, steering
from fabro.storage.db import Database
from tests.engine.harness import Harness
from tests.llm import fake_providers as fp
from tests.llm.fake_providers import ANTHROPIC_PATH, OPENAI_PATH, FakeProviders

KEYS = {"anthropic": "sk-ant-live-0123456789abcdefghij", "openai": "sk-live-0123456789abcdefghij"}

BUILD = """
digraph Build {
  graph [goal="Say hello", default_provider="PROVIDER"]
  start [shape=Mdiamond]
  build [shape=box, prompt="Create hello.txt and check it"]
  review [shape=tab, prompt="Review the work"]
  exit [shape=Msquare]
  start -> build -> review -> exit
}
"""

# (model, input price, output price) of each provider's default model
MODELS = {"anthropic": ("claude-opus-4-6", 15.0, 75.0), "openai": ("gpt-5.4", 2.5, 15.0)}


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    db = await Database.open(tmp_path / "local.db")
    yield Harness(db=db, data_dir=tmp_path)
    await db.close()


@pytest.fixture
async def router(fake: FakeProviders, harness: Harness) -> AsyncIterator[Router]:
    env = {
        "ANTHROPIC_API_KEY": KEYS["anthropic"],
        "ANTHROPIC_BASE_URL": fake.url,
        "OPENAI_API_KEY": KEYS["openai"],
        "OPENAI_BASE_URL": fake.url + "/v1",
    }
    backend = Router(env, policy=HttpRetryPolicy(sleep=harness.sleep, rng=random.Random(2)))
    yield backend
    await backend.aclose()


def script(
    fake: FakeProviders, provider: str, *replies: tuple[str, list[fp.ToolUse], int, int]
) -> None:
    """Queue replies (text, tool calls, input tokens, output tokens) for ``provider``."""
    for text, tools, tokens_in, tokens_out in replies:
        if provider == "anthropic":
            fake.anthropic(
                fp.anthropic(text, tools, input_tokens=tokens_in, output_tokens=tokens_out)
            )
        else:
            fake.openai(
                fp.openai(text, tools, prompt_tokens=tokens_in, completion_tokens=tokens_out)
            )


def work_dir(harness: Harness, run_id: str) -> Path:
    return harness.lifecycle.run_dir(run_id) / "work"


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
async def test_agent_and_prompt_stages_complete(
    harness: Harness, fake: FakeProviders, router: Router, provider: str
) -> None:
    script(
        fake,
        provider,
        (
            "I'll write the file.",
            [
                ("call_1", "write_file", {"path": "hello.txt", "content": "hello\n"}),
                ("call_2", "shell", {"command": "cat hello.txt && mkdir out && echo hi > out/x"}),
            ],
            100,
            20,
        ),
        (
            "",
            [("call_3", "list_files", {}), ("call_4", "read_file", {"path": "hello.txt"})],
            200,
            30,
        ),
        ("Created hello.txt.", [], 300, 40),
        ("Looks good.", [], 50, 10),
    )
    dot = BUILD.replace("PROVIDER", provider)
    run, result = await harness.run(dot, deps=harness.deps(llm=router))
    assert result.status == "completed", result.error

    # The tools really ran in the run's working directory.
    work = work_dir(harness, run.id)
    assert (work / "hello.txt").read_text() == "hello\n"
    assert (work / "out" / "x").read_text() == "hi\n"

    turns = await stages.list_turns(harness.db, run.id, "build")
    assert [t.kind for t in turns] == ["system", "tool", "tool", "assistant"]
    assert turns[1].content == "I'll write the file."
    assert turns[2].content is None
    assert turns[3].content == "Created hello.txt."
    results = [(u["tool_name"], u["result"], u["is_error"]) for t in turns[1:3] for u in t.tools]
    assert results == [
        ("write_file", "Wrote 6 bytes to hello.txt", False),
        ("shell", "exit_code: 0\n--- stdout ---\nhello\n\n--- stderr ---\n", False),
        ("list_files", "hello.txt\nout/\nout/x", False),
        ("read_file", "hello\n", False),
    ]
    assert json.loads(turns[1].tools[0]["input"]) == {"path": "hello.txt", "content": "hello\n"}
    review_turns = await stages.list_turns(harness.db, run.id, "review")
    assert [(t.kind, t.content) for t in review_turns][1:] == [("assistant", "Looks good.")]

    # Usage and cost from the real token counts, summed per stage and over the run.
    model, price_in, price_out = MODELS[provider]
    completed = {e["node_id"]: e for e in await harness.of(run.id, "StageCompleted")}
    build_usage = completed["build"]["usage"]
    assert (build_usage["model"], build_usage["input_tokens"], build_usage["output_tokens"]) == (
        model,
        600,
        90,
    )
    build_cost = (600 * price_in + 90 * price_out) / 1e6
    review_cost = (50 * price_in + 10 * price_out) / 1e6
    assert build_usage["cost"] == pytest.approx(build_cost)
    assert completed["review"]["usage"]["cost"] == pytest.approx(review_cost)
    assert completed["build"]["files_touched"] == ["hello.txt"]
    (done,) = await harness.of(run.id, "WorkflowRunCompleted")
    assert done["total_cost"] == pytest.approx(build_cost + review_cost)
    ctx = (await harness.checkpoint(run.id))["context_values"]
    assert ctx["response.build"] == "Created hello.txt."
    assert ctx["response.review"] == "Looks good."

    # Agent events of the tool loop.
    kinds = [
        e["event"] if isinstance(e["event"], str) else next(iter(e["event"]))
        for e in await harness.of(run.id, "Agent")
        if e["stage"] == "build"
    ]
    assert kinds.count("ToolCallStarted") == 4 and kinds.count("ToolCallCompleted") == 4
    assert kinds[0] == "SessionStarted" and kinds[-1] == "SessionEnded"

    # What went over the wire: tools offered to the agent only, results sent back.
    path = ANTHROPIC_PATH if provider == "anthropic" else OPENAI_PATH
    bodies = fake.bodies(path)
    assert len(bodies) == 4
    assert {
        t["name"] if provider == "anthropic" else t["function"]["name"] for t in bodies[0]["tools"]
    } == {
        "shell",
        "read_file",
        "write_file",
        "list_files",
    }
    assert "tools" not in bodies[3]
    assert str(work) in (
        bodies[0]["system"] if provider == "anthropic" else bodies[0]["messages"][0]["content"]
    )
    assert _tool_results(provider, bodies[1]) == {
        "call_1": "Wrote 6 bytes to hello.txt",
        "call_2": "exit_code: 0\n--- stdout ---\nhello\n\n--- stderr ---\n",
    }
    # The key is never written to the event log.
    events = json.dumps(await harness.events(run.id, depth=None))
    assert KEYS[provider] not in events


def _tool_results(provider: str, body: dict[str, Any]) -> dict[str, str]:
    if provider == "anthropic":
        return {
            block["tool_use_id"]: block["content"]
            for turn in body["messages"]
            for block in turn["content"]
            if block["type"] == "tool_result"
        }
    return {m["tool_call_id"]: m["content"] for m in body["messages"] if m["role"] == "tool"}


ONE_AGENT = """
digraph One {
  graph [default_provider="PROVIDER"]
  start [shape=Mdiamond]
  build [shape=box, prompt="Go"]
  exit [shape=Msquare]
  start -> build -> exit
}
"""


async def test_escaping_tool_calls_are_refused(
    harness: Harness, fake: FakeProviders, router: Router, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    script(
        fake,
        "anthropic",
        (
            "",
            [
                ("c1", "write_file", {"path": "../../escaped.txt", "content": "x"}),
                ("c2", "read_file", {"path": "/etc/hostname"}),
                ("c3", "write_file", {"path": "link/evil.txt", "content": "x"}),
            ],
            10,
            1,
        ),
        ("Gave up.", [], 10, 1),
    )
    record = await harness.create(ONE_AGENT.replace("PROVIDER", "anthropic"))
    work = harness.lifecycle.prepare_dirs(record, None)
    (work / "link").symlink_to(outside)
    await harness.execute(record, deps=harness.deps(llm=router))
    turns = await stages.list_turns(harness.db, record.id, "build")
    assert [(u["result"], u["is_error"]) for u in turns[1].tools] == [
        ("Path is outside the working directory: ../../escaped.txt", True),
        ("Path is outside the working directory: /etc/hostname", True),
        ("Path is outside the working directory: link/evil.txt", True),
    ]
    assert not list(outside.iterdir())
    assert not (tmp_path / "escaped.txt").exists()


async def test_steering_reaches_the_next_turn(
    harness: Harness, fake: FakeProviders, router: Router
) -> None:
    record = await harness.create(ONE_AGENT.replace("PROVIDER", "anthropic"))

    async def steer(request: fp.Recorded) -> None:
        if len(fake.requests) == 1:  # while the first model call is in flight
            await harness.db.write(
                lambda tx: steering.add_steering(
                    tx,
                    run_id=record.id,
                    guidance="Use tabs",
                    location=None,
                    created_by="alice",
                    created_at=now_ts(),
                )
            )

    fake.on_request = steer
    script(fake, "anthropic", ("", [("c1", "list_files", {})], 10, 1), ("Done.", [], 10, 1))
    await harness.execute(record, deps=harness.deps(llm=router))
    turns = await stages.list_turns(harness.db, record.id, "build")
    assert [(t.kind, t.content) for t in turns][1:] == [
        ("tool", None),
        ("system", "Use tabs"),
        ("assistant", "Done."),
    ]
    last_turn = fake.bodies(ANTHROPIC_PATH)[1]["messages"][-1]
    assert last_turn["role"] == "user"
    assert [b["type"] for b in last_turn["content"]] == ["tool_result", "text"]
    assert last_turn["content"][-1]["text"] == "Use tabs"
    injected = [
        e["event"]["SteeringInjected"]
        for e in await harness.of(record.id, "Agent")
        if isinstance(e["event"], dict) and "SteeringInjected" in e["event"]
    ]
    assert injected == [{"text": "Use tabs"}]


async def test_turn_limit(harness: Harness, fake: FakeProviders, router: Router) -> None:
    dot = ONE_AGENT.replace("PROVIDER", "openai").replace('prompt="Go"', 'prompt="Go", max_turns=2')
    script(fake, "openai", *[("", [("c", "list_files", {})], 5, 1)] * 2)
    run, _ = await harness.run(dot, deps=harness.deps(llm=router))
    failed = await harness.first(run.id, "StageFailed", "build")
    assert failed["failure"]["message"] == "Agent turn limit reached (2 turns)"
    assert failed["failure"]["failure_class"] == "budget_exhausted"


async def test_429_then_success_emits_llm_retry(
    harness: Harness, fake: FakeProviders, router: Router
) -> None:
    fake.anthropic(fp.error(429, "rate limited", retry_after="2"), fp.anthropic("ok"))
    run, result = await harness.run(
        ONE_AGENT.replace("PROVIDER", "anthropic"), deps=harness.deps(llm=router)
    )
    assert result.status == "completed", result.error
    retries = [
        e["event"]["LlmRetry"]
        for e in await harness.of(run.id, "Agent")
        if isinstance(e["event"], dict) and "LlmRetry" in e["event"]
    ]
    assert retries == [
        {
            "provider": "anthropic",
            "model": "claude-opus-4-6",
            "attempt": 1,
            "delay_secs": 2.0,
            "error": "LLM error: anthropic returned HTTP 429: rate limited",
        }
    ]
    assert harness.sleep.delays == [2.0]


@pytest.mark.parametrize(
    ("reply", "message", "failure_class", "requests"),
    [
        (
            fp.error(401, "bad key"),
            "LLM error: anthropic returned HTTP 401: bad key",
            "deterministic",
            1,
        ),
        (
            fp.error(500, "boom"),
            "LLM error: anthropic returned HTTP 500: boom",
            "transient_infra",
            6,
        ),
        (
            fp.raw(b"garbage"),
            "LLM error: anthropic sent a malformed response: ",
            "deterministic",
            1,
        ),
        (
            fp.dropped(fp.anthropic("partial"), 2),
            "LLM error: anthropic connection failed: ",
            "transient_infra",
            6,
        ),
    ],
    ids=["401", "500", "malformed", "dropped"],
)
async def test_provider_failures_fail_the_stage_clearly(
    harness: Harness,
    fake: FakeProviders,
    router: Router,
    reply: fp.Reply,
    message: str,
    failure_class: str,
    requests: int,
) -> None:
    """Retryable failures: 3 calls per attempt, then the stage retry policy (2 attempts)."""
    fake.anthropic(*[reply] * requests)
    dot = ONE_AGENT.replace("PROVIDER", "anthropic").replace(
        'prompt="Go"', 'prompt="Go", max_retries=1'
    )
    run, result = await harness.run(dot, deps=harness.deps(llm=router))
    failed = (await harness.of(run.id, "StageFailed"))[-1]
    assert failed["failure"]["message"].startswith(message)
    assert failed["failure"]["failure_class"] == failure_class
    assert failed["will_retry"] is False
    assert "Traceback" not in json.dumps(await harness.events(run.id))
    errors = [
        e["event"]["Error"]
        for e in await harness.of(run.id, "Agent")
        if isinstance(e["event"], dict) and "Error" in e["event"]
    ]
    assert errors and errors[0]["error"].startswith(message)
    assert len(fake.requests) == requests
    assert result.status in ("completed", "failed")


async def test_unsupported_provider_fails_deterministically(
    harness: Harness, router: Router
) -> None:
    dot = ONE_AGENT.replace("PROVIDER", "gemini")
    run, _ = await harness.run(dot, deps=harness.deps(llm=router))
    failed = await harness.first(run.id, "StageFailed", "build")
    assert (
        failed["failure"]["message"] == "Provider 'gemini' is not supported by this fabro version"
    )
    assert failed["failure"]["failure_class"] == "deterministic"


FAN_IN = """
digraph Fan {
  graph [default_provider="openai"]
  start [shape=Mdiamond]
  fork [shape=component]
  left [shape=parallelogram, script="echo left"]
  right [shape=parallelogram, script="echo right"]
  pick [shape=tripleoctagon, prompt="Pick the better branch"]
  exit [shape=Msquare]
  start -> fork
  fork -> left
  fork -> right
  left -> pick
  right -> pick
  pick -> exit
}
"""


async def test_fan_in_asks_the_model(harness: Harness, fake: FakeProviders, router: Router) -> None:
    fake.openai(fp.openai("The best one is right."))
    run, result = await harness.run(FAN_IN, deps=harness.deps(llm=router))
    assert result.status == "completed", result.error
    ctx = (await harness.checkpoint(run.id))["context_values"]
    assert ctx["parallel.fan_in.best_id"] == "right"
    (body,) = fake.bodies(OPENAI_PATH)
    assert "Pick the better branch" in body["messages"][-1]["content"]


async def test_backoff_waits_through_the_injected_sleep(
    harness: Harness, fake: FakeProviders, router: Router
) -> None:
    """Two 503s without Retry-After wait 1 s then 2 s, each times a jitter in [0.5, 1.5)
    drawn from the injected rng, and through the injected sleep (so the test does not wait)."""
    fake.anthropic(fp.error(503, "busy"), fp.error(503, "busy"), fp.anthropic("ok"))
    run, result = await harness.run(
        ONE_AGENT.replace("PROVIDER", "anthropic"), deps=harness.deps(llm=router)
    )
    assert result.status == "completed", result.error
    jitter = random.Random(2)  # the router fixture's rng, replayed
    expected = [1.0 * (0.5 + jitter.random()), 2.0 * (0.5 + jitter.random())]
    assert harness.sleep.delays == pytest.approx(expected)
    retries = [
        e["event"]["LlmRetry"]["delay_secs"]
        for e in await harness.of(run.id, "Agent")
        if isinstance(e["event"], dict) and "LlmRetry" in e["event"]
    ]
    assert retries == [round(delay, 3) for delay in expected]
    assert len(fake.bodies(ANTHROPIC_PATH)) == 3


THREADED = """
digraph Threaded {
  graph [goal="Plan then build", default_provider="anthropic", default_fidelity="FIDELITY"]
  start [shape=Mdiamond]
  plan [shape=tab, prompt="Write the plan", thread_id="main"]
  build [shape=tab, prompt="Build it", thread_id="main"]
  exit [shape=Msquare]
  start -> plan -> build -> exit
}
"""


def user_texts(body: dict[str, Any]) -> list[tuple[str, str]]:
    """(role, text) of every message of an Anthropic request body."""
    out = []
    for message in body["messages"]:
        content = message["content"]
        text = content if isinstance(content, str) else "".join(b.get("text", "") for b in content)
        out.append((message["role"], text))
    return out


async def test_full_fidelity_sends_the_threads_history(
    harness: Harness, fake: FakeProviders, router: Router
) -> None:
    script(fake, "anthropic", ("Plan: two steps.", [], 10, 1), ("Built.", [], 10, 1))
    _, result = await harness.run(
        THREADED.replace("FIDELITY", "full"), deps=harness.deps(llm=router)
    )
    assert result.status == "completed", result.error
    first, second = fake.bodies(ANTHROPIC_PATH)
    assert user_texts(first)[-1][0] == "user" and len(first["messages"]) == 1
    roles_and_texts = user_texts(second)
    assert [role for role, _ in roles_and_texts] == ["user", "assistant", "user"]
    assert "Write the plan" in roles_and_texts[0][1]
    assert roles_and_texts[1][1] == "Plan: two steps."
    assert "Build it" in roles_and_texts[2][1]


async def test_other_fidelities_send_only_the_stage_prompt(
    harness: Harness, fake: FakeProviders, router: Router
) -> None:
    script(fake, "anthropic", ("Plan: two steps.", [], 10, 1), ("Built.", [], 10, 1))
    _, result = await harness.run(
        THREADED.replace("FIDELITY", "compact"), deps=harness.deps(llm=router)
    )
    assert result.status == "completed", result.error
    assert [len(body["messages"]) for body in fake.bodies(ANTHROPIC_PATH)] == [1, 1]


STATUS_FILE = """
digraph Status {
  graph [goal="Check", default_provider="anthropic"]
  start [shape=Mdiamond]
  seed [shape=parallelogram, script="SEED"]
  check [shape=box, prompt="Run the checks", max_retries=0]
  exit [shape=Msquare]
  start -> seed -> check -> exit
}
"""


async def test_status_json_written_by_the_stage_is_a_directive(
    harness: Harness, fake: FakeProviders, router: Router
) -> None:
    status = json.dumps({"outcome": "fail", "failure_reason": "tests are red"})
    script(
        fake,
        "anthropic",
        ("", [("c1", "write_file", {"path": "status.json", "content": status})], 10, 1),
        ("Checks done.", [], 10, 1),  # no directive in the text itself
    )
    dot = STATUS_FILE.replace("SEED", "true")
    run, _ = await harness.run(dot, deps=harness.deps(llm=router))
    failed = await harness.first(run.id, "StageFailed", "check")
    assert failed["failure"]["message"] == "tests are red"


async def test_an_unchanged_status_json_is_ignored(
    harness: Harness, fake: FakeProviders, router: Router
) -> None:
    stale = json.dumps({"outcome": "fail", "failure_reason": "from an earlier stage"})
    script(fake, "anthropic", ("Checks done.", [], 10, 1))
    escaped = stale.replace('"', '\\"')  # a DOT string holds the shell command
    dot = STATUS_FILE.replace("SEED", f"echo '{escaped}' > status.json")
    run, result = await harness.run(dot, deps=harness.deps(llm=router))
    assert result.status == "completed", result.error
    assert json.loads((work_dir(harness, run.id) / "status.json").read_text()) == json.loads(stale)
