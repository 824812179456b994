"""The SDK's receipts methods against a real `fabro serve` (receipts seeded into its database):
typed results, filters sent as the API names them, every page walked, the chain's report."""

from __future__ import annotations

import asyncio

import pytest

from fabro.api.bodies.receipts import Receipt, ReceiptChainReport
from fabro.client import AsyncFabroClient, FabroClient
from fabro.client.errors import BadRequestError, NotFoundError
from tests.api.receipts_helpers import Seed, seed
from tests.e2e.serverproc import ServerProcess


@pytest.fixture(scope="module")
def seeded(server: ServerProcess) -> list[str]:
    at = "2026-03-0{}T10:00:00.000Z"
    seeds = [Seed("R-sdk", "command", "ALLOW", at.format(n % 9 + 1), "applied") for n in range(24)]
    seeds.append(Seed("R-sdk", "shell", "BLOCK", at.format(9), "refused"))
    return seed(server.workdir / "data" / "fabro.db", seeds)


def test_receipts_are_listed_filtered_fetched_and_verified(
    fabro: FabroClient, seeded: list[str]
) -> None:
    everything = list(fabro.list_receipts(run="R-sdk"))  # 25: more than one page of 20
    assert [r.id for r in everything] == seeded[::-1]
    assert all(isinstance(r, Receipt) for r in everything)
    blocked = list(fabro.list_receipts(decision="BLOCK", kind="shell"))
    assert [(r.id, r.outcome) for r in blocked] == [(seeded[-1], "refused")]
    early = list(fabro.list_receipts(run="R-sdk", until="2026-03-02T00:00:00Z"))
    assert len(early) == 3  # n = 0, 9, 18 started on the 1st
    assert fabro.get_receipt(seeded[0]).exit_status == 0
    report = fabro.verify_receipts()
    assert isinstance(report, ReceiptChainReport) and report.ok
    assert report.entries_checked >= 50


def test_errors_come_back_typed(fabro: FabroClient, seeded: list[str]) -> None:
    with pytest.raises(BadRequestError, match="'kind'"):
        list(fabro.list_receipts(kind="teleport"))
    with pytest.raises(NotFoundError, match="Receipt not found"):
        fabro.get_receipt("nope")
    with pytest.raises(NotFoundError, match="Run not found"):
        list(fabro.list_run_receipts("R-sdk"))  # receipts of no run the server knows
    del seeded


def test_the_async_client_reads_a_run_s_receipts(
    server: ServerProcess, token: str, fabro: FabroClient, seeded: list[str]
) -> None:
    run_id = fabro.start_run(
        "digraph Q { start [shape=Mdiamond]; exit [shape=Msquare]; start -> exit }"
    ).id
    ids = seed(
        server.workdir / "data" / "fabro.db",
        [Seed(run_id, "file_write", "ALERT", "2026-03-05T10:00:00.000Z", "applied")],
    )

    async def read() -> list[str]:
        async with AsyncFabroClient(server.url, token=token, env={}) as client:
            one = await client.get_receipt(ids[0])
            assert one.decision == "ALERT"
            return [r.id async for r in client.list_run_receipts(run_id)]

    assert asyncio.run(read()) == ids
    del seeded
