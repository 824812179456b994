"""Finding 6: a full disk answers 507, holds runs (never fails them) and loses no answer.

Two levels. In-process, SQLite's ``PRAGMA max_page_count`` on the writer connection makes
every write that needs a new page fail with SQLITE_FULL, as a full disk does, without root:
fast, deterministic coverage of the write path, the API and the run manager. End to end, a
real `fabro serve` keeps its data folder on a small tmpfs that the test fills with a file
(root only: skipped with the reason otherwise).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from quart.typing import TestClientProtocol as Client

from fabro.clock import now_ts
from fabro.engine.artifacts import ArtifactWriter
from fabro.engine.recorder import Recorder
from fabro.errors import InsufficientStorage
from fabro.events.redact import Redactor
from fabro.events.types import RunPaused, RunResumed
from fabro.services import Services
from fabro.storage import runs
from fabro.storage import writer as writer_module
from fabro.storage.db import Database
from fabro.storage.records import RunRecord
from fabro.storage.sqlite_store import SqliteStore
from fabro.storage.writer import WriteTx
from tests.api.runs_helpers import start, wait_for, wait_for_question
from tests.e2e.runs_support import jwt_server, start_run, wait_for_status, wait_until
from tests.storage.rows import make_run

# A comment this long needs overflow pages: a run with it never fits in the free bytes of
# the pages the database already has.
PADDING = "// " + "x" * 20_000 + "\n"


def output(size: int) -> str:
    """A script suffix printing ``size`` bytes: their output lands in the checkpoint, so its
    commit needs new pages whatever room the database's pages still have."""
    return f"; printf %0{size}d 0" if size else ""


def chain(stages: int, seconds: float, witness: Path | None = None, prints: int = 0) -> str:
    """``stages`` command stages in a row, each sleeping ``seconds`` (and noting its node)."""
    names = [f"n{i}" for i in range(1, stages + 1)]

    def script(name: str) -> str:
        return f"sleep {seconds}" + (f"; echo {name} >> {witness}" if witness else "")

    body = "\n".join(
        f'  {name} [shape=parallelogram, script="{script(name)}{output(prints)}"]' for name in names
    )
    return (
        "digraph Chain {\n  start [shape=Mdiamond]\n  exit [shape=Msquare]\n"
        f"{body}\n  {' -> '.join(['start', *names, 'exit'])}\n}}"
    )


def gated(after_s: float, witness: Path | None = None, prints: int = 0) -> str:
    """A human gate; its "yes" edge leads to a command that takes ``after_s``."""
    note = (f"; echo ship >> {witness}" if witness else "") + output(prints)
    return f"""digraph Gated {{
  start [shape=Mdiamond]
  approve [shape=hexagon, label="Ship it?"]
  ship [shape=parallelogram, script="sleep {after_s}{note}"]
  exit [shape=Msquare]
  start -> approve
  approve -> ship [label="[Y] Yes"]
  approve -> exit [label="[N] No"]
  ship -> exit
}}"""


# ---- in-process: SQLITE_FULL from max_page_count -------------------------------------------


async def fill(db: Database) -> None:
    """From now on, a write that needs one more page of the database fails: SQLITE_FULL."""

    def cap(tx: WriteTx) -> None:
        row = tx.fetchone("PRAGMA page_count")
        assert row is not None
        tx.execute(f"PRAGMA max_page_count = {int(row[0])}")

    await db.write(cap)


async def free(db: Database) -> None:
    await db.write(lambda tx: tx.execute("PRAGMA max_page_count = 1073741823"))


def big_run(run_id: str) -> RunRecord:
    ts = now_ts()
    return RunRecord(
        id=run_id,
        status="queued",
        title="t",
        graph_name="G",
        dot_source=PADDING + "digraph G {}",
        prepared_graph={"nodes": []},
        created_at=ts,
        updated_at=ts,
    )


async def integrity(db: Database) -> str:
    rows = await db.fetchall("PRAGMA integrity_check")
    return str(rows[0][0])


async def test_a_write_on_a_full_disk_is_refused_whole_and_the_writer_goes_on(
    tmp_path: Path,
) -> None:
    db = await Database.open(tmp_path / "fabro.db")
    try:
        await fill(db)
        with pytest.raises(InsufficientStorage) as refused:
            await db.write(lambda tx: runs.insert_run(tx, big_run("alone")))
        assert refused.value.status == 507
        assert "disk full" in refused.value.detail
        # Writes queued together share a commit: each still gets its own outcome.
        grouped = [
            db.submit(lambda tx, n=n: runs.insert_run(tx, big_run(f"grouped{n}"))) for n in range(3)
        ]
        outcomes = await asyncio.gather(*grouped, return_exceptions=True)
        assert all(isinstance(outcome, InsufficientStorage) for outcome in outcomes), outcomes
        await free(db)
        await db.write(lambda tx: runs.insert_run(tx, big_run("after")))
        stored = await db.fetchall("SELECT id FROM runs")
        assert [row[0] for row in stored] == ["after"]  # nothing of the refused writes
        assert await integrity(db) == "ok"
    finally:
        await db.close()


