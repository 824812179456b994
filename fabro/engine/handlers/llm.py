"""Agent and prompt stages through the provider protocol (engine.md §9.2).

A prompt stage is one model call without tools; an agent stage loops over model calls and
tool calls until the model answers without tools or the turn limit is reached. Which backend
answers (a real provider or the simulated one) is the EngineDeps' choice.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

# A module import: fabro.engine.tools imports the command handler of this package, so its
# names are looked up when a stage runs, whichever of the two modules is imported first.
from fabro.engine import tools as agent_tools_module
from fabro.engine.directives import apply_directive, find_directive
from fabro.engine.governor import ActionRefused
from fabro.engine.outcome import Outcome, PermanentError, RetryableError
from fabro.engine.stage import StageRun
from fabro.engine.steering import Steering
from fabro.events.agent import (
    AgentError,
    AssistantMessage,
    LlmRetry,
    SessionEnded,
    SessionStarted,
    TokenUsage,
    ToolCallCompleted,
    ToolCallStarted,
    TurnLimitReached,
)
from fabro.events.types import Agent, Prompt, StageUsage
from fabro.llm.provider import LlmError, LlmRequest, Message, RetryNotice, ToolCall, ToolSpec
from fabro.llm.resolve import LevelChoice, Resolved, resolve_model
from fabro.llm.usage import Usage, cost
from fabro.secrets.source import MissingSecret, stage_secrets
from fabro.workflow.model import Node

if TYPE_CHECKING:
    from fabro.engine.tools import Tool, ToolResult

MEMORY_FILES = ("AGENTS.md", "CLAUDE.md")
MEMORY_LIMIT = 32 * 1024


def agent_tools() -> dict[str, Tool]:
    """The tools of an agent stage (engine.md §9.2)."""
    return agent_tools_module.AGENT_TOOLS


def resolve_stage_model(node: Node, stage: StageRun) -> Resolved:
    levels = stage.spec.llm
    return resolve_model(
        node=LevelChoice(node.llm_model, node.llm_provider),
        run_override=levels.run_override,
        run_config=levels.run_config,
        server_default=levels.server_default,
        graph_default=LevelChoice(stage.graph.default_model, stage.graph.default_provider),
    )


def system_prompt(
    node: Node, work_dir: Path, tools: list[ToolSpec], clean: Callable[[str], str] = str
) -> str:
    """fabro's instructions, with the memory files (cleaned: a program may have written them)."""
    lines = [
        "You are an agent executing one stage of a fabro workflow.",
        f"The working directory is {work_dir}; all paths are relative to it.",
    ]
    if tools:
        lines.append("Tools: " + ", ".join(tool.name for tool in tools) + ".")
    lines.append(
        "To steer the workflow, end your answer with a JSON object such as "
        '{"preferred_next_label": "...", "outcome": "success|fail|retry", '
        '"failure_reason": "...", "suggested_next_ids": ["..."], "context_updates": {}}.'
    )
    if node.project_memory:
        for name in MEMORY_FILES:
            path = f"{work_dir}/{name}"
            if os.path.isfile(path):
                with open(path, "rb") as file:
                    text = file.read(MEMORY_LIMIT).decode("utf-8", errors="replace")
                lines.append(f"\n## {name}\n{clean(text)}")
    return "\n".join(lines)


def stage_prompt(node: Node, stage: StageRun, steering: list[str]) -> str:
    preamble = str(stage.context.get("current.preamble") or "")
    text = f"{preamble}\n\n{node.prompt}" if preamble else node.prompt
    if steering:
        text += "\n\n## Steering\n" + "\n".join(f"- {entry}" for entry in steering)
    return text


async def prompt(node: Node, stage: StageRun) -> Outcome:
    return await _llm_stage(node, stage, tools={})


async def agent(node: Node, stage: StageRun) -> Outcome:
    return await _llm_stage(node, stage, tools=agent_tools())


