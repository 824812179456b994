"""The runs board (/ui/): runs in four columns by state, filtered by the query, a card per
run that can answer its gate, and the live feed that moves cards without a reload.

Every column is one read of at most PAGE_SIZE summaries and the counts are one read, so the
board costs the same with ten runs stored or ten thousand. Answering from a card calls what
the API's answer route calls (fabro.api.questions.answer_question), with the same checks.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from quart import Response, redirect, render_template, request, url_for

from fabro.api.bodies.questions import SubmitAnswerRequest
from fabro.api.context import services
from fabro.api.questions import answer_of, answer_question
from fabro.api.request import as_body
from fabro.api.streams import SSE_HEADERS
from fabro.errors import BadRequest, NotFound
from fabro.storage.questions import QuestionRecord
from fabro.storage.records import RUN_STATUSES, RunFilter, RunSummary
from fabro.ui import feed
from fabro.ui.auth import safe_next, signed_in
from fabro.ui.blueprint import ui
from fabro.ui.feed import COLUMN_KEYS, COLUMNS, Column, column_of

PAGE_SIZE = 50
MAX_FILTER_CHARS = 200
MAX_OFFSET = 1_000_000
FILTER_NAMES = ("workflow", "label", "user", "status")
MAX_BATCH = 100  # runs whose cards one request reads


@dataclass(frozen=True)
class BoardQuery:
    """The board's filters and each column's offset, read from the query string."""

    match: RunFilter = field(default_factory=RunFilter)
    filters: dict[str, str] = field(default_factory=dict)  # as given, for links and the form
    offsets: dict[str, int] = field(default_factory=dict)

    def column_filter(self, column: Column) -> RunFilter | None:
        """What ``column`` shows under these filters; None when the status filter empties it."""
        statuses = column.statuses
        if self.match.statuses:
            statuses = tuple(s for s in statuses if s in self.match.statuses)
            if not statuses:
                return None
        return replace(self.match, statuses=statuses, waiting=column.waiting)

    def params(self, **changes: Any) -> dict[str, Any]:
        """The query of this board (filters, offsets other than 0) with ``changes``."""
        offsets = {f"{key}_offset": n for key, n in self.offsets.items() if n}
        merged = {**self.filters, **offsets, **changes}
        return {name: value for name, value in merged.items() if value not in (None, "", 0)}


@dataclass(frozen=True)
class Card:
    run: RunSummary
    column: str
    question: QuestionRecord | None = None

    @property
    def shown_status(self) -> str:
        """The status the card shows: "waiting" while a question of a running run waits."""
        return "waiting" if self.column == "waiting" else self.run.status


@dataclass(frozen=True)
class ColumnView:
    column: Column
    cards: list[Card]
    total: int
    offset: int
    has_more: bool

    @property
    def key(self) -> str:
        return self.column.key


def _text_filter(name: str) -> str:
    value = (request.args.get(name) or "").strip()
    if len(value) > MAX_FILTER_CHARS:
        raise BadRequest(f"Filter '{name}' is longer than {MAX_FILTER_CHARS} characters.")
    return value


def board_query() -> BoardQuery:
    """The filters and offsets of this request: a 400 naming the parameter when malformed."""
    filters = {name: _text_filter(name) for name in FILTER_NAMES}
    status = filters["status"]
    if status and status not in RUN_STATUSES:
        raise BadRequest(f"Filter 'status' must be one of: {', '.join(RUN_STATUSES)}.")
    labels: tuple[tuple[str, str], ...] = ()
    if filters["label"]:
        key, sep, value = filters["label"].partition("=")
        if not sep or not key.strip():
            raise BadRequest("Filter 'label' must be key=value.")
        labels = ((key.strip(), value.strip()),)
    match = RunFilter(
        statuses=(status,) if status else (),
        workflow_slug=filters["workflow"] or None,
        created_by=filters["user"] or None,
        labels=labels,
    )
    offsets = {key: _offset(f"{key}_offset") for key in COLUMN_KEYS}
    return BoardQuery(match, {k: v for k, v in filters.items() if v}, offsets)


def _offset(name: str) -> int:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return 0
    if not raw.isdigit() or int(raw) > MAX_OFFSET:
        raise BadRequest(f"Query parameter '{name}' must be an integer from 0 to {MAX_OFFSET}.")
    return int(raw)


async def column_counts(match: RunFilter) -> dict[str, int]:
    """How many runs each column holds under ``match`` (its status filter included)."""
    counts = dict.fromkeys(COLUMN_KEYS, 0)
    by_state = await services().store.count_runs_by_state(match)
    for (status, waiting), n in by_state.items():
        counts[column_of(status, waiting=waiting)] += n
    return counts


async def _cards(runs: Sequence[RunSummary], column: str) -> list[Card]:
    if column != "waiting":
        return [Card(run, column) for run in runs]
    questions = await services().store.oldest_pending([run.id for run in runs])
    return [Card(run, column, questions.get(run.id)) for run in runs]


async def load_columns(query: BoardQuery) -> list[ColumnView]:
    store = services().store
    counts = await column_counts(query.match)
    views = []
    for column in COLUMNS:
        offset = query.offsets.get(column.key, 0)
        match = query.column_filter(column)
        if match is None or not counts[column.key]:
            views.append(ColumnView(column, [], counts[column.key], offset, has_more=False))
            continue
        page = await store.find_runs(match, limit=PAGE_SIZE, offset=offset)
        cards = await _cards(page.items, column.key)
        views.append(ColumnView(column, cards, counts[column.key], offset, page.has_more))
    return views


async def load_cards(run_ids: Sequence[str], query: BoardQuery) -> list[Card]:
    """The cards of those of ``run_ids`` that pass the filters, in one read of each kind."""
    store = services().store
    page = await store.find_runs(
        replace(query.match, run_ids=tuple(run_ids)), limit=len(run_ids), offset=0
    )
    questions = await store.oldest_pending([run.id for run in page.items])
    return [
        Card(run, column_of(run.status, waiting=run.id in questions), questions.get(run.id))
        for run in page.items
    ]


# ---- routes ----------------------------------------------------------------------------------


@ui.route("/", methods=["GET"], endpoint="board")
async def board() -> Any:
    """The board; `?fragment=columns` gives the columns alone (board.js reloads them)."""
    fragment = request.args.get("fragment", "")
    if fragment not in ("", "columns"):
        raise BadRequest("Query parameter 'fragment' must be 'columns'.")
    query = board_query()
    context = {
        "columns": await load_columns(query),
        "query": query,
        "page_size": PAGE_SIZE,
        "next_url": url_for("ui.board", **query.params()),
    }
    if fragment:
        return await render_template("board_columns.html", **context)
    return await render_template("board.html", **context, statuses=RUN_STATUSES)


@ui.route("/runs/<run_id>/card", methods=["GET"], endpoint="board_card")
async def board_card(run_id: str) -> Response:
    """One run's card, with every column's count in `X-Board-Counts`; 204 when the run does
    not pass the board's filters, 404 when there is no such run."""
    query = board_query()
    cards = await load_cards([run_id], query)
    if not cards and await services().store.get_run_summary(run_id) is None:
        raise NotFound("Run not found.")
    return await _cards_response(cards, query, one=True)


