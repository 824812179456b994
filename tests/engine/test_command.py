"""Command stages through the real engine with real subprocesses (engine.md §9.3)."""

from __future__ import annotations

import json
import os

from fabro.engine.lifecycle import NewRun
from fabro.workflow.prepare import prepare
from fabro.workflow.value import Value
from tests.engine.harness import Harness


def flow(attrs: str, *, fail_edge: bool = False) -> str:
    extra = '\n  cmd -> failed [condition="outcome=fail"]\n  failed -> exit' if fail_edge else ""
    return f"""
digraph C {{
  start [shape=Mdiamond]
  cmd [shape=parallelogram, {attrs}]
  failed [shape=parallelogram, script="true"]
  exit [shape=Msquare]
  start -> cmd -> exit{extra}
}}
"""


async def context_of(harness: Harness, run_id: str) -> dict[str, object]:
    values = (await harness.checkpoint(run_id))["context_values"]
    assert isinstance(values, dict)
    return values


async def test_success_captures_stdout_stderr_and_exit_code(harness: Harness) -> None:
    run, result = await harness.run(flow('script="echo hello; echo oops >&2"'))
    assert result.status == "completed", result.error
    context = await context_of(harness, run.id)
    assert context["command.output"] == "hello\n"
    assert context["command.stderr"] == "oops\n"
    assert context["command.exit_code"] == 0
    completed = [e for e in await harness.of(run.id, "StageCompleted") if e["node_id"] == "cmd"]
    assert completed[0]["notes"] == "Script completed: echo hello; echo oops >&2"
    started = [e for e in await harness.of(run.id, "StageStarted") if e["node_id"] == "cmd"]
    assert started[0]["script"] == "echo hello; echo oops >&2"
    assert started[0]["handler_type"] == "command"


async def test_artifacts_are_written_in_the_stage_folder(harness: Harness) -> None:
    run, result = await harness.run(flow('script="printf out; printf err >&2; exit 0"'))
    assert result.status == "completed"
    folder = harness.lifecycle.run_dir(run.id) / "nodes" / "cmd"
    assert (folder / "stdout.log").read_text() == "out"
    assert (folder / "stderr.log").read_text() == "err"
    invocation = json.loads((folder / "script_invocation.json").read_text())
    assert invocation == {
        "command": "printf out; printf err >&2; exit 0",
        "language": "shell",
        "timeout_ms": 600_000,
    }
    timing = json.loads((folder / "script_timing.json").read_text())
    assert timing["exit_code"] == 0 and timing["timed_out"] is False
    assert isinstance(timing["duration_ms"], int)
    completed = await harness.of(run.id, "WorkflowRunCompleted")
    assert completed[0]["artifact_count"] == 4


async def test_non_zero_exit_fails_with_output_tails(harness: Harness) -> None:
    run, result = await harness.run(
        flow('script="echo partial; echo broken >&2; exit 3"', fail_edge=True)
    )
    assert result.status == "completed"
    failed = [e for e in await harness.of(run.id, "StageFailed") if e["node_id"] == "cmd"]
    assert len(failed) == 1 and failed[0]["will_retry"] is False
    assert failed[0]["failure"]["message"] == (
        "Script failed with exit code: 3\n\n## stdout\npartial\n\n\n## stderr\nbroken\n"
    )
    assert failed[0]["failure"]["failure_class"] == "deterministic"
    checkpoint = await harness.checkpoint(run.id)
    assert checkpoint["node_outcomes"]["cmd"]["context_updates"]["command.exit_code"] == 3
    assert checkpoint["context_values"]["command.exit_code"] == 0  # `failed` ran after it
    stage = await harness.stage(run.id, "cmd")
    assert stage.status == "failed"
    assert stage.attempts == 1  # a fail outcome is never retried
    edges = await harness.of(run.id, "EdgeSelected")
    assert {
        "from_node": "cmd",
        "to_node": "failed",
        "label": None,
        "condition": "outcome=fail",
    } in edges