async def test_post_runs_on_a_full_disk_is_507_in_the_envelope(
    client: Client, auth_headers: dict[str, str], services: Services
) -> None:
    await fill(services.db)
    response = await client.post(
        "/runs", json={"dot_source": PADDING + chain(1, 0)}, headers=auth_headers
    )
    assert response.status_code == 507
    (error,) = (await response.get_json())["errors"]
    assert error["status"] == "507"
    assert error["title"] == "Insufficient Storage"
    assert "disk full" in error["detail"]
    listed = await (await client.get("/runs", headers=auth_headers)).get_json()
    assert listed["data"] == []
    await free(services.db)
    await start(client, auth_headers, PADDING + chain(1, 0))


async def test_runs_are_held_on_a_full_disk_and_go_on_by_themselves_once_space_is_back(
    client: Client, auth_headers: dict[str, str], services: Services
) -> None:
    manager = services.runs
    chained = (await start(client, auth_headers, chain(30, 0.05, prints=20_000)))["id"]
    gate = (await start(client, auth_headers, gated(0.3, prints=20_000)))["id"]
    question = await wait_for_question(client, auth_headers, gate)
    answered = await client.post(
        f"/runs/{gate}/questions/{question['id']}/answer",
        json={"selected_option_key": "Y"},
        headers=auth_headers,
    )
    assert answered.status_code == 204  # accepted: it is in SQLite
    await fill(services.db)

    deadline = asyncio.get_running_loop().time() + 10
    while manager.held != {chained, gate}:
        assert asyncio.get_running_loop().time() < deadline, manager.held
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)
    for run_id in (chained, gate):  # held, not failed: nothing could be written, not even that
        body = await (await client.get(f"/runs/{run_id}", headers=auth_headers)).get_json()
        assert body["status"] == "running", body
    assert manager.held == {chained, gate}

    await free(services.db)
    for run_id in (chained, gate):
        done = await wait_for(client, auth_headers, run_id, {"completed", "failed"}, limit_s=20)
        assert done["status"] == "completed", done
    assert manager.held == set()
    stages = await services.db.fetchall(
        "SELECT node_id, status FROM stages WHERE run_id = ? ORDER BY stage_index", [gate]
    )
    assert [tuple(row) for row in stages] == [
        ("start", "completed"),
        ("approve", "completed"),
        ("ship", "completed"),  # the accepted answer was applied
        ("exit", "completed"),
    ]
    assert await integrity(services.db) == "ok"


async def test_artifacts_that_meet_a_full_disk_are_skipped_and_the_writer_goes_on(
    tmp_path: Path,
) -> None:
    writer = ArtifactWriter()
    writer.write("/dev/full", "no space for this")  # ENOSPC on write
    writer.write(tmp_path / "nodes" / "a" / "prompt.md", "kept")
    await writer.flush()
    assert (tmp_path / "nodes" / "a" / "prompt.md").read_text(encoding="utf-8") == "kept"


# ---- end to end: a real server whose data folder is on a tmpfs that fills up ---------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs mounted for this test (root only), unmounted in teardown."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; the in-process tests cover the write path")
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip() or mounted.returncode}")
    try:
        yield folder
    finally:
        if subprocess.run(["umount", str(folder)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(folder)], check=False)


def fill_up(folder: Path) -> Path:
    """Write a file until the file system has no byte left."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as file:
        for chunk in (1 << 20, 4096, 512, 1):
            data = b"\0" * chunk
            with contextlib.suppress(OSError):
                while True:
                    file.write(data)
    probe = folder / "probe"
    with pytest.raises(OSError) as full, probe.open("wb", buffering=0) as file:
        file.write(b"\0" * 4096)
    assert full.value.errno == errno.ENOSPC
    probe.unlink()
    return filler


def running_run(run_id: str) -> RunRecord:
    return replace(make_run(run_id), status="running")


async def test_the_writes_queued_after_one_the_full_disk_refused_are_refused_too(
    small_disk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk shows at COMMIT (the WAL cannot grow), after the write's statements ran.
    The writes of the run queued behind it must fail too, even when there is room again by
    the time they run: a stage never has a later one's rows stored without its own."""
    monkeypatch.setattr(writer_module, "GROUP_LIMIT", 1)  # one COMMIT per write, to see each fail
    db = await Database.open(small_disk / "fabro.db")
    try:
        await db.write(lambda tx: runs.insert_run(tx, running_run("r")))
        recorder = Recorder(SqliteStore(db), "r", lambda record: None, Redactor(frozenset()))
        filler = fill_up(small_disk)
        await recorder.emit(RunResumed(run_id="r", reason="recovery"))  # its COMMIT fails
        freed = db.submit(lambda tx: filler.unlink())  # then there is room again
        await recorder.emit(RunPaused(run_id="r"))  # queued before the failure is known
        with pytest.raises(InsufficientStorage):
            await recorder.settle()
        await freed
        with pytest.raises(InsufficientStorage):  # and the recorder writes nothing more
            await recorder.emit(RunPaused(run_id="r"))
        assert await db.fetchall("SELECT seq FROM run_events WHERE run_id = 'r'") == []
        assert await integrity(db) == "ok"
    finally:
        await db.close()


