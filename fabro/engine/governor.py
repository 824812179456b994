"""The executor's side of governance: the model proposes, the engine disposes.

Every action a stage takes on the host (a command stage's script, an agent's shell, file
and network tool calls) passes one ``ActionGate`` inside the side-effect guard
(effects.py), before it starts:

1. the policy decides on it (fabro/governance/policy.py): ALLOW, ALERT, APPROVE or BLOCK;
2. APPROVE holds it for a person: a stored question of the run that shows the exact action,
   answered through the questions API, the CLI or the web UI like any gate, and so held
   across a restart. A BLOCK never asks, so an approval cannot override it;
3. its receipt (fabro/storage/receipts.py) is queued, and the guard's settle commits it
   together with everything before it: no action starts without its receipt. How it ended
   is appended when the guard is left (not waited for: a crash before that commit leaves a
   receipt that began and never ended, which is the truth).

A command stage marked ``idempotent=false`` is not safe to repeat. Its receipt is looked up
by idempotency key before it runs again after a crash: one that ended is not run again
(DEDUP, the stage takes the outcome it had), one that began and never ended asks a person
what happened instead of guessing.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from fabro.clock import now_ts, parse_ts
from fabro.engine.questions import MULTIPLE_CHOICE, AutoApprove, NoAnswer
from fabro.events.types import InterviewCompleted, InterviewStarted, PolicyDecision
from fabro.governance.actions import NO_POLICY, Action, Decision, Outcome, Subject, Verdict
from fabro.storage.receipts import (
    ReceiptRecord,
    ReceiptStart,
    begin_receipt,
    cut_action,
    end_receipt,
    new_receipt_id,
    refused_receipt,
)

if TYPE_CHECKING:
    from fabro.engine.stage import StageRun

APPROVE_OPTIONS = [{"key": "A", "label": "[A] Approve"}, {"key": "R", "label": "[R] Reject"}]
UNKNOWN_OPTIONS = [
    {"key": "C", "label": "[C] It completed"},
    {"key": "F", "label": "[F] It failed"},
    {"key": "R", "label": "[R] Run it again"},
]


class Decides(Protocol):
    def decide(self, action: Action, subject: Subject) -> Decision: ...


class _AllowAll:
    """No policy configured: everything is allowed (and still has a receipt)."""

    def decide(self, action: Action, subject: Subject) -> Decision:
        return NO_POLICY


@dataclass(frozen=True)
class Governor:
    """What every engine of a process asks before an action: the current policy (reloaded
    while the server runs)."""

    policy: Callable[[], Decides] = field(default=lambda: _AllowAll())


class ActionRefused(Exception):
    """The policy or a person refused the action. A command stage fails with this message;
    an agent's tool call returns it to the model, which reads it and goes on."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AlreadyRan(Exception):
    """DEDUP: a receipt shows this not-safe-to-repeat action already ended (or a person said
    how it ended); the stage takes that outcome instead of running it again."""

    def __init__(self, succeeded: bool, message: str) -> None:
        super().__init__(message)
        self.succeeded = succeeded
        self.message = message


