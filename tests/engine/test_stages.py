"""Start, conditional, agent/prompt (simulated and scripted backends), and wait stages."""

from __future__ import annotations

from fabro.llm.provider import LlmRequest, LlmResponse, OnRetry
from fabro.llm.usage import Usage
from fabro.storage import stages
from tests.engine.harness import Harness

LLM = """
digraph L {
  graph [goal="Write a poem", default_fidelity="truncate"]
  start [shape=Mdiamond]
  check [shape=diamond]
  draft [label="Draft", prompt="Draft the poem"]
  polish [shape=tab, label="Polish it"]
  exit [shape=Msquare]
  start -> check -> draft -> polish -> exit
}
"""


async def test_start_and_conditional_succeed_without_context_changes(harness: Harness) -> None:
    run, result = await harness.run(LLM)
    assert result.status == "completed"
    completed = {e["node_id"]: e for e in await harness.of(run.id, "StageCompleted")}
    assert completed["start"]["status"] == "success"
    assert completed["check"]["notes"] == "Conditional node evaluated: check"
    outcomes = (await harness.checkpoint(run.id))["node_outcomes"]
    assert "context_updates" not in outcomes["start"]
    assert "context_updates" not in outcomes["check"]


async def test_simulated_agent_and_prompt_stages(harness: Harness) -> None:
    run, result = await harness.run(LLM)
    assert result.status == "completed", result.error
    checkpoint = await harness.checkpoint(run.id)
    ctx = checkpoint["context_values"]
    assert ctx["response.draft"] == "[Simulated] Response for stage: draft"
    assert ctx["response.polish"] == "[Simulated] Response for stage: polish"
    assert ctx["last_stage"] == "polish"
    assert ctx["last_response"] == "[Simulated] Response for stage: polish"
    prompts = await harness.of(run.id, "Prompt")
    assert [p["stage"] for p in prompts] == ["draft", "polish"]
    # truncate fidelity: the preamble, a blank line, then the prompt (label fallback for polish)
    assert prompts[0]["text"] == f"Goal: Write a poem\nRun ID: {run.id}\n\nDraft the poem"
    assert prompts[1]["text"].endswith("\n\nPolish it")
    agent_events = [
        e["event"] if isinstance(e["event"], str) else next(iter(e["event"]))
        for e in await harness.of(run.id, "Agent")
        if e["stage"] == "draft"
    ]
    assert agent_events == ["SessionStarted", "AssistantMessage", "SessionEnded"]
    completed = {e["node_id"]: e for e in await harness.of(run.id, "StageCompleted")}
    assert completed["draft"]["notes"] == "Stage completed: draft"
    assert completed["draft"]["usage"]["input_tokens"] == 0
    assert completed["draft"]["usage"]["cost"] == 0.0
    turns = await stages.list_turns(harness.db, run.id, "draft")
    assert [(t.kind, t.content) for t in turns] == [
        ("system", prompts[0]["text"]),
        ("assistant", "[Simulated] Response for stage: draft"),
    ]
    folder = harness.lifecycle.run_dir(run.id) / "nodes" / "draft"
    assert (folder / "prompt.md").read_text() == prompts[0]["text"]
    assert (folder / "response.md").read_text() == "[Simulated] Response for stage: draft"
    handler_types = {
        e["node_id"]: e["handler_type"] for e in await harness.of(run.id, "StageStarted")
    }
    assert handler_types == {
        "start": "start", "check": "conditional", "draft": "agent",
        "polish": "prompt", "exit": "exit",
    }  # fmt: skip


class Scripted:
    """A non-simulated backend answering from a script (no network)."""

    def __init__(self, replies: dict[str, str]) -> None:
        self.replies = replies
        self.requests: list[LlmRequest] = []

    @property
    def simulated(self) -> bool:
        return False

    async def complete(self, request: LlmRequest, on_retry: OnRetry | None = None) -> LlmResponse:
        self.requests.append(request)
        return LlmResponse(
            text=self.replies.get(request.stage or "", "ok"),
            model=request.model,
            usage=Usage(input_tokens=1000, output_tokens=100),
        )


ROUTED = """
digraph R {
  start [shape=Mdiamond]
  review [shape=tab, prompt="Review", llm_model="claude-sonnet-4-5"]
  fix [shape=tab, prompt="Fix"]
  ship [shape=tab, prompt="Ship"]
  exit [shape=Msquare]
  start -> review
  review -> ship [label="[S] Ship"]
  review -> fix [label="Fix"]
  fix -> exit
  ship -> exit
}
"""


async def test_routing_directive_in_a_response_chooses_the_edge(harness: Harness) -> None:
    backend = Scripted(
        {"review": 'Needs work. {"preferred_next_label": "fix", "context_updates": {"issues": 3}}'}
    )
    run, result = await harness.run(ROUTED, deps=harness.deps(llm=backend))
    assert result.status == "completed", result.error
    assert [e["to_node"] for e in await harness.of(run.id, "EdgeSelected")] == [
        "review",
        "fix",
        "exit",
    ]
    ctx = (await harness.checkpoint(run.id))["context_values"]
    assert ctx["issues"] == 3 and ctx["preferred_label"] == "fix"
    completed = {e["node_id"]: e for e in await harness.of(run.id, "StageCompleted")}
    usage = completed["review"]["usage"]
    assert (usage["model"], usage["input_tokens"], usage["output_tokens"]) == (
        "claude-sonnet-4-5", 1000, 100,
    )  # fmt: skip
    assert usage["cost"] is not None and usage["cost"] > 0