def questions(http: httpx.Client, run_id: str) -> list[str]:
    return [q["id"] for q in http.get(f"/runs/{run_id}/questions").json()["data"]]


def answer(http: httpx.Client, run_id: str) -> httpx.Response:
    return http.post(f"/runs/{run_id}/questions/q-1/answer", json={"selected_option_key": "Y"})


def status_of(http: httpx.Client, run_id: str) -> str:
    body: dict[str, Any] = http.get(f"/runs/{run_id}").json()
    return str(body["status"])


def test_a_server_on_a_disk_that_fills_up_answers_507_holds_runs_and_completes_them(
    small_disk: Path, tmp_path: Path
) -> None:
    data = small_disk / "data"
    witnesses = [tmp_path / f"chain{i}.txt" for i in range(3)]
    shipped = [tmp_path / "shipped-before.txt", tmp_path / "shipped-during.txt"]
    server, token = jwt_server(None, tmp_path / "server", data)
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(server.stop)
        http = cleanup.enter_context(server.client(token=token))
        chains = [start_run(http, chain(20, 0.25, witness)) for witness in witnesses]
        early, late = (start_run(http, gated(1.0, witness)) for witness in shipped)
        for gate in (early, late):
            wait_until("a gate question", lambda g=gate: questions(http, g))
        wait_until("every chain to run", lambda: all(w.exists() for w in witnesses))
        answered = answer(http, early)
        assert answered.status_code == 204, answered.text  # accepted before the disk fills
        filler = fill_up(small_disk)

        # Writes are refused with 507 (the WAL may first absorb a few: poll).
        def refused() -> httpx.Response | None:
            response = http.post("/runs", json={"dot_source": PADDING + chain(1, 0)})
            if response.status_code == 201:
                chains.append(response.json()["id"])  # accepted: must complete too
                return None
            return response

        response = wait_until("a write refused for lack of space", refused, timeout_s=10)
        assert response.status_code == 507, response.text
        (error,) = response.json()["errors"]
        assert error["title"] == "Insufficient Storage" and "disk full" in error["detail"]
        # A small write may still fit in log space the WAL already has (storage/wal.py starts
        # the log over after each checkpoint): then it is accepted, and so never lost.
        late_answer = answer(http, late)
        assert late_answer.status_code in (204, 507), late_answer.text

        # Held, not failed: every run stays running while the disk is full.
        wait_until(
            "the runs to be held",
            lambda: all(f"run {r} held" in server.stderr for r in [*chains[:3], early]),
            timeout_s=15,
        )
        for run_id in [*chains[:3], early, late]:  # (a run accepted meanwhile may be queued)
            assert status_of(http, run_id) == "running", run_id

        filler.unlink()
        if late_answer.status_code == 507:
            assert questions(http, late) == ["q-1"]  # the refused answer was not taken
            accepted = answer(http, late)
            assert accepted.status_code == 204, accepted.text
        else:
            assert questions(http, late) == []  # the accepted answer was kept
        for run_id in [*chains, early, late]:
            assert wait_for_status(http, run_id, {"completed", "failed"})["status"] == "completed"
    assert server.stop() == 0
    for witness in witnesses:
        assert witness.read_text().split()[-1] == "n20"
    for witness in shipped:  # each answer applied (the stage held mid-way runs again)
        assert set(witness.read_text().split()) == {"ship"}
    assert "Traceback" not in server.stderr, server.stderr
    with contextlib.closing(sqlite3.connect(data / "fabro.db")) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        answers = conn.execute(
            "SELECT run_id, status FROM questions WHERE run_id IN (?, ?)", [early, late]
        ).fetchall()
        assert sorted(answers) == sorted([(early, "answered"), (late, "answered")])
