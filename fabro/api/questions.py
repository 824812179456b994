"""Human questions over HTTP (api.md §6.9, §6.10): list pending ones, answer one."""

from __future__ import annotations

from typing import Any

from quart import Response

from fabro.api.context import Handler, principal, services
from fabro.api.lookup import run_or_404
from fabro.api.pagination import paginate
from fabro.api.request import field, json_body, string_list
from fabro.engine.questions import Answer
from fabro.errors import BadRequest, Conflict, NotFound
from fabro.storage import questions
from fabro.storage.questions import QuestionRecord


def question_json(question: QuestionRecord) -> dict[str, Any]:
    return {
        "id": question.qid,
        "text": question.text,
        "question_type": question.question_type,
        "options": [{"key": o["key"], "label": o["label"]} for o in question.options],
        "allow_freeform": question.allow_freeform,
        "stage": question.node_id,
        "created_at": question.created_at,
    }


async def list_run_questions(id: str) -> dict[str, Any]:
    run = await run_or_404(id)
    if run.is_terminal or run.status == "queued":
        return paginate([])
    pending = await questions.pending_questions(services().db, run.id)
    return paginate([question_json(q) for q in pending])


def _answer(body: dict[str, Any]) -> Answer:
    """Precedence: selected_option_key, then non-empty selected_option_keys, then value."""
    key = field(body, "selected_option_key", str)
    keys = string_list(body, "selected_option_keys")
    value = field(body, "value", str)
    if key is not None:
        return Answer(selected_option_key=key)
    if keys:
        return Answer(selected_option_keys=tuple(keys))
    if value is not None:
        return Answer(value=value)
    raise BadRequest("One of value, selected_option_key, or selected_option_keys is required.")


async def submit_run_answer(id: str, qid: str) -> Response:
    answer = _answer(await json_body())
    run = await run_or_404(id)
    if run.status in ("queued", "starting"):
        raise Conflict("Run is not yet running.")
    question = await questions.get_question(services().db, run.id, qid)
    if question is None:
        raise NotFound("Question not found.")
    if question.status != "pending":
        raise Conflict("Question no longer exists or was already answered.")
    keys = [answer.selected_option_key] if answer.selected_option_key is not None else []
    keys += list(answer.selected_option_keys)
    known = {option["key"] for option in question.options}
    if any(key not in known for key in keys):
        raise BadRequest("Invalid option key.")
    # Committed (with a guarded UPDATE: one of two concurrent answers wins) before the
    # waiting stage is woken.
    accepted = await services().runs.desk.answer(run.id, qid, answer, principal().login)
    if not accepted:
        raise Conflict("Question no longer exists or was already answered.")
    return Response(status=204)


HANDLERS: dict[str, Handler] = {
    "listRunQuestions": list_run_questions,
    "submitRunAnswer": submit_run_answer,
}