async def test_fail_message_omits_empty_sections_and_keeps_8000_char_tails(
    harness: Harness,
) -> None:
    script = 'python3 -c \'print(\\"a\\" * 9000 + \\"END\\", end=\\"\\")\'; exit 1'
    run, _ = await harness.run(flow(f'script="{script}"', fail_edge=True))
    failure = await harness.first(run.id, "StageFailed", "cmd")
    message = failure["failure"]["message"]
    assert message.startswith("Script failed with exit code: 1\n\n## stdout\n")
    assert "## stderr" not in message
    tail = message.split("## stdout\n", 1)[1]
    assert len(tail) == 8000 and tail.endswith("END")


async def test_runs_in_the_run_working_directory_not_the_process_cwd(harness: Harness) -> None:
    run, result = await harness.run(flow('script="pwd; touch made_here"'))
    assert result.status == "completed"
    work = harness.lifecycle.run_dir(run.id) / "work"
    context = await context_of(harness, run.id)
    assert context["command.output"] == f"{work.resolve()}\n"
    assert os.getcwd() != str(work.resolve())
    assert "made_here" in os.listdir(work)
    assert context["internal.work_dir"] == str(work.resolve())


async def test_secrets_are_filtered_from_the_environment(harness: Harness) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/tmp",
        "FOO_API_KEY": "k" * 20,
        "db_password": "p" * 20,
        "GITHUB_TOKEN": "t" * 20,
        "APP_SECRET": "s" * 20,
        "FABRO_JWT_SIGNING": "j" * 20,
        "KEEP_ME": "visible",
    }
    run, result = await harness.run(flow('script="env | sort"'), deps=harness.deps(env=env))
    assert result.status == "completed"
    lines = str((await context_of(harness, run.id))["command.output"]).splitlines()
    names = {line.split("=", 1)[0] for line in lines}
    assert {
        "FOO_API_KEY",
        "db_password",
        "GITHUB_TOKEN",
        "APP_SECRET",
        "FABRO_JWT_SIGNING",
    }.isdisjoint(names)
    work = (harness.lifecycle.run_dir(run.id) / "work").resolve()
    assert f"FABRO_RUN_ID={run.id}" in lines
    assert "FABRO_NODE_ID=cmd" in lines
    assert f"FABRO_WORK_DIR={work}" in lines
    assert "HOME=/tmp" in lines
    # Only the allow-list (settings.commands.env_allowlist) passes: not even harmless names.
    assert "KEEP_ME=visible" not in lines
    allowed = harness.deps(env=env)
    allowed.env_allowlist = ("PATH", "KEEP_ME")
    run, result = await harness.run(flow('script="env | sort"'), deps=allowed)
    lines = str((await context_of(harness, run.id))["command.output"]).splitlines()
    assert "KEEP_ME=visible" in lines and "HOME=/tmp" not in lines


async def test_python_language(harness: Harness) -> None:
    run, result = await harness.run(
        flow('language="python", script="import os\nprint(6 * 7, os.getcwd())"')
    )
    assert result.status == "completed", result.error
    work = (harness.lifecycle.run_dir(run.id) / "work").resolve()
    assert (await context_of(harness, run.id))["command.output"] == f"42 {work}\n"


def lonely(attrs: str) -> str:
    """A command node without outgoing edges: its failure ends the run."""
    return f"""
digraph L {{
  start [shape=Mdiamond]
  exit [shape=Msquare]
  cmd [shape=parallelogram, {attrs}]
  start -> cmd
}}
"""


