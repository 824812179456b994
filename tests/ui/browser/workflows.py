"""The workflows the browser tests run: small, fast, and each waiting where a test needs it."""

from __future__ import annotations

from pathlib import Path

XSS = "<script>alert(1)</script>"

# A human gate between start and exit: the run waits until someone answers "Yes".
GATE = """digraph Gate {
  start [shape=Mdiamond]
  approve [shape=hexagon, label="Ship it?"]
  exit [shape=Msquare]
  start -> approve
  approve -> exit [label="[Y] Yes"]
  approve -> exit [label="[N] No"]
}"""

# A syntax error on line 3 (the new-run page shows it there).
BROKEN = """digraph Broken {
  start [shape=Mdiamond]
  start -> -> exit
  exit [shape=Msquare]
}"""

# A command stage that runs until cancelled.
SLEEP = """digraph Sleep {
  start [shape=Mdiamond]
  nap [shape=parallelogram, script="sleep 30"]
  exit [shape=Msquare]
  start -> nap -> exit
}"""


def wait_for_file(path: Path) -> str:
    """A command stage that finishes when ``path`` appears: the test decides when."""
    return f"""digraph WaitForFile {{
  start [shape=Mdiamond]
  work [shape=parallelogram, label="Work", script="while [ ! -e '{path}' ]; do sleep 0.05; done"]
  exit [shape=Msquare]
  start -> work -> exit
}}"""


def gate_after_file(path: Path) -> str:
    """Runs until ``path`` appears, then waits at a human gate."""
    return f"""digraph GateAfterFile {{
  start [shape=Mdiamond]
  work [shape=parallelogram, label="Work", script="while [ ! -e '{path}' ]; do sleep 0.05; done"]
  approve [shape=hexagon, label="Ship it?"]
  exit [shape=Msquare]
  start -> work -> approve
  approve -> exit [label="[Y] Yes"]
  approve -> exit [label="[N] No"]
}}"""


# A label and a command output that would run script if they were not escaped.
HOSTILE = """digraph Hostile {
  start [shape=Mdiamond]
  shout [shape=parallelogram, label="<script>alert(1)</script>",
         script="echo '<script>alert(1)</script>'"]
  exit [shape=Msquare]
  start -> shout -> exit
}"""

# A goal gate that fails with nowhere to retry: the run fails.
FAILING = """digraph Failing {
  start [shape=Mdiamond]
  check [shape=parallelogram, label="Check", goal_gate=true,
         script="echo 'tests failed: 3' >&2; exit 1"]
  exit [shape=Msquare]
  start -> check -> exit
}"""

# The registry's example (also what the screenshots show): a command, a model stage, a gate.
HELLO = """digraph Hello {
  graph [goal="Say hello"]
  start [shape=Mdiamond]
  greet [shape=parallelogram, label="Greet", script="echo hello from fabro"]
  plan [label="Plan", prompt="Plan how to say hello: $goal"]
  review [label="Review", llm_model="gpt-5-mini", prompt="Review the plan"]
  approve [shape=hexagon, label="Ship it?"]
  exit [shape=Msquare]
  start -> greet -> plan -> review -> approve
  approve -> exit [label="[Y] Yes"]
  approve -> greet [label="[A] Again"]
}"""

REGISTRY = {
    "hello": (HELLO, 'description = "Greets, plans, asks to ship"\ngoal = "Say hello"\n'),
    "gate": (GATE, 'description = "One human gate"\n'),
}


def write_registry(folder: Path) -> Path:
    """The registry the servers read (FABRO_WORKFLOWS_DIR): one folder per workflow."""
    for slug, (dot, toml) in REGISTRY.items():
        (folder / slug).mkdir(parents=True, exist_ok=True)
        (folder / slug / "workflow.dot").write_text(dot, encoding="utf-8")
        (folder / slug / "workflow.toml").write_text(toml, encoding="utf-8")
    return folder
