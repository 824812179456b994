"""Human questions over HTTP (api.md §6.9, §6.10): list pending ones, answer one."""

from __future__ import annotations

from quart import Response

from fabro.api.bodies.questions import ApiQuestion, PaginatedApiQuestionList, SubmitAnswerRequest
from fabro.api.context import Handler, principal, services
from fabro.api.lookup import run_or_404
from fabro.api.pagination import paginate
from fabro.api.request import read_body
from fabro.engine.questions import Answer
from fabro.errors import BadRequest, Conflict, NotFound


async def list_run_questions(id: str) -> PaginatedApiQuestionList:
    run = await run_or_404(id)
    if run.is_terminal or run.status == "queued":
        return paginate(PaginatedApiQuestionList, [])
    pending = await services().store.pending_questions(run.id)
    return paginate(PaginatedApiQuestionList, [ApiQuestion.from_record(q) for q in pending])


def answer_of(body: SubmitAnswerRequest) -> Answer:
    """Precedence: selected_option_key, then non-empty selected_option_keys, then value."""
    if body.selected_option_key is not None:
        return Answer(selected_option_key=body.selected_option_key)
    if body.selected_option_keys:
        return Answer(selected_option_keys=tuple(body.selected_option_keys))
    if body.value is not None:
        return Answer(value=body.value)
    raise BadRequest("One of value, selected_option_key, or selected_option_keys is required.")


async def submit_run_answer(id: str, qid: str) -> Response:
    answer = answer_of(await read_body(SubmitAnswerRequest))
    await answer_question(id, qid, answer, principal().login)
    return Response(status=204)


async def answer_question(run_id: str, qid: str, answer: Answer, by: str) -> None:
    """Answer a run's pending question as ``by``: what the API and the web UI both call.

    404 for an unknown run or question, 409 when the run has not started or the question was
    answered (or withdrawn) already, 400 for an option key the question does not offer.
    """
    run = await run_or_404(run_id)
    if run.status in ("queued", "starting"):
        raise Conflict("Run is not yet running.")
    question = await services().store.get_question(run.id, qid)
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
    accepted = await services().runs.desk.answer(run.id, qid, answer, by)
    if not accepted:
        raise Conflict("Question no longer exists or was already answered.")


HANDLERS: dict[str, Handler] = {
    "listRunQuestions": list_run_questions,
    "submitRunAnswer": submit_run_answer,
}
