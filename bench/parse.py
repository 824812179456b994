"""`scripts/bench parse`: fabro's parse + validate against pydot's parse of the same file.

Generates a 5,000-node workflow (agents, commands, diamonds with conditions, human gates,
clusters, defaults, comments), times both parsers (best of several runs) and prints a table.
pydot is an optional, bench-only dependency (`pip install -e '.[bench]'`).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from fabro.workflow.prepare import prepare

GOAL_RATIO = 10.0


def generate_workflow(nodes: int = 5000) -> str:
    """A DOT workflow with `nodes` nodes that both fabro and pydot accept."""
    lines = [
        "digraph Bench {",
        '  graph [goal="Benchmark the parser", rankdir="LR", default_max_retry=2]',
        '  node [shape=box, timeout="900s"]',
        '  start [shape=Mdiamond, label="Start"]',
        '  exit [shape=Msquare, label="Exit"]',
    ]
    stages = nodes - 2
    per_cluster = 50
    previous = "start"
    for first in range(0, stages, per_cluster):
        lines.append(f"  subgraph cluster_{first} {{")
        lines.append(f'    label="Phase {first // per_cluster}"')
        for i in range(first, min(first + per_cluster, stages)):
            name = f"n{i}"
            kind = i % 4
            lines.append(f"    // stage {i}")
            if kind == 0:
                lines.append(
                    f'    {name} [label="Implement {i}", prompt="Implement part {i} of $goal", '
                    f'max_retries=3, llm_model="claude-sonnet-4-5", class="code"]'
                )
            elif kind == 1:
                lines.append(
                    f'    {name} [shape=parallelogram, label="Test {i}", '
                    f'script="make test-{i} 2>&1 || true"]'
                )
            elif kind == 2:
                lines.append(f'    {name} [shape=diamond, label="Passing {i}?"]')
            else:
                lines.append(f'    {name} [shape=hexagon, label="Approve {i}"]')
            lines.append(f"    {previous} -> {name}")
            if kind == 2:
                lines.append(f'    {name} -> n{i - 1} [label="Fix", condition="outcome=fail"]')
            if kind == 3:
                lines.append(f'    {name} -> n{i - 3} [label="[R] Revise", weight=-1]')
            previous = name
        lines.append("  }")
    lines.append(f"  {previous} -> exit")
    lines.append("}")
    return "\n".join(lines) + "\n"


def best_time(function: Callable[[], object], repeat: int) -> float:
    """Best wall time of `repeat` calls, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table; exit 1 if the goal ratio is missed."""
    parser = argparse.ArgumentParser(prog="scripts/bench parse")
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    try:
        import pydot
    except ImportError:
        print("pydot is not installed: pip install -e '.[bench]'", file=sys.stderr)
        return 2

    text = generate_workflow(args.nodes)
    prepared = prepare(text)
    if not prepared.ok:
        print("generated workflow is invalid:", prepared.error_summary(), file=sys.stderr)
        return 1
    # fabro takes the best of `--repeat` runs, timed first so pydot's large object graph does
    # not slow fabro's garbage collection. pydot needs about a minute for this file, so it is
    # timed once (its run doubles as the check that it accepts the file).
    fabro_s = best_time(lambda: prepare(text), args.repeat)
    started = time.perf_counter()
    graphs = pydot.graph_from_dot_data(text)
    pydot_s = time.perf_counter() - started
    if not graphs:
        print("pydot could not parse the generated workflow", file=sys.stderr)
        return 1
    ratio = pydot_s / fabro_s
    graph = prepared.graph
    print(
        f"workflow: {len(graph.nodes)} nodes, {len(graph.edges)} edges, "
        f"{len(text.encode()):,} bytes"
    )
    print(f"{'parser':<28}{'best time':>12}")
    print(f"{'fabro parse + validate':<28}{fabro_s * 1000:>9.1f} ms")
    print(f"{'pydot ' + pydot.__version__ + ' parse':<28}{pydot_s * 1000:>9.1f} ms")
    verdict = "ok" if ratio >= GOAL_RATIO else "MISSED"
    print(f"{'ratio (pydot / fabro)':<28}{ratio:>10.1f}x  (goal >= {GOAL_RATIO:.0f}x: {verdict})")
    return 0 if ratio >= GOAL_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
