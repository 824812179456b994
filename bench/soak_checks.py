"""What `scripts/soak` checks, as plain functions over what it observed (no I/O).

A run's stored events tell which stages started, finished and were interrupted by a crash
(engine.md §5: a `RunResumed{reason: "recovery"}` while a stage is in flight means that stage
runs again, at-least-once; stages recorded as completed never run again). The witness file of a
run (each command stage appends its node id at its very end) tells how often each script really
ran. The reconnecting SSE client's log must hold every stored event exactly once.

`StageStarted` is one of the events that stream while a stage runs (engine.md §4.2): the
handler may start before it is committed. So a crash between two recorded stages may still
have interrupted the next one, the checkpoint's `next_node_id`, which then runs again without
its first execution on record; it counts as an execution here (``unrecorded``).

The soak runs with a policy, so every command stage passes a gate: its receipt (what it ran,
the policy's decision, how it ended) begins before the command starts. A run's receipts must
agree with its witness file and its events (``audit_receipts``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import Any

from fabro.storage.receipts import ReceiptRecord

TERMINAL = frozenset({"WorkflowRunCompleted", "WorkflowRunFailed", "RunCancelled"})


@dataclass(frozen=True)
class SeenEvent:
    """One SSE frame: its id (the stored seq), its variant and payload, and the raw data."""

    seq: int
    variant: str
    payload: dict[str, Any]
    raw: str

    @classmethod
    def parse(cls, seq: int, raw: str) -> SeenEvent:
        tagged = json.loads(raw)
        if not isinstance(tagged, dict) or len(tagged) != 1:
            raise ValueError(f"not an externally tagged event: {raw[:200]}")
        ((variant, payload),) = tagged.items()
        return cls(seq, variant, payload if isinstance(payload, dict) else {}, raw)


@dataclass
class RunAudit:
    """What one run's events say, and what is wrong with them."""

    stage_starts: Counter[str] = field(default_factory=Counter)  # top-level StageStarted
    branch_starts: Counter[str] = field(default_factory=Counter)  # ParallelBranchStarted
    interrupted: Counter[str] = field(default_factory=Counter)  # in flight at a recovery
    # The next stage at a recovery with none recorded in flight: it may have started.
    unrecorded: Counter[str] = field(default_factory=Counter)
    branch_parent: dict[str, str] = field(default_factory=dict)  # branch -> parallel node
    completed: set[str] = field(default_factory=set)  # stages and branches that finished
    recoveries: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def executions(self) -> int:
        return sum(self.stage_starts.values()) + sum(self.branch_starts.values())

    @property
    def reexecuted(self) -> int:
        """Stage and branch executions beyond the first (the re-run interrupted stages)."""
        counts = [*self.stage_starts.values(), *self.branch_starts.values()]
        return sum(count - 1 for count in counts if count > 1)

    def runs_allowed(self, node: str) -> int:
        """Executions of a command: its stage's, or its parallel stage's for a branch."""
        stage = self.branch_parent.get(node, node)
        return self.stage_starts[stage] + self.unrecorded[stage]

    def runs_unrecorded(self, lines: Sequence[str]) -> int:
        """Witnessed command runs beyond the executions with a stored StageStarted."""
        counts = Counter(lines)
        return sum(
            max(count - self.stage_starts[self.branch_parent.get(node, node)], 0)
            for node, count in counts.items()
        )