@ui.route("/board/cards", methods=["GET"], endpoint="board_cards")
async def board_cards() -> Response:
    """The cards of the runs named by `run` (repeated; at most MAX_BATCH) that pass the
    board's filters, and the rest as `gone` items; counts in `X-Board-Counts`. board.js reads
    the runs the feed named since its last read in one request."""
    run_ids = list(dict.fromkeys(request.args.getlist("run")))
    if not run_ids:
        raise BadRequest("Query parameter 'run' is required.")
    if len(run_ids) > MAX_BATCH:
        raise BadRequest(f"Query parameter 'run' may be given at most {MAX_BATCH} times.")
    if any(len(run_id) > MAX_FILTER_CHARS for run_id in run_ids):
        raise BadRequest(f"Query parameter 'run' is longer than {MAX_FILTER_CHARS} characters.")
    query = board_query()
    cards = await load_cards(run_ids, query)
    shown = {card.run.id for card in cards}
    return await _cards_response(cards, query, gone=[r for r in run_ids if r not in shown])


async def _cards_response(
    cards: list[Card], query: BoardQuery, *, one: bool = False, gone: Sequence[str] = ()
) -> Response:
    headers = {"X-Board-Counts": json.dumps(await column_counts(query.match))}
    if one and not cards:
        return Response("", 204, headers)
    page = await render_template(
        "board_card.html" if one else "board_cards.html",
        card=cards[0] if one else None,
        cards=cards,
        gone=gone,
        next_url=url_for("ui.board", **query.params()),
    )
    return Response(page, 200, headers, mimetype="text/html")


@ui.route("/board/events", methods=["GET"], endpoint="board_events")
async def board_events() -> Response:
    """SSE: `{run_id, status, column}` whenever a run's state changes (see fabro.ui.feed)."""
    subscription = feed.subscribe(services().runs.bus)
    response = Response(feed.board_frames(subscription), 200, SSE_HEADERS)
    response.timeout = None  # as long as the board is open
    return response


@ui.route("/runs/<run_id>/questions/<qid>/answer", methods=["POST"], endpoint="answer_question")
async def answer(run_id: str, qid: str) -> Any:
    """Answer a question from a form (the board's cards, the run page), then back to `next`.

    Fields: `option` (the key of the button pressed), `options` (several keys, for a
    multi-select question) or `value` (free text); the API's precedence decides.
    """
    form = await request.form
    body = as_body(
        {
            "selected_option_key": form.get("option") or None,
            "selected_option_keys": form.getlist("options") or None,
            "value": form.get("value") or None,
        },
        SubmitAnswerRequest,
    )
    await answer_question(run_id, qid, answer_of(body), signed_in().login)
    return redirect(safe_next(form.get("next")), 303)