async def test_invalid_language_and_missing_script_fail_the_stage(harness: Harness) -> None:
    run, result = await harness.run(lonely('language="ruby", script="puts 1"'))
    assert result.status == "failed"
    assert result.error == "stage cmd failed with no outgoing fail edge"
    failed = await harness.of(run.id, "StageFailed")
    assert (
        failed[0]["failure"]["message"] == 'Invalid language: "ruby" (expected "shell" or "python")'
    )

    # Validation refuses a command without a script (script_on_command_nodes); a graph that
    # skipped it still fails the stage at run time.
    prepared = prepare(lonely('script="true"'))
    prepared.graph.nodes["cmd"].attrs["script"] = Value.string("   ")
    record = await harness.lifecycle.create(
        NewRun(graph=prepared.graph, dot_source="", title="t", goal="")
    )
    result = await harness.execute(record)
    failed = await harness.of(record.id, "StageFailed")
    assert failed[0]["failure"]["message"] == "No script specified"
    assert result.error == "stage cmd failed with no outgoing fail edge"


async def test_output_is_capped_with_a_truncation_prefix(harness: Harness) -> None:
    script = 'python3 -c \'import sys; sys.stdout.write(\\"x\\" * 70000 + \\"TAIL\\")\''
    run, result = await harness.run(flow(f'script="{script}"'))
    assert result.status == "completed", result.error
    output = str((await context_of(harness, run.id))["command.output"])
    prefix = "[... 4468 characters truncated; full output in stage artifacts ...]\n"
    assert output.startswith(prefix)
    assert len(output) == len(prefix) + 65_536
    assert output.endswith("xTAIL")
    log = harness.lifecycle.run_dir(run.id) / "nodes" / "cmd" / "stdout.log"
    assert log.stat().st_size == 70_004


async def test_very_large_output_counts_every_dropped_character(harness: Harness) -> None:
    script = "python3 -c 'import sys; sys.stderr.write(\\\"y\\\" * 1500000)'"
    run, result = await harness.run(flow(f'script="{script}"'))
    assert result.status == "completed", result.error
    context = await context_of(harness, run.id)
    stderr = str(context["command.stderr"])
    assert stderr.startswith(
        f"[... {1_500_000 - 65_536} characters truncated; full output in stage artifacts ...]\n"
    )
    assert stderr.endswith("y" * 65_536)
    assert context["command.output"] == ""


async def test_timeout_is_retried_then_fails_transient_infra(harness: Harness) -> None:
    run, result = await harness.run(
        flow('script="echo started; sleep 30", timeout="150ms", max_retries=1', fail_edge=True)
    )
    assert result.status == "completed", result.error
    failed = [e for e in await harness.of(run.id, "StageFailed") if e["node_id"] == "cmd"]
    message = "Script timed out after 150ms: echo started; sleep 30"
    assert [
        (f["will_retry"], f["failure"]["message"], f["failure"]["failure_class"]) for f in failed
    ] == [
        (True, message, "transient_infra"),
        (False, message, "transient_infra"),
    ]
    assert len(await harness.of(run.id, "StageRetrying")) == 1
    timing = json.loads(
        (harness.lifecycle.run_dir(run.id) / "nodes" / "cmd" / "script_timing.json").read_text()
    )
    assert timing["timed_out"] is True and timing["exit_code"] is None
    # The context keys are set on timeout too (exit code null).
    outcome = (await harness.checkpoint(run.id))["node_outcomes"]["cmd"]
    assert outcome["context_updates"]["command.exit_code"] is None
    assert outcome["context_updates"]["command.output"] == "started\n"
    assert (await harness.stage(run.id, "cmd")).attempts == 2


COUNTING = (
    "n=$(( $(cat attempts 2>/dev/null || echo 0) + 1 )); echo $n > attempts; "
    "echo attempt $n; if [ $n -lt 3 ]; then echo not yet >&2; exit 1; fi"
)


