"""`scripts/bench engine`: what it runs and how it judges the goals."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from bench import engine, fabro_run, governance
from bench.engine import Measure, Results
from fabro.engine.handlers import HANDLERS
from fabro.engine.outcome import Outcome
from fabro.engine.stage import StageRun
from fabro.governance.actions import Decision, Subject, Verdict
from fabro.governance.describe import command_action
from fabro.storage.db import Database
from fabro.storage.receipts import ReceiptFilter, Receipts
from fabro.workflow import kinds
from fabro.workflow.model import Node

ALL = ReceiptFilter()
LABELS = (
    "in-memory database (baseline)",
    "SQLite file (durable)",
    "SQLite file, every stage committed",
    "in-memory, every stage committed",
    "committed, with a receipt, no policy",
    "committed, with a receipt and a policy",
    "`fabro run` end to end",
)


def test_a_quick_run_prints_every_row_as_numbers_at_both_lengths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert engine.main(["--quick", "--stages", "5", "20", "--runs-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "default fidelity (compact)" in out
    for label in LABELS:
        rows = [line[len(label) :].split() for line in out.splitlines() if line.startswith(label)]
        assert [row[0] for row in rows] == ["5", "20"], rows
        for row in rows:  # total s, ms/stage, ratio: numbers; bytes/stage: a number or "-"
            assert all(isinstance(float(cell), float) for cell in row[1:4]), row
            on_file = not label.startswith("in-memory")
            assert int(row[4].replace(",", "")) > 0 if on_file else row[4] == "-"
    assert "`fabro run` start-up (a 3-stage run, not counted):" in out
    assert "stage folders alone (a folder, prompt.md and response.md)" in out
    assert "20/5 per stage: in-memory" in out and "`fabro run`" in out and "bytes stored" in out
    assert "goal: <= 0.4 ms per durable stage at each length" in out
    assert "goal: <= 0.5 ms per stage for `fabro run` end to end, at each length" in out
    assert "goal: <= 0.5 ms per stage with every stage committed" in out
    assert "receipt per side effect (with a receipt - committed): " in out
    assert "goal: <= 0.2 ms per side effect for the receipt, at each length" in out
    assert "policy check per side effect (with a receipt and a policy - with a receipt): " in out
    assert "goal: <= 0.2 ms per side effect for the policy check, at each length" in out
    assert not list(tmp_path.iterdir())  # its folders are removed


def test_the_default_is_1000_and_5000_stages_with_the_default_fidelity() -> None:
    assert engine.LENGTHS == (1000, 5000)
    assert "fidelity" not in engine.bench_workflow(5)
    # start and exit count: 5,000 stages is a workflow `fabro run` accepts (limits.max_nodes)
    assert engine.bench_workflow(5).count("[label=") == 3


def test_lengths_too_short_for_the_fabro_run_row_are_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        engine.main(["--stages", "3", "20"])
    assert exit_info.value.code == 2
    assert "--stages: at least 4" in capsys.readouterr().err


async def test_the_committed_row_commits_every_stage_through_the_side_effect_guard(
    tmp_path: Path,
) -> None:
    db_path = tmp_path / "bench.db"
    committed_when_started: list[tuple[str, int]] = []

    def committed_stages() -> int:  # seen from another connection: committed rows only
        with closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as db:
            query = "SELECT count(*) FROM stages WHERE status = 'completed'"
            return int(db.execute(query).fetchone()[0])

    async def probe(node: Node, stage: StageRun) -> Outcome:
        committed_when_started.append((node.id, committed_stages()))
        return await HANDLERS[kinds.AGENT](node, stage)

    handlers = {**HANDLERS, kinds.AGENT: engine.effect_first(probe)}
    await engine.run_once(db_path, tmp_path / "data", 12, handlers)
    # Each agent stage begins once start and every stage before it are committed.
    assert committed_when_started == [(f"s{index}", index + 1) for index in range(10)]


@pytest.mark.parametrize(("policy", "rule"), [(False, ""), (True, governance.ALLOWED_BY)])
async def test_the_gated_rows_give_every_stage_one_applied_receipt_decided_by_the_policy(
    tmp_path: Path, policy: bool, rule: str
) -> None:
    db_path = tmp_path / "bench.db"
    governor = governance.governed(governance.bench_policy()) if policy else None
    await engine.run_once(db_path, tmp_path / "data", 12, engine.EVERY_STAGE_GATED, governor)
    db = await Database.open(str(db_path))
    try:
        (run_id,) = {r.run_id for r in (await Receipts(db).list(ALL, limit=99, offset=0)).items}
        receipts = await Receipts(db).for_run(run_id)
        assert (await Receipts(db).verify()).ok
    finally:
        await db.close()
    assert [r.stage_id for r in receipts] == [f"s{index}" for index in range(10)]
    got = {(r.kind, r.action, r.decision, r.rule, r.outcome, r.exit_status) for r in receipts}
    assert got == {("command", governance.SCRIPT, "ALLOW", rule, "applied", 0)}


def test_the_bench_policy_has_20_rules_and_allows_the_command_by_a_late_one() -> None:
    policy = governance.bench_policy()
    assert len(policy.rules) == 20
    names = [rule.name for rule in policy.rules]
    assert names.index(governance.ALLOWED_BY) >= 15
    subject = Subject("r1", None, None, "/srv/work")
    decision = policy.decide(command_action(governance.SCRIPT, "shell"), subject)
    assert decision == Decision(Verdict.ALLOW, governance.ALLOWED_BY)


def test_every_run_keeps_its_files_until_the_bench_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Removing a run's files would slow the next run's on an ext4 without a journal.
    monkeypatch.setattr(engine, "MODES", engine.MODES[:2])  # in-memory and durable suffice
    asyncio.run(engine.bench((6,), 2, tmp_path / "db", tmp_path / "runs"))
    assert sorted(path.name for path in (tmp_path / "runs").iterdir()) == [
        "durable-6-0",
        "durable-6-1",
        "memory-6-0",
        "memory-6-1",
    ]
    assert {"durable-6-0.db", "durable-6-1.db"} <= {p.name for p in (tmp_path / "db").iterdir()}


def test_a_fabro_run_that_fails_is_reported_with_its_output(tmp_path: Path) -> None:
    tiny = engine.bench_workflow(fabro_run.TINY_STAGES)
    with pytest.raises(fabro_run.FabroRunFailed, match=r"exited 2:\n(.|\n)*Parse error"):
        asyncio.run(fabro_run.measure(tmp_path, "digraph {", tiny, "broken"))


def results(
    durable_ms: tuple[float, float],
    committed_ms: float = 0.45,
    cli_ms: float = 0.45,
    receipt_ms: float = 0.1,
    policy_ms: float = 0.05,
) -> Results:
    """Measures whose per-stage times are these (the gated rows: what they add per side
    effect, one in each stage but start and exit)."""
    got: Results = {}
    for stages, durable in zip((1000, 5000), durable_ms, strict=True):
        got[(stages, "memory")] = Measure(0.3 * stages / 1000, 0, stages)
        got[(stages, "durable")] = Measure(durable * stages / 1000, 9000 * stages, stages)
        committed = committed_ms * stages / 1000
        got[(stages, "committed")] = Measure(committed, 9000 * stages, stages)
        got[(stages, "memory_committed")] = Measure(committed * 0.95, 0, stages)
        added = receipt_ms * (stages - 2) / 1000
        got[(stages, "receipt")] = Measure(committed + added, 9500 * stages, stages, 0, added)
        more = policy_ms * (stages - 2) / 1000
        got[(stages, "policy")] = Measure(committed + added + more, 9500 * stages, stages, 0, more)
        counted = stages - fabro_run.TINY_STAGES
        got[(stages, "fabro_run")] = Measure(cli_ms * counted / 1000, 9500 * stages, counted, 0.6)
    return got


@pytest.mark.parametrize(
    ("durable_ms", "each", "growth"),
    [
        ((0.35, 0.38), "met", "met"),
        ((0.38, 0.45), "NOT met", "met"),
        ((0.2, 0.39), "met", "NOT met"),
    ],
)
def test_the_goals_are_judged_at_each_length_and_on_the_growth(
    tmp_path: Path, durable_ms: tuple[float, float], each: str, growth: str
) -> None:
    text = engine.report(3, tmp_path, tmp_path, results(durable_ms))
    lines = text.splitlines()
    assert next(line for line in lines if "per durable stage" in line).endswith(f": {each}")
    assert next(line for line in lines if "5,000/1,000 <=" in line).endswith(f": {growth}")
    assert "9,000" in text  # bytes per stage


def test_the_fabro_run_row_counts_the_stages_past_the_tiny_run(tmp_path: Path) -> None:
    text = engine.report(3, tmp_path, tmp_path, results((0.3, 0.3), cli_ms=0.45), 0.05)
    rows = [line for line in text.splitlines() if line.startswith("`fabro run` end to end")]
    assert [row.split()[-3] for row in rows] == ["0.450", "0.450"]  # ms per counted stage
    assert "`fabro run` start-up (a 3-stage run, not counted): 0.600 s, 0.600 s" in text
    assert "now: 0.050 ms per stage" in text


@pytest.mark.parametrize(
    ("committed_ms", "cli_ms", "goal", "verdict"),
    [
        (0.6, 0.45, "with every stage committed", "NOT met"),
        (0.45, 0.45, "with every stage committed", "met"),
        (0.45, 0.6, "for `fabro run` end to end", "NOT met"),
        (0.45, 0.45, "for `fabro run` end to end", "met"),
    ],
)
def test_the_committed_and_fabro_run_goals(
    committed_ms: float, cli_ms: float, goal: str, verdict: str
) -> None:
    got = results((0.3, 0.3), committed_ms=committed_ms, cli_ms=cli_ms)
    lines = engine.report(3, Path("/tmp"), Path("/tmp"), got).splitlines()
    assert next(line for line in lines if goal in line).endswith(f": {verdict}")


@pytest.mark.parametrize(
    ("folder", "kind"),
    [
        ("/srv/data/runs", "ext4"),
        ("/var/lib/fabro", "ext4, no journal"),
        ("/dev/shm/x", "tmpfs"),
        ("/", "?"),
    ],
)
def test_the_file_system_is_named_and_an_ext4_without_a_journal_is_told(
    tmp_path: Path, folder: str, kind: str
) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text(
        "/dev/vda /var ext4 rw 0 0\n/dev/vdb /srv ext4 rw 0 0\ntmpfs /dev/shm tmpfs rw 0 0\n"
    )
    journals = tmp_path / "jbd2"
    (journals / "vdb-8").mkdir(parents=True)
    assert engine.file_system(Path(folder), mounts, journals) == kind


@pytest.mark.parametrize(
    ("receipt_ms", "policy_ms", "receipt", "policy"),
    [
        (0.1, 0.05, "met", "met"),
        (0.25, 0.05, "NOT met", "met"),
        (0.1, 0.21, "met", "NOT met"),
    ],
)
def test_the_receipt_and_the_policy_check_are_priced_per_side_effect(
    receipt_ms: float, policy_ms: float, receipt: str, policy: str
) -> None:
    got = results((0.3, 0.3), receipt_ms=receipt_ms, policy_ms=policy_ms)
    lines = engine.report(3, Path("/tmp"), Path("/tmp"), got).splitlines()
    priced = next(line for line in lines if line.startswith("receipt per side effect"))
    assert priced.endswith(f"{receipt_ms:.3f} ms at 1,000, {receipt_ms:.3f} ms at 5,000")
    priced = next(line for line in lines if line.startswith("policy check per side effect"))
    assert priced.endswith(f"{policy_ms:.3f} ms at 1,000, {policy_ms:.3f} ms at 5,000")
    assert next(line for line in lines if "for the receipt" in line).endswith(f": {receipt}")
    assert next(line for line in lines if "for the policy check" in line).endswith(f": {policy}")


def test_what_a_mode_adds_is_the_median_of_its_rounds_not_the_difference_of_medians() -> None:
    # The machine was busy in round 2, and again during the mode's run of round 3: the
    # difference of the medians (2.1 - 1.0) would say 1.1 s, the rounds say 0.1 s.
    bases = [Measure(seconds, 0, 100) for seconds in (1.0, 2.0, 1.0)]
    measures = [Measure(seconds, 0, 100) for seconds in (1.1, 2.1, 2.1)]
    got = engine.median(measures, bases)
    assert (got.seconds, round(got.added_s, 9)) == (2.1, 0.1)
    assert engine.median(measures).added_s == 0.0
