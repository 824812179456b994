"""Issue 13, finding 5: a huge workflow is refused, and a large one never stalls the server.

`limits.max_source_bytes` is checked before parsing, `limits.max_nodes` and `limits.max_edges`
right after; over one, `POST /runs` answers 400 naming it. Preparation runs off the event loop,
so a real server keeps answering `/health` while it prepares a large-but-allowed workflow.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from quart.typing import TestClientProtocol as Client

from fabro.config import LimitsSettings, Settings
from fabro.workflow.prepare import prepare
from tests.e2e.runs_support import server_toml, token_for
from tests.e2e.serverproc import ServerProcess, start_server

LIMITS = LimitsSettings()


def chain(nodes: int, *, pad: int = 0, exit_node: bool = True) -> str:
    """`start -> n0 -> n1 -> ... -> exit`: nodes + 2 nodes, nodes + 1 edges."""
    names = ["start", *(f"n{i}" for i in range(nodes))] + (["exit"] if exit_node else [])
    lines = [f'n{i} [label="Stage number {i}", prompt="Do step {i}"]' for i in range(nodes)]
    edges = "\n".join(f"{a} -> {b}" for a, b in itertools.pairwise(names))
    padding = f"/* {'p' * pad} */" if pad else ""
    exit_decl = " exit [shape=Msquare]\n" if exit_node else ""
    return (
        'digraph Big {\n graph [goal="Big"]\n start [shape=Mdiamond]\n'
        + exit_decl
        + "\n".join(lines)
        + f"\n{edges}\n{padding}}}\n"
    )


def ping_pong(edges: int) -> str:
    return (
        "digraph P {\n start [shape=Mdiamond]\n exit [shape=Msquare]\n"
        + ("start -> exit\n" * edges)
        + "}\n"
    )


@pytest.mark.parametrize(
    ("dot", "detail"),
    [
        (
            chain(10, pad=LIMITS.max_source_bytes),
            f"Workflow source exceeds limits.max_source_bytes ({LIMITS.max_source_bytes} bytes).",
        ),
        (
            chain(LIMITS.max_nodes - 1),
            f"Workflow has more than limits.max_nodes ({LIMITS.max_nodes}) nodes.",
        ),
        (
            ping_pong(LIMITS.max_edges + 1),
            f"Workflow has more than limits.max_edges ({LIMITS.max_edges}) edges.",
        ),
    ],
    ids=["source", "nodes", "edges"],
)
async def test_over_a_limit_is_a_400(
    client: Client, auth_headers: dict[str, str], dot: str, detail: str
) -> None:
    response = await client.post("/runs", json={"dot_source": dot}, headers=auth_headers)
    assert response.status_code == 400
    assert (await response.get_json())["errors"][0]["detail"] == detail


def test_at_the_limits_is_accepted() -> None:
    dot = chain(LIMITS.max_nodes - 2)  # max_nodes nodes, max_nodes - 1 edges
    assert prepare(dot, limits=LIMITS).ok


async def test_registry_workflows_have_the_same_limits(
    client: Client, auth_headers: dict[str, str], settings: Settings
) -> None:
    folder = settings.workflows_dir / "huge"
    folder.mkdir(parents=True)
    (folder / "workflow.dot").write_text(chain(LIMITS.max_nodes), encoding="utf-8")
    response = await client.post("/runs", json={"workflow": "huge"}, headers=auth_headers)
    assert response.status_code == 400
    detail = (await response.get_json())["errors"][0]["detail"]
    assert detail == f"Workflow has more than limits.max_nodes ({LIMITS.max_nodes}) nodes."


# ---- a real server stays responsive -----------------------------------------------------------

LARGE_NODES = 45_000  # allowed by the raised limits below; seconds of parsing and validation
RAISED = """
[limits]
max_source_bytes = 10485760
max_nodes = 50000
max_edges = 100000
"""


@pytest.fixture(scope="module")
def large_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    base: Path = tmp_path_factory.mktemp("huge")
    token = token_for(base / "data")
    server = start_server(base / "server", config=server_toml() + RAISED, data_dir=base / "data")
    try:
        yield server, token
    finally:
        server.stop()


@pytest.mark.alone  # times itself: see tests/alone.py
def test_health_answers_while_a_large_workflow_is_prepared(
    large_server: tuple[ServerProcess, str],
) -> None:
    server, token = large_server
    # No exit node: invalid, so the server prepares and validates it all, then answers 400.
    dot = chain(LARGE_NODES, exit_node=False)
    answer: list[httpx.Response] = []

    def submit() -> None:
        with server.client(token=token, timeout=120) as http:
            answer.append(http.post("/runs", json={"dot_source": dot}))

    worker = threading.Thread(target=submit)
    with server.client() as http:
        assert http.get("/health").status_code == 200  # connection warm, server idle
        started = time.monotonic()
        worker.start()
        latencies = []
        while worker.is_alive():
            sent = time.monotonic()
            assert http.get("/health").status_code == 200
            latencies.append(time.monotonic() - sent)
            time.sleep(0.02)
        elapsed = time.monotonic() - started
    worker.join()
    assert answer[0].status_code == 400, answer[0].text
    assert "Validation error" in answer[0].text
    # Blocked, /health would wait for the whole preparation; off the loop it barely notices.
    assert elapsed > 0.3, f"preparation took only {elapsed:.2f} s: the test proves nothing"
    assert max(latencies) < min(0.5, elapsed / 4), (max(latencies), len(latencies), elapsed)


def test_over_the_configured_limit_is_a_400(large_server: tuple[ServerProcess, str]) -> None:
    server, token = large_server
    with server.client(token=token) as http:
        response = http.post("/runs", json={"dot_source": ping_pong(100_001)})
    assert response.status_code == 400
    assert response.json() == {
        "errors": [
            {
                "status": "400",
                "title": "Bad Request",
                "detail": "Workflow has more than limits.max_edges (100000) edges.",
            }
        ]
    }
