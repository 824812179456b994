"""What a run evaluates that can take time runs in a daemon thread, never on the event loop."""

from __future__ import annotations

import asyncio
import random
import threading
import time

import pytest

from fabro.engine import offload
from fabro.engine.outcome import Outcome
from fabro.workflow.prepare import prepare
from fabro.workflow.regex import MAX_SUBJECT_CHARS

# The slowest kind of search RE2 does (its DFA gives up, its NFA tracks ~1000 positions).
SLOW_PATTERN = "[ab]*a[ab]{990}c"


def slow_subject() -> str:
    rng = random.Random(1)
    return "".join(rng.choice("ab") for _ in range(MAX_SUBJECT_CHARS))


async def test_off_loop_returns_the_result_and_raises_the_exception() -> None:
    assert await offload.off_loop(lambda: 42) == 42
    with pytest.raises(ZeroDivisionError):
        await offload.off_loop(lambda: 1 / 0)


async def test_a_cancelled_caller_leaves_the_thread_to_finish_quietly() -> None:
    release = threading.Event()
    task = asyncio.create_task(offload.off_loop(lambda: release.wait(5)))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    release.set()
    await asyncio.sleep(0.05)  # the thread delivers to a cancelled future: nothing happens


@pytest.mark.alone  # times itself: see tests/alone.py
async def test_the_loop_keeps_turning_while_a_slow_condition_is_evaluated() -> None:
    context = {"x": slow_subject()}
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1

    ticker = asyncio.create_task(tick())
    started = time.perf_counter()
    holds = await offload.condition_holds(f"x matches {SLOW_PATTERN}", {}, context)
    elapsed = time.perf_counter() - started
    ticker.cancel()
    assert holds is False
    # The loop turned all along (RE2 releases the GIL): at least a tick per 10 ms elapsed.
    assert ticks >= elapsed / 0.01, (ticks, elapsed)


async def test_select_edge_reads_matches_conditions_off_the_loop() -> None:
    graph = prepare('digraph G { n -> yes [condition="context.out matches ^ok$"]\n n -> no }').graph
    context = {"out": "ok\n"}
    edge = await offload.select_edge(graph, "n", Outcome.success(), context)
    assert edge is not None and edge.target == "yes"
    context["out"] = "ko\n"
    edge = await offload.select_edge(graph, "n", Outcome.success(), context)
    assert edge is not None and edge.target == "no"
