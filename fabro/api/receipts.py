"""Receipts over HTTP (issue 18): list and filter them, fetch one, a run's, and the chain's
check."""

from __future__ import annotations

from quart import request

from fabro.api.bodies.receipts import PaginatedReceiptList, Receipt, ReceiptChainReport
from fabro.api.context import Handler, services
from fabro.api.lookup import run_or_404
from fabro.api.pagination import page_params
from fabro.api.request import query_choice, query_moment
from fabro.errors import BadRequest, NotFound
from fabro.governance.actions import ACTION_KINDS
from fabro.storage.receipts import DECISIONS, ReceiptFilter


def _decision() -> str | None:
    raw = request.args.get("decision")
    if raw is None or raw == "":
        return None
    label = raw.strip().upper()
    if label not in DECISIONS:
        raise BadRequest(f"Query parameter 'decision' must be one of: {', '.join(DECISIONS)}.")
    return label


def _filter() -> ReceiptFilter:
    kind = query_choice("kind", ACTION_KINDS, "")
    return ReceiptFilter(
        run_id=request.args.get("run") or None,
        kind=kind or None,
        decision=_decision(),
        since=query_moment("since"),
        until=query_moment("until", end=True),
    )


async def list_receipts() -> PaginatedReceiptList:
    match = _filter()
    params = page_params()
    page = await services().receipts.list(match, limit=params.limit, offset=params.offset)
    return PaginatedReceiptList.of([Receipt.from_record(r) for r in page.items], page.has_more)


async def retrieve_receipt(id: str) -> Receipt:
    record = await services().receipts.get(id)
    if record is None:
        raise NotFound("Receipt not found.")
    return Receipt.from_record(record)


async def list_run_receipts(id: str) -> PaginatedReceiptList:
    run = await run_or_404(id)
    params = page_params()
    records = await services().receipts.for_run(
        run.id, limit=params.limit + 1, offset=params.offset
    )
    items = [Receipt.from_record(r) for r in records[: params.limit]]
    return PaginatedReceiptList.of(items, len(records) > params.limit)


async def verify_receipts() -> ReceiptChainReport:
    return ReceiptChainReport.from_report(await services().receipts.verify())


HANDLERS: dict[str, Handler] = {
    "listReceipts": list_receipts,
    "retrieveReceipt": retrieve_receipt,
    "listRunReceipts": list_run_receipts,
    "verifyReceipts": verify_receipts,
}
