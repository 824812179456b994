"""Human gates: a stored question from the outgoing edges, then its answer (engine.md §9.4)."""

from __future__ import annotations

from datetime import UTC, datetime

from fabro.clock import parse_ts
from fabro.engine.outcome import Outcome
from fabro.engine.questions import MULTIPLE_CHOICE, Answer
from fabro.engine.stage import StageRun
from fabro.events.types import InterviewCompleted, InterviewStarted, InterviewTimeout
from fabro.workflow.labels import GateOption, GateOptions, gate_options
from fabro.workflow.model import Node


def choose(options: GateOptions, answer: Answer) -> GateOption | str:
    """The chosen option, or the free text when the answer routes to the free-text edge."""
    if answer.selected_option_key is not None:
        found = options.find(answer.selected_option_key)
        if found is not None:
            return found
    elif not answer.selected_option_keys and answer.value is not None:
        wanted = answer.value.strip().lower()
        for option in options.options:
            if option.key.lower() == wanted or option.label.lower() == wanted:
                return option
    if options.freeform_edge is not None:
        return answer.text
    return options.options[0]


async def human(node: Node, stage: StageRun) -> Outcome:
    options = gate_options(stage.graph, node.id)
    if not options.options and options.freeform_edge is None:
        return Outcome.fail("No outgoing edges for human gate")
    desk = stage.deps.desk
    started = InterviewStarted(question=node.label, stage=node.id, question_type=MULTIPLE_CHOICE)
    question, _ = await desk.open(
        run_id=stage.stored_run_id,  # a manager child's questions belong to the parent run
        stage_id=stage.stored_stage_id,
        node_id=node.id,
        text=node.label,
        options=[{"key": o.key, "label": o.label} for o in options.options],
        allow_freeform=options.allow_freeform,
        # Stored with the question in one commit; a reused question was announced already.
        announce=lambda work: stage.recorder.commit([started], work),
    )
    interviewer = stage.deps.interviewer
    timeout_s = node.timeout_ms / 1000 if node.timeout_ms else None
    if interviewer.waits_for_people:
        with stage.watchdog.suspend():
            answer = await interviewer.ask(desk, question, timeout_s)
    else:
        answer = await interviewer.ask(desk, question, timeout_s)
    waited_ms = _since(question.created_at)

    if answer == "skipped":
        return Outcome.fail("human skipped interaction")
    if answer == "timeout":
        await desk.close(question, "expired")
        await stage.emit(
            InterviewTimeout(question=question.text, stage=node.id, duration_ms=waited_ms)
        )
        default = node.human_default_choice
        if default:
            return Outcome.success(
                preferred_label=default,
                suggested_next_ids=[default],
                context_updates={"human.gate.selected": default, "human.gate.label": default},
            )
        return Outcome.retry("human gate timeout, no default")

    # Committed and published at once, not streamed: people (and their UIs) wait for it.
    await stage.recorder.commit(
        [InterviewCompleted(question=question.text, answer=answer.text, duration_ms=waited_ms)]
    )
    chosen = choose(options, answer)
    if isinstance(chosen, str):
        assert options.freeform_edge is not None
        return Outcome.success(
            suggested_next_ids=[options.freeform_edge.target],
            context_updates={
                "human.gate.selected": "freeform",
                "human.gate.label": chosen,
                "human.gate.text": chosen,
            },
        )
    return Outcome.success(
        preferred_label=chosen.label,
        suggested_next_ids=[chosen.edge.target],
        context_updates={"human.gate.selected": chosen.key, "human.gate.label": chosen.label},
    )


def _since(timestamp: str) -> int:
    return max(int((datetime.now(UTC) - parse_ts(timestamp)).total_seconds() * 1000), 0)
