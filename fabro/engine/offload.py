"""Bounded CPU work of a run, done off the event loop in a daemon thread.

Used for what a run evaluates that can take longer than a few milliseconds: edge conditions
with `matches` patterns (RE2 searches up to 256 Ki characters and releases the GIL meanwhile).
Unlike asyncio.to_thread, nothing joins the thread at shutdown, so a search in flight never
delays SIGTERM; a cancelled caller simply stops waiting for it.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from fabro.engine import routing
from fabro.engine.outcome import Outcome
from fabro.workflow import conditions
from fabro.workflow.model import Edge, Graph

T = TypeVar("T")


async def select_edge(
    graph: Graph, node_id: str, outcome: Outcome, context: Mapping[str, Any]
) -> Edge | None:
    """routing.select_edge, off the loop when an outgoing condition may search a pattern."""
    if not any(conditions.may_take_time(edge.condition) for edge in graph.outgoing(node_id)):
        return routing.select_edge(graph, node_id, outcome, context)
    snapshot = dict(context)  # the thread reads a copy, never a dict the loop goes on changing
    return await off_loop(lambda: routing.select_edge(graph, node_id, outcome, snapshot))


async def condition_holds(
    text: str, outcome_fields: Mapping[str, object], context: Mapping[str, object]
) -> bool:
    """conditions.condition_holds, off the loop when ``text`` may search a pattern."""
    if not conditions.may_take_time(text):
        return conditions.condition_holds(text, outcome_fields, context)
    snapshot = dict(context)
    return await off_loop(lambda: conditions.condition_holds(text, outcome_fields, snapshot))


async def off_loop(work: Callable[[], T]) -> T:
    """The result of ``work()`` (or its exception), computed in a daemon thread of its own."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def run() -> None:
        try:
            result = work()
        except BaseException as exc:
            _deliver(loop, future, functools.partial(future.set_exception, exc))
        else:
            _deliver(loop, future, functools.partial(future.set_result, result))

    threading.Thread(target=run, name="fabro-off-loop", daemon=True).start()
    return await future


def _deliver(
    loop: asyncio.AbstractEventLoop, future: asyncio.Future[T], settle: Callable[[], None]
) -> None:
    def settle_unless_done() -> None:
        if not future.done():  # the caller was cancelled meanwhile
            settle()

    try:
        loop.call_soon_threadsafe(settle_unless_done)
    except RuntimeError:  # the loop closed while the work ran: nobody waits any more
        pass