def subject_of(stage: StageRun) -> Subject:
    spec = stage.spec
    return Subject(spec.run_id, spec.workflow, spec.started_by, str(spec.work_dir))


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class ActionGate:
    """The governance of one action of one stage: ``before`` (inside the guard, before the
    settle), then ``after`` once the action is over."""

    def __init__(self, stage: StageRun, action: Action, *, repeat_safe: bool = True) -> None:
        self.stage = stage
        self.action = action
        self.repeat_safe = repeat_safe
        self.text = cut_action(stage.clean(action.text))  # as its receipt keeps it
        stage.actions += 1
        # Stable across a re-run after a crash (same stage id and attempt, same order).
        self.key = f"{stage.stored_run_id}/{stage.stored_stage_id}/{stage.attempt}/{stage.actions}"
        self.receipt_id: str | None = None
        self.exit_status: int | None = None
        self.result: str | None = None
        self.failed = False

    async def before(self) -> None:
        stage = self.stage
        if not self.repeat_safe:
            await self._check_earlier_run()
        decision = stage.deps.governor.policy().decide(self.action, subject_of(stage))
        if decision.verdict is Verdict.BLOCK:
            self._refuse(decision, None)
            raise ActionRefused(
                f"Blocked by policy rule '{decision.rule}': {self.action.kind} {self.text}"
            )
        approver = None
        if decision.verdict is Verdict.APPROVE:
            approver = await self._approval(decision)
        self.receipt_id = new_receipt_id()
        # ALERT is flagged here; APPROVE was when it was held (the receipt comes after).
        events = [self._event(decision)] if decision.verdict is Verdict.ALERT else []
        stage.recorder.record(begin_receipt(self._start(decision, approver)), *events)

    def ended(
        self, *, failed: bool, exit_status: int | None = None, result: str | None = None
    ) -> None:
        """How the action ended, for its receipt: ``failed`` (a non-zero exit, a timeout, a
        tool error), the exit status, the result (stored as its digest)."""
        self.failed = failed
        self.exit_status = exit_status
        self.result = result

    def after(self, error: BaseException | None) -> None:
        if self.receipt_id is None:
            return
        if isinstance(error, asyncio.CancelledError):
            # Stopped mid-way (cancelled, the server shutting down): how it ended is not
            # known, and its receipt says so by having no end, as after a crash.
            return
        outcome: Outcome = "failed" if error is not None or self.failed else "applied"
        result = None if self.result is None else digest(self.result)
        self.stage.recorder.record(
            end_receipt(self.receipt_id, outcome, self.exit_status, result, self._now())
        )

    # ---- the parts -------------------------------------------------------------------------

    def _start(
        self, decision: Decision, approver: str | None, label: str | None = None
    ) -> ReceiptStart:
        stage = self.stage
        return ReceiptStart(
            id=self.receipt_id or new_receipt_id(),
            run_id=stage.stored_run_id,
            stage_id=stage.stored_stage_id,
            attempt=stage.attempt,
            kind=self.action.kind,
            action=self.text,
            decision=label or decision.verdict.name,
            rule=decision.rule,
            approver=approver,
            idempotency_key=self.key,
            started_at=self._now(),
        )

    def _event(self, decision: Decision, label: str | None = None) -> PolicyDecision:
        return PolicyDecision(
            stage=self.stage.node.id,
            kind=self.action.kind,
            action=self.text,
            decision=label or decision.verdict.name,
            rule=decision.rule,
            receipt_id=self.receipt_id,
        )

    def _refuse(self, decision: Decision, approver: str | None, label: str | None = None) -> None:
        self.receipt_id = new_receipt_id()
        start = self._start(decision, approver, label)
        self.stage.recorder.record(
            refused_receipt(start, self._now()), self._event(decision, label)
        )

    def _now(self) -> str:
        return now_ts(self.stage.deps.clock)

    async def _approval(self, decision: Decision) -> str:
        """The approver's login, once a person approved; ActionRefused when refused."""
        await self.stage.emit(self._event(decision))
        text = (
            f"Policy rule '{decision.rule}' holds this {self.action.kind} for approval: {self.text}"
        )
        answer, by = await self._ask("approve", text, APPROVE_OPTIONS)
        if answer != "A":
            self._refuse(decision, by)
            raise ActionRefused(
                f"Refused by {by or 'nobody'} (policy rule '{decision.rule}' asked for "
                f"approval): {self.action.kind} {self.text}"
            )
        return by or "unknown"

    async def _check_earlier_run(self) -> None:
        """DEDUP or a person's word for an action that may have run before a crash."""
        earlier: ReceiptRecord | None = await self.stage.recorder.store.receipt_by_key(self.key)
        if earlier is None or earlier.outcome == "refused":
            return
        dedup = Decision(Verdict.ALLOW, "")
        if earlier.outcome is not None:
            self._refuse(dedup, None, "DEDUP")
            status = earlier.exit_status
            raise AlreadyRan(
                earlier.outcome == "applied",
                f"Not run again: receipt {earlier.id} shows it already ran "
                f"(exit status {status}); this stage is not safe to repeat (idempotent=false)",
            )
        text = (
            f"This {self.action.kind} began before fabro stopped, and how it ended is "
            f"unknown (receipt {earlier.id}); it is not safe to repeat: {self.text}"
        )
        answer, by = await self._ask("unknown", text, UNKNOWN_OPTIONS)
        if answer in ("C", "F"):
            self._refuse(dedup, by, "DEDUP")
            said = "completed" if answer == "C" else "failed"
            raise AlreadyRan(answer == "C", f"Not run again: {by or 'a person'} said it {said}")
        if answer != "R":
            raise ActionRefused(f"Not run again: nobody said how it ended ({answer})")

    async def _ask(
        self, purpose: str, text: str, options: list[dict[str, str]]
    ) -> tuple[str, str | None]:
        """Ask the run's people (the key of the chosen option, who answered). The question is
        keyed by the action, so after a restart the re-run stage finds the same one."""
        stage = self.stage
        desk = stage.deps.desk
        started = InterviewStarted(
            question=text, stage=stage.node.id, question_type=MULTIPLE_CHOICE
        )
        question, _ = await desk.open(
            run_id=stage.stored_run_id,
            stage_id=f"{stage.stored_stage_id}~{purpose}~{digest(self.key + self.text)[:12]}",
            node_id=stage.node.id,
            text=text,
            options=options,
            allow_freeform=False,
            announce=lambda work: stage.recorder.commit([started], work),
        )
        interviewer = stage.deps.interviewer
        if isinstance(interviewer, AutoApprove):  # --auto-approve never approves a policy hold
            return "", None
        with stage.watchdog.suspend():
            answer = await interviewer.ask(desk, question, None)
        if isinstance(answer, NoAnswer):
            return "", None
        stored = await stage.recorder.store.get_question(question.run_id, question.qid)
        by = stored.answered_by if stored is not None else None
        waited = stage.deps.clock.now() - parse_ts(question.created_at)
        waited_ms = int(waited.total_seconds() * 1000)
        await stage.recorder.commit(
            [InterviewCompleted(question=text, answer=answer.text, duration_ms=max(waited_ms, 0))]
        )
        return (answer.selected_option_key or answer.text).upper(), by