async def _llm_stage(node: Node, stage: StageRun, tools: dict[str, Tool]) -> Outcome:
    try:
        # The agent's shell tool runs with them; a prompt stage only needs them set. A dry
        # run runs no tool (and skips command stages before their secrets are looked at).
        secrets = (
            {} if stage.deps.dry_run else await stage_secrets(stage.deps.secrets, stage.graph, node)
        )
    except MissingSecret as missing:
        return Outcome.fail(missing.message(node.id))  # before anything runs
    resolved = resolve_stage_model(node, stage)
    if resolved.model is None:
        raise PermanentError(f"No model known for provider '{resolved.provider}'")
    model = resolved.model
    backend = stage.deps.llm
    specs = [] if backend.simulated else [tool.spec for tool in tools.values()]
    steering = await Steering.pending(stage)
    text = stage_prompt(node, stage, steering.texts)
    stage.write_artifact("prompt.md", text)
    # Prompt, turn 1 and the session start share one commit (fewer round trips per stage).
    await stage.add_turn(
        "system",
        text,
        events=[
            *steering.events(),
            Prompt(stage=node.id, text=text),
            Agent(stage=node.id, event=SessionStarted()),
        ],
        same_commit=steering.consume(),
    )

    async def on_retry(notice: RetryNotice) -> None:
        await stage.emit(
            Agent(
                stage=node.id,
                event=LlmRetry(
                    provider=notice.provider,
                    model=notice.model,
                    attempt=notice.attempt,
                    delay_secs=notice.delay_secs,
                    error=notice.error,
                ),
            )
        )

    thread = _full_fidelity_thread(stage)
    history = stage.spec.threads.get(thread, []) if thread else []
    messages: list[Message] = [*history, Message("user", text)]
    # Only a model with tools can write status.json during the stage: for one without, the
    # file is not looked at (two stat calls per stage saved).
    status_file = StatusFile(stage.work_dir) if specs else None
    # The simulated backend never reads the system prompt (nor the memory files it holds).
    system = "" if backend.simulated else system_prompt(node, stage.work_dir, specs, stage.clean)
    usage = Usage()
    files_touched: list[str] = []
    calls = 0
    response_text = ""
    while True:
        if calls and tools:
            steering = await Steering.pending(stage)
            if steering.entries:
                # Stored as a system turn (api.md §6.13), sent as the next user message.
                await stage.add_turn(
                    "system",
                    "\n".join(steering.texts),
                    events=steering.events(),
                    same_commit=steering.consume(),
                )
                messages += [Message("user", text) for text in steering.texts]
        request = LlmRequest(
            provider=resolved.provider,
            model=model,
            messages=list(messages),
            system=system,
            tools=specs,
            max_tokens=node.max_tokens,
            reasoning_effort=node.reasoning_effort,
            stage=node.id,
        )
        try:
            # A real call costs money: the guard sends it only once the earlier stages are
            # committed, so after a crash only this (interrupted) stage calls again.
            async with stage.side_effect("llm", model):
                response = await backend.complete(request, on_retry)
        except LlmError as error:
            await stage.emit(Agent(stage=node.id, event=AgentError(error=error.message)))
            if error.retryable:
                raise RetryableError(error.message, error.failure_class) from None
            return Outcome.fail(error.message, error.failure_class)
        calls += 1
        usage = usage + response.usage
        # The reply enters the run here: every copy of it (events, turns, context, files,
        # the next prompts) is made from the cleaned text.
        response_text = stage.clean(response.text)
        message = Agent(
            stage=node.id,
            event=AssistantMessage(
                text=response_text,
                model=response.model or model,
                usage=TokenUsage(
                    input_tokens=response.usage.input_tokens,
                    output_tokens=response.usage.output_tokens,
                    total_tokens=response.usage.total_tokens,
                ),
                tool_call_count=len(response.tool_calls),
            ),
        )
        if not response.tool_calls or not tools:
            ended = Agent(stage=node.id, event=SessionEnded())
            await stage.add_turn("assistant", response_text, events=[message, ended])
            break
        await stage.emit(message)
        messages.append(Message("assistant", response_text, tool_calls=response.tool_calls))
        uses = []
        for call in response.tool_calls:
            result, duration_ms = await _run_tool(stage, node, tools, call, secrets)
            if result.written:
                files_touched.append(result.written)
            messages.append(
                Message("tool", result.output, tool_call_id=call.id, is_error=result.is_error)
            )
            uses.append(
                {
                    "id": call.id,
                    "tool_name": call.name,
                    "input": json.dumps(call.arguments, ensure_ascii=False),
                    "result": result.output,
                    "is_error": result.is_error,
                    "duration_ms": duration_ms,
                }
            )
        await stage.add_turn("tool", response_text or None, uses)
        if calls >= node.max_turns:
            await stage.emit(Agent(stage=node.id, event=TurnLimitReached(max_turns=node.max_turns)))
            await stage.emit(Agent(stage=node.id, event=SessionEnded()))
            return Outcome.fail(
                f"Agent turn limit reached ({node.max_turns} turns)", "budget_exhausted"
            )
    stage.write_artifact("response.md", response_text)
    if thread:
        stage.spec.threads[thread] = [*messages, Message("assistant", response_text)]
    outcome = Outcome.success(
        f"Stage completed: {node.id}",
        context_updates={
            "last_stage": node.id,
            "last_response": response_text[:200],
            f"response.{node.id}": response_text,
        },
        usage=StageUsage(
            model=model,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_tokens or None,
            cache_write_tokens=usage.cache_write_tokens or None,
            reasoning_tokens=usage.reasoning_tokens or None,
            cost=0.0 if backend.simulated else cost(model, usage),
        ),
        files_touched=list(dict.fromkeys(files_touched)),
    )
    directive = find_directive(response_text)
    if not directive and status_file is not None:
        directive = status_file.directive_if_changed()
    if not directive:
        return outcome
    # JSON escapes can spell what the text did not hold (a lone surrogate, a secret).
    return apply_directive(outcome, stage.redactor.clean_value(directive))