async def test_explicit_max_retries_retries_a_failed_exit(harness: Harness) -> None:
    run, result = await harness.run(flow(f'script="{COUNTING}", max_retries=2', fail_edge=True))
    assert result.status == "completed", result.error
    work = harness.lifecycle.run_dir(run.id) / "work"
    assert (work / "attempts").read_text() == "3\n"
    assert [e["node_id"] for e in await harness.of(run.id, "StageStarted")][1:3] == ["cmd", "exit"]
    failed = [e for e in await harness.of(run.id, "StageFailed") if e["node_id"] == "cmd"]
    assert [(f["will_retry"], f["failure"]["message"].splitlines()[0]) for f in failed] == [
        (True, "Script failed with exit code: 1"),
        (True, "Script failed with exit code: 1"),
    ]
    retrying = await harness.of(run.id, "StageRetrying")
    assert [(r["attempt"], r["max_attempts"]) for r in retrying] == [(2, 3), (3, 3)]
    # The spec's default backoff, 5 s then 10 s with jitter in [0.5, 1.5), on the fake sleep.
    assert [round(d) for d in harness.sleep.delays] == [
        round(r["delay_ms"] / 1000) for r in retrying
    ]
    assert 2.5 <= harness.sleep.delays[0] < 7.5 and 5 <= harness.sleep.delays[1] < 15
    assert (await harness.stage(run.id, "cmd")).attempts == 3
    assert (await context_of(harness, run.id))["command.output"] == "attempt 3\n"


async def test_a_retry_policy_retries_and_the_last_failure_is_kept(harness: Harness) -> None:
    script = "echo try >> tries; echo broken >&2; exit 4"
    run, result = await harness.run(flow(f'script="{script}", retry_policy=linear', fail_edge=True))
    assert result.status == "completed", result.error
    assert "failed" in [e["to_node"] for e in await harness.of(run.id, "EdgeSelected")]
    work = harness.lifecycle.run_dir(run.id) / "work"
    assert (work / "tries").read_text() == "try\n" * 3  # `linear`: 3 attempts
    assert [round(d, 2) for d in harness.sleep.delays] == [
        round(r["delay_ms"] / 1000, 2) for r in await harness.of(run.id, "StageRetrying")
    ]
    final = (await harness.checkpoint(run.id))["node_outcomes"]["cmd"]
    assert final["status"] == "fail"
    assert final["failure"]["message"].startswith("Script failed with exit code: 4")
    assert final["context_updates"]["command.exit_code"] == 4


async def test_without_explicit_retries_a_failed_exit_is_not_retried(harness: Harness) -> None:
    run, result = await harness.run(
        flow('script="echo try >> tries; exit 1"', fail_edge=True),
    )
    assert result.status == "completed", result.error
    assert (harness.lifecycle.run_dir(run.id) / "work" / "tries").read_text() == "try\n"
    assert await harness.of(run.id, "StageRetrying") == []
    assert harness.sleep.delays == []


async def test_dry_run_skips_the_script(harness: Harness) -> None:
    run, result = await harness.run(
        flow('script="touch should_not_exist; exit 9"'), deps=harness.deps(dry_run=True)
    )
    assert result.status == "completed"
    completed = [e for e in await harness.of(run.id, "StageCompleted") if e["node_id"] == "cmd"]
    assert completed[0]["notes"] == "[Simulated] Command skipped: touch should_not_exist; exit 9"
    context = await context_of(harness, run.id)
    assert (context["command.output"], context["command.stderr"], context["command.exit_code"]) == (
        "",
        "",
        0,
    )
    assert not (harness.lifecycle.run_dir(run.id) / "work" / "should_not_exist").exists()
    assert not (harness.lifecycle.run_dir(run.id) / "nodes" / "cmd").exists()


async def test_the_program_starts_only_after_its_stage_started_is_committed(
    harness: Harness,
) -> None:
    # The program itself reads the database (another connection, as after a crash would).
    probe = (
        "import sqlite3, sys; c = sqlite3.connect(sys.argv[1] if len(sys.argv) > 1 else DB); "
        "print(c.execute(\\\"SELECT count(*) FROM run_events WHERE variant = 'StageStarted' "
        "AND payload LIKE '%cmd%'\\\").fetchone()[0])"
    ).replace("DB", repr(str(harness.db.path)).replace("'", '\\"'))
    run, result = await harness.run(flow(f'language="python", script="{probe}"'))
    assert result.status == "completed", result.error
    assert (await context_of(harness, run.id))["command.output"] == "1\n"
