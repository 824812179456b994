"""Fan-in stages: pick the best branch of the preceding parallel stage (engine.md §9.6)."""

from __future__ import annotations

from typing import Any

from fabro.engine.handlers.llm import resolve_stage_model
from fabro.engine.outcome import Outcome
from fabro.engine.stage import StageRun
from fabro.llm.provider import LlmError, LlmRequest, Message
from fabro.workflow.model import Node

_RANK = {"success": 0, "partial_success": 1, "retry": 2, "fail": 3}


def heuristic_choice(results: list[dict[str, Any]]) -> dict[str, Any]:
    """success < partial_success < retry < fail, then higher numeric score, then id."""

    def key(item: dict[str, Any]) -> tuple[int, float, str]:
        score = item.get("score")
        number = float(score) if isinstance(score, int | float) else float("-inf")
        return (_RANK.get(str(item.get("status")), 4), -number, str(item.get("id")))

    return min(results, key=key)


async def _llm_choice(node: Node, stage: StageRun, results: list[dict[str, Any]]) -> str | None:
    lines = [node.prompt, "", "Candidates:"]
    for item in results:
        lines.append(f"- id: {item['id']}, status: {item['status']}")
        if item.get("response"):
            lines.append(f"  response: {item['response']}")
    lines.append("\nAnswer with the id of the best candidate.")
    resolved = resolve_stage_model(node, stage)
    if resolved.model is None:
        return None
    request = LlmRequest(
        provider=resolved.provider,
        model=resolved.model,
        messages=[Message("user", "\n".join(lines))],
        stage=node.id,
    )
    try:
        async with stage.side_effect("llm", resolved.model):
            response = await stage.deps.llm.complete(request)
    except LlmError:
        return None
    await stage.add_turn("system", "\n".join(lines))
    await stage.add_turn("assistant", response.text)
    return next((str(item["id"]) for item in results if str(item["id"]) in response.text), None)


async def fan_in(node: Node, stage: StageRun) -> Outcome:
    results = stage.context.get("parallel.results")
    if not isinstance(results, list) or not results:
        return Outcome.fail("No parallel results to evaluate")
    chosen: dict[str, Any] | None = None
    if node.get("prompt") and not stage.deps.llm.simulated:
        best_id = await _llm_choice(node, stage, results)
        chosen = next((item for item in results if str(item.get("id")) == best_id), None)
    if chosen is None:
        chosen = heuristic_choice(results)
    if chosen.get("status") == "fail" and all(item.get("status") == "fail" for item in results):
        return Outcome.fail("all candidates failed")
    return Outcome.success(
        f"Selected best candidate: {chosen['id']}",
        context_updates={
            "parallel.fan_in.best_id": chosen["id"],
            "parallel.fan_in.best_outcome": chosen.get("status"),
        },
    )
