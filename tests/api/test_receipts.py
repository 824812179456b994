"""Receipts over HTTP against a real `fabro serve`: listed newest first and filtered by run,
kind, decision and time (admin: an export), one fetched and a run's listed (viewer), the
chain's check (admin), and a 400 naming the parameter for a bad filter."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from fabro.auth.keys import ensure_key_pair, mint_token
from tests.api.envelope import assert_envelope
from tests.api.receipts_helpers import QUIET, Seed, seed
from tests.e2e.serverproc import ServerProcess, start_server

CONFIG = """\
[api]
authentication_strategies = ["jwt"]
[web.auth]
allowed_usernames = ["alice", "carol"]
[roles]
admin = ["alice"]
viewer = ["carol"]
"""
NO_PROVIDER = {"ANTHROPIC_API_KEY": "", "OPENAI_API_KEY": "", "OPENAI_BASE_URL": ""}
DEADLINE_S = 15.0


@dataclass
class Served:
    server: ServerProcess
    admin: httpx.Client
    viewer: httpx.Client
    run_id: str
    ids: list[str]  # the seeded receipts, oldest first


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("receipts")
    key = ensure_key_pair(workdir / "data" / "keys")
    server = start_server(workdir, config=CONFIG, env=NO_PROVIDER)
    try:
        tokens = {
            user: mint_token(key, subject=user, issuer="fabro-web", ttl_s=3600)
            for user in ("alice", "carol")
        }
        with (
            server.client(token=tokens["alice"]) as admin,
            server.client(token=tokens["carol"]) as viewer,
        ):
            run_id = _finished_run(admin)
            ids = seed(
                workdir / "data" / "fabro.db",
                [
                    Seed(run_id, "command", "ALLOW", "2026-03-01T10:00:00.000Z", "applied"),
                    Seed(run_id, "shell", "ALERT", "2026-03-02T10:00:00.000Z", "failed"),
                    Seed("R-other", "file_write", "BLOCK", "2026-03-03T10:00:00.000Z", "refused"),
                    Seed(run_id, "command", "APPROVE", "2026-03-04T10:00:00.000Z", None),
                ],
            )
            yield Served(server, admin, viewer, run_id, ids)
    finally:
        server.stop()


def _finished_run(http: httpx.Client) -> str:
    started = http.post("/runs", json={"dot_source": QUIET})
    assert started.status_code == 201, started.text
    run_id = str(started.json()["id"])
    deadline = time.monotonic() + DEADLINE_S
    while http.get(f"/runs/{run_id}").json()["status"] != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return run_id


def ids_of(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["data"]]


def test_receipts_are_listed_newest_first_with_every_field(served: Served) -> None:
    response = served.admin.get("/receipts")
    assert ids_of(response) == served.ids[::-1]
    assert response.json()["meta"] == {"has_more": False}
    blocked = response.json()["data"][1]
    assert blocked == {
        "id": served.ids[2],
        "seq": blocked["seq"],
        "run_id": "R-other",
        "stage_id": "work",
        "attempt": 1,
        "kind": "file_write",
        "action": "pytest -q",
        "decision": "BLOCK",
        "rule": "tests",
        "approver": None,
        "idempotency_key": "R-other/work/2",
        "started_at": "2026-03-03T10:00:00.000Z",
        "outcome": "refused",
        "exit_status": None,
        "result_digest": None,
        "ended_at": "2026-03-03T10:00:01.000Z",
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("kind=command", [3, 0]),
        ("decision=alert", [1]),
        ("decision=BLOCK&kind=file_write", [2]),
        ("since=2026-03-02T10:00:00Z", [3, 2, 1]),
        ("until=2026-03-02T10:00:00%2B00:00", [0]),
        ("since=2026-03-02T00:00:00Z&until=2026-03-04T00:00:00Z", [2, 1]),
        ("run=R-other", [2]),
        ("run=nothing", []),
    ],
)
def test_receipts_are_filtered(served: Served, query: str, expected: list[int]) -> None:
    assert ids_of(served.admin.get(f"/receipts?{query}")) == [served.ids[i] for i in expected]


def test_receipts_are_paged(served: Served) -> None:
    first = served.admin.get("/receipts?page[limit]=3")
    assert ids_of(first) == served.ids[:0:-1] and first.json()["meta"]["has_more"] is True
    rest = served.admin.get("/receipts?page[limit]=3&page[offset]=3")
    assert ids_of(rest) == served.ids[:1] and rest.json()["meta"]["has_more"] is False


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("kind=teleport", "Query parameter 'kind' must be one of: command, shell, file_write, "
         "file_read, network."),
        ("decision=maybe", "Query parameter 'decision' must be one of: ALLOW, ALERT, APPROVE, "
         "BLOCK, DEDUP."),
        ("since=yesterday", "Query parameter 'since' must be a date (YYYY-MM-DD) or an RFC "
         "3339 time (2026-12-01T10:00:00Z)."),
        ("until=2026-03-01T10:00:00", "Query parameter 'until' must be a date (YYYY-MM-DD) or "
         "an RFC 3339 time (2026-12-01T10:00:00Z)."),
        ("page[limit]=x", "Query parameter 'page[limit]' must be an integer."),
    ],
)  # fmt: skip
def test_a_bad_filter_is_a_400_naming_it(served: Served, query: str, detail: str) -> None:
    response = served.admin.get(f"/receipts?{query}")
    assert response.status_code == 400
    assert_envelope(response.json(), 400, detail)


def test_one_receipt_and_a_run_s_receipts_are_read_by_a_viewer(served: Served) -> None:
    pending = served.viewer.get(f"/receipts/{served.ids[3]}")
    assert pending.status_code == 200, pending.text
    assert (pending.json()["decision"], pending.json()["outcome"]) == ("APPROVE", None)
    run = served.viewer.get(f"/runs/{served.run_id}/receipts")
    assert ids_of(run) == [served.ids[0], served.ids[1], served.ids[3]]  # in the order begun
    paged = served.viewer.get(f"/runs/{served.run_id}/receipts?page[limit]=2&page[offset]=1")
    assert ids_of(paged) == [served.ids[1], served.ids[3]]
    assert paged.json()["meta"]["has_more"] is False


def test_unknown_receipts_and_runs_are_not_found(served: Served) -> None:
    missing = served.viewer.get("/receipts/01NOSUCHRECEIPT")
    assert missing.status_code == 404
    assert_envelope(missing.json(), 404, "Receipt not found.")
    no_run = served.viewer.get("/runs/01NOSUCHRUN/receipts")
    assert no_run.status_code == 404
    assert_envelope(no_run.json(), 404, "Run not found.")


def test_the_export_and_the_check_are_for_admins(served: Served) -> None:
    for path in ("/receipts", "/receipts/verify"):
        refused = served.viewer.get(path)
        assert refused.status_code == 403, path
        assert "admin" in refused.json()["errors"][0]["detail"]
    report: dict[str, Any] = served.admin.get("/receipts/verify").json()
    assert report["ok"] is True and report["entries_checked"] >= 7
    assert (report["bad_seq"], report["problem"], report["detail"]) == (None, None, None)
    assert len(report["head_hash"]) == 64
