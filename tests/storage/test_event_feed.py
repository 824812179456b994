"""Every run's events in one order: read after a position, filtered by run, workflow, label and
variant, each read looking at a bounded window of positions."""

from __future__ import annotations

from dataclasses import replace

import pytest

from fabro.storage import event_feed
from fabro.storage.db import Database
from fabro.storage.event_feed import EventFeed, FeedFilter
from fabro.storage.events import append_events
from fabro.storage.records import NewEvent
from fabro.storage.sqlite_store import SqliteStore
from tests.storage.rows import make_run


def queued(_position: int) -> NewEvent:
    return NewEvent("RunQueued", {"RunQueued": {}})


async def seeded(db: Database) -> None:
    """Runs A (workflow deploy, team red) and B (team blue); their events interleaved."""
    store = SqliteStore(db)
    await store.create_run(
        replace(make_run("A"), workflow_slug="deploy", labels={"team": "red", "env": "prod"}),
        queued,
    )
    await store.create_run(replace(make_run("B"), labels={"team": "blue"}), queued)
    for run_id in ("A", "B", "A"):
        stage = NewEvent("StageStarted", {"StageStarted": {"node_id": run_id}})
        await db.write(lambda tx, r=run_id, e=stage: append_events(tx, r, [e], "t"))


async def everything(feed: EventFeed, match: FeedFilter, after: int = 0) -> list[tuple[str, int]]:
    head = await feed.head()
    found: list[tuple[str, int]] = []
    while after < head:
        read = await feed.read(after, match, limit=2, head=head)
        found += [(item.event.run_id, item.event.seq) for item in read.events]
        assert read.through > after
        after = read.through
    return found


async def test_events_come_in_commit_order_with_their_global_position(db: Database) -> None:
    await seeded(db)
    feed = EventFeed(db)
    assert await feed.head() == 5
    read = await feed.read(0, FeedFilter(), limit=100, head=5)
    assert [item.seq for item in read.events] == [1, 2, 3, 4, 5]
    assert [(i.event.run_id, i.event.seq, i.event.variant) for i in read.events] == [
        ("A", 1, "RunQueued"),
        ("B", 1, "RunQueued"),
        ("A", 2, "StageStarted"),
        ("B", 2, "StageStarted"),
        ("A", 3, "StageStarted"),
    ]
    assert read.events[2].event.payload == {"StageStarted": {"node_id": "A"}}
    assert await everything(feed, FeedFilter(), after=3) == [("B", 2), ("A", 3)]


@pytest.mark.parametrize(
    ("match", "expected"),
    [
        (FeedFilter(run_id="B"), [("B", 1), ("B", 2)]),
        (FeedFilter(workflow="deploy"), [("A", 1), ("A", 2), ("A", 3)]),
        (FeedFilter(labels=(("team", "blue"),)), [("B", 1), ("B", 2)]),
        (FeedFilter(labels=(("team", "red"), ("env", "prod"))), [("A", 1), ("A", 2), ("A", 3)]),
        (FeedFilter(labels=(("team", "red"), ("env", "dev"))), []),
        (FeedFilter(variants=frozenset({"RunQueued"})), [("A", 1), ("B", 1)]),
        (FeedFilter(run_id="A", variants=frozenset({"StageStarted"})), [("A", 2), ("A", 3)]),
    ],
)
async def test_filters(db: Database, match: FeedFilter, expected: list[tuple[str, int]]) -> None:
    await seeded(db)
    assert await everything(EventFeed(db), match) == expected


async def test_a_read_looks_at_a_bounded_window(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seeded(db)
    monkeypatch.setattr(event_feed, "SCAN_ROWS", 2)
    feed = EventFeed(db)
    read = await feed.read(0, FeedFilter(run_id="B", variants=frozenset({"StageStarted"})),
                           limit=10, head=5)  # fmt: skip
    assert (read.events, read.through) == ([], 2)  # nothing in 1..2: it goes on from 2
    later = await feed.read(2, FeedFilter(run_id="B"), limit=10, head=5)
    assert [item.seq for item in later.events] == [4] and later.through == 4
