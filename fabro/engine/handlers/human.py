"""Human gates: a stored question from the outgoing edges, then its answer (engine.md §9.4).

A gate approves only what a person (or `--auto-approve`) chose. Every other way out of this
handler is a failure, and the router never sends a failed gate down an ordinary edge (it
fails closed, `routing.fails_closed`): no answer, an answer that names no option, a timeout
without a usable `human.default_choice`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fabro.clock import parse_ts
from fabro.engine.outcome import Outcome, RetryableError
from fabro.engine.questions import MULTIPLE_CHOICE, Answer, NoAnswer, matching_key
from fabro.engine.retry import asks_for_retries
from fabro.engine.stage import StageRun
from fabro.events.types import InterviewCompleted, InterviewStarted, InterviewTimeout
from fabro.workflow.labels import GateOption, GateOptions, gate_options, normalize_label
from fabro.workflow.model import Node


def choose(options: GateOptions, answer: Answer) -> GateOption | str | None:
    """The chosen option, the free text for the free-text edge, or None: no option fits."""
    choices = [{"key": o.key, "label": o.label} for o in options.options]
    key: str | None = None
    if answer.selected_option_key is not None:
        key = matching_key(choices, answer.selected_option_key)
    elif not answer.selected_option_keys and answer.value is not None:
        key = matching_key(choices, answer.value)
    if key is not None:
        return options.find(key)
    if options.freeform_edge is not None:
        return answer.text
    return None  # a multi-select, or text where no free-text edge exists


def unanswered(node: Node, reason: str) -> Outcome:
    """The failure of a gate that got no usable answer; it names the gate and why."""
    return Outcome.fail(f"human gate '{node.id}' got no answer ({reason})")


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

    if isinstance(answer, NoAnswer):
        if not answer.timed_out:
            return unanswered(node, answer.reason)
        await desk.close(question, "expired")
        await stage.emit(
            InterviewTimeout(question=question.text, stage=node.id, duration_ms=waited_ms)
        )
        return _timed_out(node, options, timeout_s)

    # Committed and published at once, not streamed: people (and their UIs) wait for it.
    await stage.recorder.commit(
        [InterviewCompleted(question=question.text, answer=answer.text, duration_ms=waited_ms)]
    )
    chosen = choose(options, answer)
    if chosen is None:
        return unanswered(node, f"'{answer.text}' matches no option")
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


def _timed_out(node: Node, options: GateOptions, timeout_s: float | None) -> Outcome:
    """`human.default_choice` when it names an outgoing edge; else the gate fails closed,
    asked again first when the node sets its own retries (a new question per attempt)."""
    default = node.human_default_choice
    if default and _leads_somewhere(options, default):
        return Outcome.success(
            preferred_label=default,
            suggested_next_ids=[default],
            context_updates={"human.gate.selected": default, "human.gate.label": default},
        )
    after = "timed out" if timeout_s is None else f"timed out after {timeout_s:g}s"
    if default:
        reason = f"{after}; human.default_choice '{default}' is not one of its edges"
    else:
        reason = f"{after} with no human.default_choice"
    failure = unanswered(node, reason)
    if asks_for_retries(node):
        raise RetryableError(failure.failure_message)
    return failure


def _leads_somewhere(options: GateOptions, default: str) -> bool:
    """The default names an edge's target (as the spec has it) or an option's label."""
    edges = [option.edge for option in options.options]
    if options.freeform_edge is not None:
        edges.append(options.freeform_edge)
    wanted = normalize_label(default)
    return any(
        edge.target == default or normalize_label(edge.label or "") == wanted for edge in edges
    )


def _since(timestamp: str) -> int:
    return max(int((datetime.now(UTC) - parse_ts(timestamp)).total_seconds() * 1000), 0)