async def test_fail_directive_fails_the_stage(harness: Harness) -> None:
    backend = Scripted({"review": '{"outcome": "fail", "failure_reason": "tests are red"}'})
    run, result = await harness.run(ROUTED, deps=harness.deps(llm=backend))
    failed = await harness.of(run.id, "StageFailed")
    assert failed[0]["failure"]["message"] == "tests are red"
    assert failed[0]["failure"]["failure_class"] == "deterministic"
    assert result.status == "completed"  # the failed stage follows its unconditional edge


WAIT = """
digraph W {
  start [shape=Mdiamond]
  pause [shape=insulator, duration="90s"]
  exit [shape=Msquare]
  start -> pause -> exit
}
"""


async def test_wait_sleeps_through_the_injected_sleep(harness: Harness) -> None:
    run, result = await harness.run(WAIT)
    assert result.status == "completed"
    assert harness.sleep.delays == [90.0]
    completed = [e for e in await harness.of(run.id, "StageCompleted") if e["node_id"] == "pause"]
    assert completed[0]["notes"] == "Waited 90000ms"


async def test_wait_without_duration_fails(harness: Harness) -> None:
    run, result = await harness.run(WAIT.replace(', duration="90s"', ""))
    failed = await harness.of(run.id, "StageFailed")
    assert failed[0]["failure"]["message"] == "Wait node requires a duration attribute"
    assert harness.sleep.delays == []
    assert result.status == "completed"


LOOPED = """
digraph T {
  start [shape=Mdiamond]
  review [shape=tab, prompt="Review", llm_model="claude-sonnet-4-5"]
  again [shape=diamond]
  exit [shape=Msquare]
  start -> review -> again
  again -> review [condition="internal.node_visit_count=1"]
  again -> exit
}
"""


async def test_total_cost_sums_every_stage_including_repeated_visits(harness: Harness) -> None:
    from fabro.llm.usage import cost

    backend = Scripted({})
    run, result = await harness.run(LOOPED, deps=harness.deps(llm=backend))
    assert result.status == "completed", result.error
    assert len(backend.requests) == 2
    one = cost("claude-sonnet-4-5", Usage(input_tokens=1000, output_tokens=100))
    assert one is not None and one > 0
    total = (await harness.of(run.id, "WorkflowRunCompleted"))[0]["total_cost"]
    assert total == 2 * one


async def test_simulated_runs_report_no_total_cost(harness: Harness) -> None:
    run, _ = await harness.run(LOOPED)
    assert "total_cost" not in (await harness.of(run.id, "WorkflowRunCompleted"))[0]


async def test_the_terminal_stage_is_reported_and_recorded_but_not_checkpointed(
    harness: Harness,
) -> None:
    run, _ = await harness.run(LLM)
    started = await harness.first(run.id, "StageStarted", "exit")
    assert (started["index"], started["attempt"], started["max_attempts"]) == (4, 1, 1)
    completed = await harness.first(run.id, "StageCompleted", "exit")
    assert (completed["duration_ms"], completed["status"]) == (0, "success")
    checkpoint = await harness.checkpoint(run.id)
    assert "exit" not in checkpoint["completed_nodes"]
    exit_row = [s for s in await harness.stages(run.id) if s.node_id == "exit"]
    assert [(s.status, s.duration_ms) for s in exit_row] == [("completed", 0)]
    finished = (await harness.of(run.id, "WorkflowRunCompleted"))[0]
    assert finished["artifact_count"] == 4  # prompt.md and response.md of draft and polish


class Observing(Scripted):
    """Records, at each call, which stages the database holds as completed."""

    def __init__(self, harness: Harness, run_id: str) -> None:
        super().__init__({})
        self.harness, self.run_id = harness, run_id
        self.committed: list[list[str]] = []

    async def complete(self, request: LlmRequest, on_retry: OnRetry | None = None) -> LlmResponse:
        rows = await stages.list_stages(self.harness.db, self.run_id)
        self.committed.append([row.stage_id for row in rows if row.status == "completed"])
        return await super().complete(request, on_retry)


CHAIN = """
digraph C {
  start [shape=Mdiamond]
  a [shape=tab, prompt="A", llm_model="claude-sonnet-4-5"]
  b [shape=tab, prompt="B", llm_model="claude-sonnet-4-5"]
  exit [shape=Msquare]
  start -> a -> b -> exit
}
"""


async def test_a_real_llm_call_goes_out_after_the_earlier_stages_are_committed(
    harness: Harness,
) -> None:
    # The per-stage commit is queued; a call that costs money waits for it, so after a crash
    # only the interrupted stage calls again.
    record = await harness.create(CHAIN)
    backend = Observing(harness, record.id)
    engine = await harness.engine(record, deps=harness.deps(llm=backend))
    result = await engine.run()
    assert result.status == "completed", result.error
    assert backend.committed == [["start"], ["start", "a"]]