def audit_events(events: Sequence[SeenEvent]) -> RunAudit:
    """Check a run's complete event log (a full replay) against engine.md §4–§6."""
    audit = RunAudit()
    problems = audit.problems
    seqs = [event.seq for event in events]
    if seqs != list(range(1, len(seqs) + 1)):
        problems.append(f"event seqs are not 1..{len(seqs)}: {_gaps(seqs)}")
    if not events:
        problems.append("no events")
        return audit
    if events[0].variant != "RunQueued":
        problems.append(f"first event is {events[0].variant}, not RunQueued")
    terminals = [e for e in events if e.variant in TERMINAL]
    if len(terminals) != 1 or terminals[0] is not events[-1]:
        problems.append(f"terminal events {[e.seq for e in terminals]} of {len(events)}")
    elif events[-1].variant != "WorkflowRunCompleted":
        problems.append(f"run ended with {events[-1].variant}")

    in_flight: str | None = None  # the top-level stage between StageStarted and its end
    branch_parent = audit.branch_parent
    branches_done: Counter[str] = Counter()
    first_stage: str | None = None
    last_edge_to: str | None = None
    resume_expected = False  # the next StageStarted follows a recovery
    asked: set[str] = set()  # gates that emitted InterviewStarted

    for event in events:
        data, variant = event.payload, event.variant
        where = f"seq {event.seq} {variant}"
        if variant == "StageStarted":
            node = str(data.get("node_id"))
            if in_flight is not None:
                problems.append(f"{where}: {node} started while {in_flight} was still running")
            if node in audit.completed:
                problems.append(f"{where}: stage {node} already completed and ran again")
            if resume_expected:
                expected = last_edge_to or first_stage
                if expected is not None and node != expected:
                    problems.append(f"{where}: recovery resumed at {node}, expected {expected}")
                resume_expected = False
            first_stage = first_stage or node
            audit.stage_starts[node] += 1
            in_flight = node
        elif variant == "StageCompleted" or (
            variant == "StageFailed" and not data.get("will_retry")
        ):
            node = str(data.get("node_id"))
            if in_flight != node:
                problems.append(f"{where}: {node} ended but {in_flight} was running")
            audit.completed.add(node)
            in_flight = None
        elif variant == "EdgeSelected":
            last_edge_to = str(data.get("to_node"))
        elif variant == "RunResumed" and data.get("reason") == "recovery":
            audit.recoveries += 1
            if in_flight is not None:
                audit.interrupted[in_flight] += 1
            elif last_edge_to or first_stage:
                audit.unrecorded[last_edge_to or first_stage or ""] += 1
            in_flight = None
            resume_expected = True
        elif variant == "ParallelBranchStarted":
            branch = str(data.get("branch"))
            if in_flight is None:
                problems.append(f"{where}: branch {branch} outside a parallel stage")
            else:
                branch_parent[branch] = in_flight
            audit.branch_starts[branch] += 1
        elif variant == "ParallelBranchCompleted":
            branch = str(data.get("branch"))
            branches_done[branch] += 1
            audit.completed.add(branch)
        elif variant == "InterviewStarted":
            asked.add(str(data.get("stage")))
        elif variant == "InterviewCompleted" and in_flight not in asked:
            problems.append(f"{where}: answer at {in_flight} without InterviewStarted")

    for node, count in audit.stage_starts.items():
        if count > 1 + audit.interrupted[node]:
            problems.append(
                f"stage {node} started {count} times, interrupted {audit.interrupted[node]}"
            )
    for branch, count in audit.branch_starts.items():
        allowed = 1 + audit.interrupted[branch_parent.get(branch, "")]
        if count > allowed or branches_done[branch] > count:
            problems.append(
                f"branch {branch} started {count}, completed {branches_done[branch]} times; "
                f"its parallel stage was interrupted {allowed - 1} times"
            )
    return audit


def audit_witness(lines: Sequence[str], audit: RunAudit, commands: set[str]) -> list[str]:
    """Each command ran at most once per execution of its stage, and every completed command
    ran at least once: so completed stages never ran again."""
    problems = []
    counts = Counter(lines)
    for node, count in sorted(counts.items()):
        if node not in commands:
            problems.append(f"witness names {node!r}, not a command stage")
        elif count > audit.runs_allowed(node):
            problems.append(
                f"command {node} ran {count} times, its stage executed at most "
                f"{audit.runs_allowed(node)} times"
            )
    for node in sorted(commands & audit.completed):
        if counts[node] == 0:
            problems.append(f"command {node} completed but never ran")
    return problems


