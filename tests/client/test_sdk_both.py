"""One scenario table through both clients against a real `fabro serve`: the methods that
follow, wait and cancel many (stream_run_events, stream_session_events, stream_events,
wait_for_run, cancel_runs) give the same outcome on FabroClient and AsyncFabroClient, since
both drive the same programs (fabro/client/core.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from fabro.client import FabroClient
from fabro.client.errors import FabroApiError
from tests.client.conftest import SLOW
from tests.client.sides import AsyncSide, Side, SyncSide
from tests.e2e.serverproc import ServerProcess

SHORT = """digraph Short {
  start [shape=Mdiamond]
  a [shape=parallelogram, script="echo a"]
  b [shape=parallelogram, script="echo b"]
  exit [shape=Msquare]
  start -> a -> b -> exit
}"""
LAST = "WorkflowRunCompleted"


def outcome(action: Callable[[], Any]) -> Any:
    """What ``action`` returns, or the name of the error it raised."""
    try:
        return action()
    except (FabroApiError, TimeoutError) as exc:
        return type(exc).__name__


def ended(side: Side) -> str:
    run_id: str = side.call("start_run", SHORT).id
    assert side.call("wait_for_run", run_id, timeout=30).status == "completed"
    return run_id


def follows_a_run(side: Side) -> Any:
    events = side.take("stream_run_events", side.call("start_run", SHORT).id, timeout=30)
    seqs = [event.seq for event in events]
    return seqs == list(range(1, len(seqs) + 1)), events[-1].variant


def resumes_after_a_seq(side: Side) -> Any:
    events = side.take("stream_run_events", ended(side), after=2)
    return events[0].seq, events[-1].variant


def an_unknown_runs_events(side: Side) -> Any:
    return outcome(lambda: side.take("stream_run_events", "nope"))


def waits_for_the_end(side: Side) -> Any:
    run_id = side.call("start_run", SHORT).id
    return side.call("wait_for_run", run_id, timeout=30).status


def a_wait_that_times_out(side: Side) -> Any:
    run_id = side.call("start_run", SLOW).id
    try:
        return outcome(lambda: side.call("wait_for_run", run_id, timeout=0.3))
    finally:
        side.call("cancel_run", run_id)


def waits_for_an_unknown_run(side: Side) -> Any:
    return outcome(lambda: side.call("wait_for_run", "nope", timeout=10))


def cancels_a_repeated_id_once(side: Side) -> Any:
    run_id = side.call("start_run", SLOW).id
    results = side.call("cancel_runs", [run_id, run_id, "nope"])
    return {
        "run" if key == run_id else key: (
            type(value).__name__ if isinstance(value, FabroApiError) else value.status
        )
        for key, value in results.items()
    }


def cancels_a_run_already_over(side: Side) -> Any:
    run_id = ended(side)
    [refused] = side.call("cancel_runs", iter([run_id])).values()  # any iterable
    return type(refused).__name__


def follows_one_run_in_every_runs_stream(side: Side) -> Any:
    run_id = ended(side)
    events = side.take("stream_events", run=run_id, until=lambda e: e.event.variant == LAST)
    positions = [event.position for event in events]
    return (
        {event.run_id for event in events} == {run_id},
        positions == sorted(set(positions)),
        [event.event.seq for event in events] == list(range(1, len(events) + 1)),
    )


def a_quiet_stream_times_out(side: Side) -> Any:
    return outcome(lambda: side.take("stream_events", run="no-such-run", timeout=0.5))


def follows_and_resumes_a_session(side: Side) -> Any:
    session_id = side.call("create_session", "How do I add a stage?").id
    first = side.take("stream_session_events", session_id, until=lambda e: e.event == "done")
    side.call("send_message", session_id, "And a gate?")
    after = side.take(
        "stream_session_events",
        session_id,
        after=first[-1].seq,
        until=lambda e: e.event == "done",
    )
    return (
        [event.seq for event in first] == list(range(len(first))),
        first[-1].event,
        after[0].seq == first[-1].seq + 1,
        after[-1].event,
    )


@dataclass(frozen=True)
class Scenario:
    act: Callable[[Side], Any]
    expected: Any

    def __str__(self) -> str:
        return self.act.__name__


SCENARIOS = [
    Scenario(follows_a_run, (True, LAST)),
    Scenario(resumes_after_a_seq, (3, LAST)),
    Scenario(an_unknown_runs_events, "NotFoundError"),
    Scenario(waits_for_the_end, "completed"),
    Scenario(a_wait_that_times_out, "TimeoutError"),
    Scenario(waits_for_an_unknown_run, "NotFoundError"),
    Scenario(cancels_a_repeated_id_once, {"run": "cancelled", "nope": "NotFoundError"}),
    Scenario(cancels_a_run_already_over, "ConflictError"),
    Scenario(follows_one_run_in_every_runs_stream, (True, True, True)),
    Scenario(a_quiet_stream_times_out, "TimeoutError"),
    Scenario(follows_and_resumes_a_session, (True, "done", True, "done")),
]


@pytest.fixture(scope="module")
def sides(server: ServerProcess, token: str) -> Iterator[list[Side]]:
    blocking = FabroClient(server.url, token=token, env={})
    awaiting = AsyncSide(server.url, token)
    yield [SyncSide(blocking), awaiting]
    awaiting.close()
    blocking.close()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_both_clients_give_the_same_outcome(sides: list[Side], scenario: Scenario) -> None:
    outcomes = {side.name: scenario.act(side) for side in sides}
    assert outcomes == {side.name: scenario.expected for side in sides}
