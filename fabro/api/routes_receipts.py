"""The route table's rows for receipts (issue 18), appended to ``fabro.api.routes.ROUTES``.

Listing every receipt is an export (admin); a single receipt and a run's receipts are read
like the run itself (viewer).
"""

from __future__ import annotations

from fabro.api.bodies.receipts import PaginatedReceiptList, Receipt, ReceiptChainReport
from fabro.api.operations import Param, Route
from fabro.governance.actions import ACTION_KINDS
from fabro.governance.roles import Role
from fabro.storage.receipts import DECISIONS

_TIME: dict[str, object] = {"type": "string", "format": "date-time"}
RECEIPT_FILTERS = (
    Param("run", "query", description="Only the receipts of this run."),
    Param("kind", "query", {"type": "string", "enum": list(ACTION_KINDS)}),
    Param(
        "decision",
        "query",
        {"type": "string", "enum": list(DECISIONS)},
        "The policy's decision (any case).",
    ),
    Param("since", "query", _TIME, "Actions started at or after this time (RFC 3339)."),
    Param("until", "query", _TIME, "Actions started before this time (RFC 3339)."),
)

RECEIPT_ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        "/receipts",
        "listReceipts",
        "Receipts",
        "Receipts of every run, newest first (fabro)",
        "REAL",
        200,
        PaginatedReceiptList,
        paginated=True,
        params=RECEIPT_FILTERS,
        role=Role.ADMIN,
    ),
    Route(
        "GET",
        "/receipts/verify",
        "verifyReceipts",
        "Receipts",
        "Check the receipts' hash chain (fabro)",
        "REAL",
        200,
        ReceiptChainReport,
        role=Role.ADMIN,
    ),
    Route(
        "GET",
        "/receipts/{id}",
        "retrieveReceipt",
        "Receipts",
        "A receipt (fabro)",
        "REAL",
        200,
        Receipt,
        role=Role.VIEWER,
    ),
    Route(
        "GET",
        "/runs/{id}/receipts",
        "listRunReceipts",
        "Receipts",
        "A run's receipts, in the order its actions began (fabro)",
        "REAL",
        200,
        PaginatedReceiptList,
        paginated=True,
        role=Role.VIEWER,
    ),
)
