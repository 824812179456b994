"""Issue 13, finding 4: `$var` expansion cannot turn a small request into a huge workflow.

Each expanded text (the goal, a node's prompt, label or script) is at most
`limits.max_expanded_bytes`, and all of a workflow's expanded texts together at most
`limits.max_source_bytes`; the size is measured while expanding, so the huge text is never
built. Over a limit `POST /runs` answers 400 naming the text and the limit.
"""

from __future__ import annotations

import time
import tracemalloc

import pytest
from quart.typing import TestClientProtocol as Client

from fabro.config import LimitsSettings
from fabro.workflow.errors import WorkflowInputError
from fabro.workflow.prepare import prepare

LIMIT = LimitsSettings().max_expanded_bytes
BIG = "x" * 2_000  # 2 kB, 1,000 times: 2 MB from a 7 kB request


def flow(nodes: str = "", goal: str = "Plain goal") -> str:
    return f"""digraph Bomb {{
  graph [goal="{goal}"]
  start [shape=Mdiamond]
  exit [shape=Msquare]
  {nodes}
  start -> exit
}}"""


async def post(client: Client, headers: dict[str, str], body: dict[str, object]) -> tuple[int, str]:
    response = await client.post("/runs", json=body, headers=headers)
    payload = await response.get_json()
    return response.status_code, payload["errors"][0]["detail"] if "errors" in payload else ""


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"dot_source": flow(), "goal": "$v" * 1_000, "vars": {"v": BIG}}, "goal"),
        (
            {
                "dot_source": flow('w [prompt="' + "$v" * 1_000 + '"]\n start -> w'),
                "vars": {"v": BIG},
            },
            "node 'w' prompt",
        ),
        (
            {"dot_source": flow('w [label="' + "$goal" * 1_000 + '"]\n start -> w'), "goal": BIG},
            "node 'w' label",
        ),
        (
            {
                "dot_source": flow('c [shape=parallelogram, script="echo ' + "$v" * 1_000 + '"]'),
                "vars": {"v": BIG},
            },
            "node 'c' script",
        ),
    ],
)
async def test_one_text_over_the_limit_is_a_400(
    client: Client, auth_headers: dict[str, str], body: dict[str, object], where: str
) -> None:
    status, detail = await post(client, auth_headers, body)
    assert status == 400, detail
    assert detail == f"Expanded {where} exceeds limits.max_expanded_bytes ({LIMIT} bytes)."


async def test_many_texts_together_over_the_limit_is_a_400(
    client: Client, auth_headers: dict[str, str]
) -> None:
    # Each prompt stays under the per-text limit; twenty of them make 4 MB.
    nodes = "\n".join(f'n{i} [prompt="$goal"]\n start -> n{i}' for i in range(20))
    body = {"dot_source": flow(nodes), "goal": "y" * (LIMIT - 1_000)}
    status, detail = await post(client, auth_headers, body)
    assert status == 400, detail
    total = LimitsSettings().max_source_bytes
    assert detail.startswith("Expanded node 'n")
    assert detail.endswith(
        f"makes the workflow's expanded texts exceed limits.max_source_bytes ({total} bytes)."
    )


async def test_a_goal_under_the_limit_is_accepted(
    client: Client, auth_headers: dict[str, str]
) -> None:
    body = {"dot_source": flow(), "goal": "$v" * 50, "vars": {"v": BIG}}
    status, detail = await post(client, auth_headers, body)
    assert status == 201, detail


def test_the_huge_text_is_never_built() -> None:
    # 100 MB if it were expanded; measuring while expanding stops at the first kilobytes over.
    text = flow(goal="$v" * 100)
    variables = {"v": "z" * 1_000_000}
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(WorkflowInputError, match=r"Expanded goal exceeds"):
            prepare(text, vars=variables)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8_000_000, peak
    assert time.perf_counter() - started < 1.0


def test_the_limit_is_a_parameter() -> None:
    text = flow(goal="$v$v")
    small = LimitsSettings(max_expanded_bytes=1_024)
    with pytest.raises(WorkflowInputError, match=r"\(1024 bytes\)"):
        prepare(text, vars={"v": "a" * 600}, limits=small)
    assert prepare(text, vars={"v": "a" * 500}, limits=small).graph.goal == "a" * 1_000
