"""`fabro receipts list|show|verify` as real processes against a real `fabro serve`, and a
receipt row tampered with by someone holding the database file (sqlite3, triggers dropped):
`verify` finds it through the server and in the data directory directly, before and after the
server stops, and names the entry."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.receipts_helpers import Seed, seed
from tests.cli_server import CliServer, cli_server

NO_PROVIDER = {"ANTHROPIC_API_KEY": "", "OPENAI_API_KEY": "", "OPENAI_BASE_URL": ""}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliServer]:
    with cli_server(tmp_path_factory.mktemp("receipts-cli"), "receipts", NO_PROVIDER) as served:
        yield served


@pytest.fixture(scope="module")
def ids(served: CliServer) -> list[str]:
    """Three receipts seeded in the server's database, oldest first."""
    return seed(
        served.data / "fabro.db",
        [
            Seed("R1", "command", "ALLOW", "2026-03-01T10:00:00.000Z", "applied"),
            Seed("R1", "shell", "BLOCK", "2026-03-02T10:00:00.000Z", "refused", "git push"),
            Seed("R2", "command", "APPROVE", "2026-03-03T10:00:00.000Z", None, "make deploy"),
        ],
    )


def test_list_prints_a_table_newest_first_and_filters(served: CliServer, ids: list[str]) -> None:
    listed = served.fabro("list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == [
        "ID",
        "STARTED",
        "RUN",
        "STAGE",
        "KIND",
        "DECISION",
        "OUTCOME",
        "ACTION",
    ]
    assert [line.split()[0] for line in lines[1:]] == ids[::-1]
    assert "(no end)" in lines[1] and lines[1].endswith("make deploy")
    blocked = served.fabro("list", "--decision", "block", "--json")
    assert [item["id"] for item in json.loads(blocked.stdout)] == [ids[1]]
    run = served.fabro("list", "--run", "R1", "--limit", "1", "--json")
    assert run.returncode == 1 and "Run not found" in run.stderr  # R1 is no run of this server
    bad = served.fabro("list", "--kind", "teleport")
    assert bad.returncode == 2 and "'kind' must be one of" in bad.stderr


def test_show_prints_every_field_of_a_receipt(served: CliServer, ids: list[str]) -> None:
    shown = served.fabro("show", ids[2])
    assert shown.returncode == 0, shown.stderr
    assert f"id: {ids[2]}" in shown.stdout.splitlines()
    assert "action: make deploy" in shown.stdout
    assert "outcome: (no end: the action began and never ended)" in shown.stdout
    as_json = json.loads(served.fabro("show", ids[1], "--json").stdout)
    assert (as_json["decision"], as_json["outcome"]) == ("BLOCK", "refused")
    missing = served.fabro("show", "nope")
    assert missing.returncode == 1 and "Receipt not found" in missing.stderr


def test_a_tampered_row_is_found_by_verify_through_the_server_and_directly(
    served: CliServer,
    ids: list[str],
) -> None:
    intact = served.fabro("verify")
    assert intact.returncode == 0, intact.stderr
    assert intact.stdout.startswith("ok: 5 entries intact; head: entry 5 ")
    assert served.fabro("verify", "--data-dir", str(served.data)).returncode == 0

    # As anyone holding the file could: drop the trigger, make the blocked push look allowed.
    conn = sqlite3.connect(served.data / "fabro.db", isolation_level=None)
    try:
        conn.execute("DROP TRIGGER receipt_entries_no_update")
        changed = conn.execute(
            "UPDATE receipt_entries SET body = replace(body, '\"BLOCK\"', '\"ALLOW\"')"
            " WHERE receipt_id = ? AND entry = 'began'",
            [ids[1]],
        ).rowcount
        assert changed == 1
    finally:
        conn.close()

    expected = (
        "error: receipts tampered with at entry 3 (edited): entry 3 was changed after it was"
        " written; 2 entries before it are intact"
    )
    for args in ((), ("--data-dir", str(served.data)), ("--json",)):
        found = served.fabro("verify", *args)
        assert found.returncode == 1, (args, found.stdout, found.stderr)
        if "--json" in args:
            assert json.loads(found.stdout)["bad_seq"] == 3
        else:
            assert found.stderr.strip() == expected
    from_env = served.fabro("verify", env={"FABRO_DATA_DIR": str(served.data)})
    assert from_env.returncode == 1 and "entry 3" in from_env.stderr

    served.server.stop()  # a stopped server's data directory is checked all the same
    stopped = served.fabro("verify", "--data-dir", str(served.data))
    assert stopped.returncode == 1 and stopped.stderr.strip() == expected


def test_verify_of_a_directory_without_a_database_says_so(
    tmp_path: Path, served: CliServer
) -> None:
    result = served.fabro("verify", "--data-dir", str(tmp_path))
    assert (result.returncode, result.stderr.strip()) == (
        1,
        f"error: no database at {tmp_path / 'fabro.db'}",
    )