def _full_fidelity_thread(stage: StageRun) -> str | None:
    """The thread whose history this stage continues: only with fidelity `full`."""
    thread = stage.context.get("internal.thread_id")
    if stage.context.get("internal.fidelity") != "full" or not thread:
        return None
    return str(thread)


class StatusFile:
    """`status.json` in the working directory: a directive source when the stage changed it.

    engine.md §9.2 step 6: consulted only when the response text has no directive.
    """

    NAME = "status.json"

    def __init__(self, work_dir: Path) -> None:
        self.path = f"{work_dir}/{self.NAME}"
        self._before = self._stamp()

    def _stamp(self) -> tuple[int, int] | None:
        try:
            stat = os.stat(self.path)
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def directive_if_changed(self) -> dict[str, Any] | None:
        now = self._stamp()
        if now is None or now == self._before:
            return None
        try:
            with open(self.path, encoding="utf-8", errors="replace") as file:
                text = file.read()
        except OSError:
            return None
        return find_directive(text)


async def _run_tool(
    stage: StageRun, node: Node, tools: dict[str, Tool], call: ToolCall, secrets: dict[str, str]
) -> tuple[ToolResult, int]:
    await stage.emit(
        Agent(
            stage=node.id,
            event=ToolCallStarted(
                tool_name=call.name, tool_call_id=call.id, arguments=dict(call.arguments)
            ),
        )
    )
    ctx = agent_tools_module.ToolContext(
        stage.work_dir,
        stage.deps.env,
        stage.run_id,
        node.id,
        stage.spec.run_dir,
        stage.deps.env_allowlist,
        stage.redactor,
        secrets,
    )
    action = agent_tools_module.tool_action(call.name, call.arguments, stage.work_dir)
    gate = None if action is None else stage.gate(action)
    started = stage.deps.clock.monotonic()
    try:
        # The tool's side effects come after the policy's decision and its committed start.
        async with stage.side_effect("tool", call.name, gate):
            result = await agent_tools_module.run_tool(tools, call.name, ctx, dict(call.arguments))
            if gate is not None:
                gate.ended(failed=result.is_error, result=result.output)
    except ActionRefused as refused:  # the model reads why, and the stage goes on
        result = agent_tools_module.ToolResult(refused.message, is_error=True)
    duration_ms = int((stage.deps.clock.monotonic() - started) * 1000)
    await stage.emit(
        Agent(
            stage=node.id,
            event=ToolCallCompleted(
                tool_name=call.name,
                tool_call_id=call.id,
                output=result.output,
                is_error=result.is_error,
            ),
        )
    )
    return result, duration_ms
