"""The single write path: WAL, pragmas, migrations, atomic transactions, many writers."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from fabro.clock import now_ts
from fabro.storage import checkpoints, events, runs, sessions, stages
from fabro.storage.db import Database
from fabro.storage.migrate import MIGRATIONS, SCHEMA_VERSION, split_statements
from fabro.storage.records import NewEvent
from fabro.storage.writer import GROUP_LIMIT, WriteTx
from tests.storage.rows import make_run


async def test_a_version_2_database_keeps_its_runs_graphs_after_migration(tmp_path: Path) -> None:
    # Version 3 moved the DOT source and prepared graph out of the runs row (run_graphs).
    path = tmp_path / "fabro.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for version, sql in MIGRATIONS[:2]:
        for statement in split_statements(sql):
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {version}")
    conn.execute(
        "INSERT INTO runs (id, status, title, graph_name, dot_source, prepared_graph, created_at,"
        " updated_at) VALUES ('R1', 'running', 't', 'G', 'digraph G { a }', '{\"nodes\": [1]}',"
        " '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')"
    )
    conn.close()
    db = await Database.open(path)
    try:
        run = await runs.get_run(db, "R1")
        assert run is not None and run.status == "running"
        assert (run.dot_source, run.prepared_graph) == ("digraph G { a }", {"nodes": [1]})
        columns = [row[1] for row in await db.fetchall("PRAGMA table_info(runs)")]
        assert "dot_source" not in columns and "prepared_graph" not in columns
        assert [r.id for r in await runs.runs_with_status(db, ["running"])] == ["R1"]
    finally:
        await db.close()


def _database_at_version(path: Path, version: int) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    for number, sql in MIGRATIONS:
        if number > version:
            break
        for statement in split_statements(sql):
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {number}")
    return conn


LOG_TABLES = ("run_events", "stage_turns", "checkpoint_log", "session_turns", "session_events")


async def test_a_version_4_database_keeps_its_logs_in_rowid_tables(tmp_path: Path) -> None:
    # Version 5 rebuilt the tables of appended text rows without WITHOUT ROWID.
    path = tmp_path / "fabro.db"
    conn = _database_at_version(path, 4)
    ts = "2026-01-01T00:00:00Z"
    conn.executescript(
        f"""
        INSERT INTO runs (id, status, title, graph_name, created_at, updated_at)
            VALUES ('R1', 'running', 't', 'G', '{ts}', '{ts}');
        INSERT INTO run_events (run_id, seq, ts, variant, payload)
            VALUES ('R1', 1, '{ts}', 'RunQueued', '{{"RunQueued": {{}}}}'),
                   ('R1', 2, '{ts}', 'Prompt', '{{"Prompt": {{"stage": "a", "text": "hi"}}}}');
        INSERT INTO stages (run_id, stage_id, node_id, name, visit, ordinal, stage_index,
                            status, started_at, model)
            VALUES ('R1', 'a', 'a', 'a', 1, 0, 0, 'running', '{ts}', NULL);
        INSERT INTO stage_turns (run_id, stage_id, n, kind, content, created_at)
            VALUES ('R1', 'a', 1, 'system', 'the prompt', '{ts}');
        INSERT INTO checkpoints (run_id, data, updated_at, incremental)
            VALUES ('R1', '{{"current_node": "a"}}', '{ts}', 2);
        INSERT INTO checkpoint_log (run_id, seq, changes, log_bytes, base_bytes)
            VALUES ('R1', 1, '{{"head": {{"timestamp": "{ts}", "current_node": "a"}},
                    "maps": {{"context_values": {{"k": "v"}}}}, "lists": {{}}, "replaced": []}}',
                    10, 10);
        INSERT INTO sessions (id, title, model, created_at, updated_at)
            VALUES ('S1', 't', 'm', '{ts}', '{ts}');
        INSERT INTO session_turns (session_id, n, kind, content, created_at)
            VALUES ('S1', 1, 'user', 'hello', '{ts}');
        INSERT INTO session_events (session_id, seq, event, data, created_at)
            VALUES ('S1', 0, 'message', '{{}}', '{ts}');
        """
    )
    conn.close()
    db = await Database.open(path)
    try:
        stored = await events.events_after(db, "R1", 0)
        assert [e.variant for e in stored] == ["RunQueued", "Prompt"]
        assert [t.content for t in await stages.list_turns(db, "R1", "a")] == ["the prompt"]
        loaded = await checkpoints.load(db, "R1")
        assert loaded is not None and loaded[0]["context_values"] == {"k": "v"}
        assert [t.content for t in await sessions.list_turns(db, "S1")] == ["hello"]
        assert [e.event for e in await sessions.events_after(db, "S1", -1, limit=10)] == ["message"]
        for table in LOG_TABLES:
            sql = await db.fetchone("SELECT sql FROM sqlite_master WHERE name = ?", [table])
            assert sql is not None and "WITHOUT ROWID" not in sql[0], table
        # What was the primary key is still unique.
        with pytest.raises(sqlite3.IntegrityError):
            await db.write(
                lambda tx: tx.execute(
                    "INSERT INTO run_events (run_id, seq, ts, variant, payload)"
                    " VALUES ('R1', 2, 'x', 'Prompt', '{}')"
                )
            )
    finally:
        await db.close()


PRAGMA_VALUES = {"journal_mode": "wal", "foreign_keys": 1, "synchronous": 1, "busy_timeout": 5000}


async def test_pragmas_are_set_on_every_connection(db: Database) -> None:
    for name, value in PRAGMA_VALUES.items():
        assert (await db.fetchone(f"PRAGMA {name}"))[0] == value  # type: ignore[index]
        in_writer = await db.write(lambda tx, name=name: tx.fetchone(f"PRAGMA {name}"))
        assert in_writer is not None and in_writer[0] == value  # synchronous 1 = NORMAL


async def test_migrations_run_once_and_are_idempotent_on_restart(tmp_path: Path) -> None:
    path = tmp_path / "fabro.db"
    first = await Database.open(path)
    await first.write(lambda tx: runs.insert_run(tx, make_run("R1")))
    await first.close()
    second = await Database.open(path)
    try:
        assert (await second.fetchone("PRAGMA user_version"))[0] == SCHEMA_VERSION  # type: ignore[index]
        assert await second.migrate() == SCHEMA_VERSION
        assert (await runs.get_run(second, "R1")) is not None  # data kept, tables not recreated
    finally:
        await second.close()


async def test_failed_transaction_leaves_no_partial_rows(db: Database) -> None:
    def boom(tx: WriteTx) -> None:
        runs.insert_run(tx, make_run("R1"))
        events.append_events(tx, "R1", [NewEvent.of({"RunQueued": {}})], now_ts())
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await db.write(boom)
    assert await runs.get_run(db, "R1") is None
    assert await events.events_after(db, "R1", 0) == []


async def test_constraint_violation_rolls_back_the_whole_transaction(db: Database) -> None:
    def violate(tx: WriteTx) -> None:
        runs.insert_run(tx, make_run("R1"))
        # an event for a run that does not exist violates the foreign key
        events.append_events(tx, "missing", [NewEvent.of({"RunQueued": {}})], now_ts())

    with pytest.raises(sqlite3.IntegrityError):
        await db.write(violate)
    assert await runs.get_run(db, "R1") is None


async def test_a_cancelled_caller_never_leaves_a_half_transaction(db: Database) -> None:
    started = threading.Event()
    release = threading.Event()

    def slow(tx: WriteTx) -> None:
        runs.insert_run(tx, make_run("R1"))
        started.set()
        release.wait(5)
        runs.insert_run(tx, make_run("R2"))

    task = asyncio.create_task(db.write(slow))
    await asyncio.to_thread(started.wait, 5)
    task.cancel()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The transaction ran to its end in the writer thread: both rows or none, never one.
    assert (await runs.get_run(db, "R1") is None) == (await runs.get_run(db, "R2") is None)
    await db.write(lambda tx: runs.insert_run(tx, make_run("R3")))  # the path is usable
    assert await runs.get_run(db, "R3") is not None


async def test_many_concurrent_writers_never_see_database_locked(tmp_path: Path) -> None:
    # Two Database objects on one file behave like two processes: they contend for the
    # SQLite write lock, not just for our asyncio lock.
    one = await Database.open(tmp_path / "fabro.db")
    two = await Database.open(tmp_path / "fabro.db")
    try:
        await one.write(lambda tx: runs.insert_run(tx, make_run("R")))

        async def append(db: Database, n: int) -> None:
            event = NewEvent.of({"Prompt": {"stage": str(n), "text": ""}})
            for _ in range(10):
                await db.write(lambda tx: events.append_events(tx, "R", [event], now_ts()))

        await asyncio.gather(*(append(one if n % 2 else two, n) for n in range(40)))
        stored = await events.events_after(one, "R", 0, limit=10_000)
        assert [e.seq for e in stored] == list(range(1, 401))  # gap-free, no duplicates
    finally:
        await one.close()
        await two.close()


async def test_reads_see_committed_writes_only(db: Database) -> None:
    inserted = threading.Event()
    release = threading.Event()

    def insert(tx: WriteTx) -> None:
        runs.insert_run(tx, make_run("R1"))
        inserted.set()
        release.wait(5)

    task = asyncio.create_task(db.write(insert))
    await asyncio.to_thread(inserted.wait, 5)
    assert await runs.get_run(db, "R1") is None  # the reader sees the last commit only
    release.set()
    await task
    assert await runs.get_run(db, "R1") is not None


async def test_close_is_idempotent(tmp_path: Path) -> None:
    database = await Database.open(tmp_path / "x.db")
    await database.close()
    await database.close()
    with pytest.raises(RuntimeError):
        await database.write(lambda tx: None)


async def test_in_memory_database_works(tmp_path: Path) -> None:
    database = await Database.open(":memory:")
    try:
        await database.write(lambda tx: runs.insert_run(tx, make_run("R1")))
        assert await runs.get_run(database, "R1") is not None
    finally:
        await database.close()


async def test_a_read_after_a_commit_sees_it_under_concurrent_readers(db: Database) -> None:
    # Readers share one connection. A statement left open across an await (a cursor fetched in
    # several steps) would pin that connection's snapshot while other readers keep it busy, so a
    # read issued after a commit could miss it. Every read must therefore be a single hop.
    stop = asyncio.Event()

    async def reader() -> None:
        while not stop.is_set():
            await db.fetchall("SELECT id FROM runs")
            await db.fetchone("SELECT count(*) FROM runs")

    readers = [asyncio.create_task(reader()) for _ in range(20)]
    try:
        for n in range(30):
            run_id = f"R{n}"
            await db.write(lambda tx, run_id=run_id: runs.insert_run(tx, make_run(run_id)))
            assert await runs.get_run(db, run_id) is not None, f"read after commit missed {run_id}"
            row = await db.fetchone("SELECT count(*) FROM runs")
            assert row is not None and row[0] == n + 1
    finally:
        stop.set()
        await asyncio.gather(*readers)


# ---- group commit --------------------------------------------------------------------------------


async def test_writes_queued_together_share_one_commit_in_order(db: Database) -> None:
    await db.write(lambda tx: runs.insert_run(tx, make_run("R1")))
    transactions = 0
    begin = db._writer.begin

    def counting_begin() -> None:
        nonlocal transactions
        transactions += 1
        begin()

    db._writer.begin = counting_begin  # type: ignore[method-assign]

    def event(n: int) -> Callable[[WriteTx], int]:
        def write(tx: WriteTx) -> int:
            events.append_events(tx, "R1", [NewEvent.of({"RunQueued": {"n": n}})], now_ts())
            return n

        return write

    futures = [db.submit(event(n)) for n in range(5)]  # queued before the loop's next turn
    assert await asyncio.gather(*futures) == [0, 1, 2, 3, 4]
    assert transactions == 1
    stored = await events.events_after(db, "R1", 0)
    assert [e.payload["RunQueued"]["n"] for e in stored] == [0, 1, 2, 3, 4]
    assert [e.seq for e in stored] == [1, 2, 3, 4, 5]


async def test_a_failing_write_never_takes_the_others_of_its_group(db: Database) -> None:
    def boom(tx: WriteTx) -> None:
        runs.insert_run(tx, make_run("R2"))
        raise RuntimeError("boom")

    first = db.submit(lambda tx: runs.insert_run(tx, make_run("R1")))
    second = db.submit(boom)
    third = db.submit(lambda tx: runs.insert_run(tx, make_run("R3")))
    await first
    with pytest.raises(RuntimeError, match="boom"):
        await second
    await third
    assert await runs.get_run(db, "R1") is not None and await runs.get_run(db, "R3") is not None
    assert await runs.get_run(db, "R2") is None


async def test_a_read_on_the_write_path_sees_the_writes_queued_before_it(db: Database) -> None:
    db.submit(lambda tx: runs.insert_run(tx, make_run("R1")))
    row = await db.write(lambda tx: tx.fetchone("SELECT COUNT(*) FROM runs"))
    assert row is not None and row[0] == 1


async def test_close_finishes_the_writes_queued_before_it(tmp_path: Path) -> None:
    path = tmp_path / "fabro.db"
    database = await Database.open(path)
    queued = database.submit(lambda tx: runs.insert_run(tx, make_run("R1")))
    await database.close()
    assert queued.done() and queued.exception() is None
    reopened = await Database.open(path)
    try:
        assert await runs.get_run(reopened, "R1") is not None
    finally:
        await reopened.close()


async def test_more_writes_than_a_group_all_commit(db: Database) -> None:
    await db.write(lambda tx: runs.insert_run(tx, make_run("R1")))
    futures = [
        db.submit(
            lambda tx, n=n: events.append_events(tx, "R1", [NewEvent.of({"X": {"n": n}})], now_ts())
        )
        for n in range(GROUP_LIMIT * 2 + 3)
    ]
    await asyncio.gather(*futures)
    assert await events.last_seq(db, "R1") == GROUP_LIMIT * 2 + 3


async def test_a_deferred_write_is_queued_before_any_write_made_after_it(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "fabro.db")
    order: list[str] = []
    held: list[asyncio.Future[None]] = []

    def queue_held() -> None:  # what the engine's recorder does with a batch it holds back
        held.append(db.submit(lambda tx: order.append("held")))

    db.defer(queue_held)
    await db.write(lambda tx: order.append("later"))
    await held[0]
    assert order == ["held", "later"]

    db.defer(lambda: held.append(db.submit(lambda tx: runs.insert_run(tx, make_run("R1")))))
    await db.close()  # a held-back write is a write made before the close
    await held[1]
    reopened = await Database.open(tmp_path / "fabro.db")
    try:
        assert await runs.get_run(reopened, "R1") is not None
    finally:
        await reopened.close()


async def test_change_counts_go_up_once_a_write_commits(db: Database) -> None:
    def changes(tx: WriteTx) -> None:
        tx.changed("steering")
        tx.execute("INSERT INTO runs_probe VALUES (1)")

    await db.write(lambda tx: tx.execute("CREATE TABLE runs_probe (x)"))
    assert db.change_count("steering") == 0
    await db.write(changes)
    assert db.change_count("steering") == 1

    def fails(tx: WriteTx) -> None:
        tx.changed("steering")
        raise ValueError("rolled back")

    with pytest.raises(ValueError):
        await db.write(fails)
    assert db.change_count("steering") == 1  # rolled back: nothing changed
    # Queued together (one group commit), and a group that one write fails (each runs again).
    await asyncio.gather(db.submit(changes), db.submit(lambda tx: None))
    assert db.change_count("steering") == 2
    results = await asyncio.gather(db.submit(changes), db.submit(fails), return_exceptions=True)
    assert isinstance(results[1], ValueError)
    assert db.change_count("steering") == 3
    assert db.change_count("other") == 0