def audit_stream(seen: Sequence[SeenEvent], replay: Sequence[SeenEvent]) -> list[str]:
    """The reconnecting client's log is the stored log: every event exactly once, in order."""
    problems = []
    seqs = [event.seq for event in seen]
    if seqs != list(range(1, len(seqs) + 1)):
        problems.append(f"client saw seqs {_gaps(seqs)}")
    if len(seen) != len(replay):
        problems.append(f"client saw {len(seen)} events, the store has {len(replay)}")
    for mine, stored in zip(seen, replay, strict=False):
        if (mine.seq, mine.raw) != (stored.seq, stored.raw):
            problems.append(f"event {mine.seq} differs from the stored one: {mine.raw[:120]}")
            break
    return problems


def _gaps(seqs: Sequence[int]) -> str:
    """A short description of where a seq list stops being 1, 2, 3, ..."""
    for index, seq in enumerate(seqs):
        if seq != index + 1:
            around = list(seqs[max(index - 2, 0) : index + 3])
            return f"position {index} has {seq} (around: {around})"
    return f"{len(seqs)} in order"


def audit_receipts(
    receipts: Sequence[ReceiptRecord],
    lines: Sequence[str],
    audit: RunAudit,
    scripts: Mapping[str, str],
    rules: Set[str],
) -> list[str]:
    """A run's receipts against its witness file and its events: every executed command has
    exactly one receipt, `applied` once it ran to the end, and no receipt lacks its action.

    The witness line is a command's last step, and its receipt begins (committed with
    everything before) before the command starts. So for each command stage:

    - applied <= witness lines: an applied receipt's command exited 0, after its line;
    - witness lines <= applied + open: each line was written by an execution that has a
      receipt; one with no end is an execution a crash (or a SIGTERM) interrupted, whose line
      may or may not have been written before it died. The stage then ran again, with a new
      receipt (at-least-once: these commands are safe to repeat);
    - applied + open <= executions of the stage (for a branch, of its parallel stage): one
      receipt per execution, never two;
    - a completed command stage has an applied receipt.
    """
    problems: list[str] = []
    by_node: dict[str, Counter[str]] = {}
    for receipt in receipts:
        node = receipt.stage_id.split("-visit_")[0]
        problems += [f"receipt {receipt.id} ({node}): {p}" for p in _lacks(receipt, scripts, rules)]
        by_node.setdefault(node, Counter())[receipt.outcome or "open"] += 1
    witnessed = Counter(lines)
    for node in sorted(set(scripts) & (set(by_node) | set(witnessed) | audit.completed)):
        got = by_node.get(node, Counter())
        applied, open_, ran = got["applied"], got["open"], witnessed[node]
        allowed = audit.runs_allowed(node)
        where = f"command {node}: {applied} applied and {open_} open receipts, {ran} runs"
        if not applied <= ran <= applied + open_:
            problems.append(f"{where}: runs must be between applied and applied + open")
        if applied + open_ > allowed:
            problems.append(f"{where}: more receipts than its {allowed} executions")
        if node in audit.completed and applied == 0:
            problems.append(f"{where}: completed without an applied receipt")
    return problems


def _lacks(receipt: ReceiptRecord, scripts: Mapping[str, str], rules: Set[str]) -> list[str]:
    """What a receipt of the soak lacks: its action (the stage's script exactly), a known
    kind, a decision and the rule of the configured policy that reached it, an outcome that
    is `applied` (with exit status 0) or none."""
    lacks = []
    script = scripts.get(receipt.stage_id.split("-visit_")[0])
    if not receipt.action or receipt.action != script:
        lacks.append(f"action {receipt.action[:80]!r} is not its stage's script {script!r}")
    if receipt.kind != "command":
        lacks.append(f"kind {receipt.kind!r}, not 'command'")
    if receipt.decision != "ALLOW" or receipt.rule not in rules:
        lacks.append(f"decision {receipt.decision!r} by rule {receipt.rule!r}, not a soak rule")
    if receipt.outcome not in (None, "applied") or (
        receipt.outcome == "applied" and receipt.exit_status != 0
    ):
        lacks.append(f"outcome {receipt.outcome!r} (exit status {receipt.exit_status})")
    return lacks
