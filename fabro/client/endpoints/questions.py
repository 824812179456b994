"""What a person tells a running run: guidance for its agents, answers to its questions."""

from __future__ import annotations

from fabro.api.bodies.questions import ApiQuestion, PaginatedApiQuestionList, SubmitAnswerRequest
from fabro.api.bodies.runs import SteerLocation, SteerRequest
from fabro.client.calls import Call, PagedCall
from fabro.client.endpoints.shared import once, run_path, segment
from fabro.client.methods import endpoint, paged


class QuestionEndpoints:
    """Steering a run and answering its questions."""

    # ---- steering ------------------------------------------------------------------------

    @endpoint
    def steer_run(
        self, run_id: str, guidance: str, *, file: str | None = None, line: int | None = None
    ) -> Call[None]:
        """`POST /runs/{id}/steer`: guidance the run's agent stages read at their next turn
        (``file``/``line``: where it is about). Retried safely: its Idempotency-Key makes the
        server replay a repeat instead of adding the guidance twice."""
        location = None if file is None else SteerLocation(file=file, line=line)
        body = SteerRequest(guidance=guidance, location=location)
        return Call(
            "POST", run_path(run_id, "steer"), None, body=body, headers=once(), retry_safe=True
        )

    # ---- questions -----------------------------------------------------------------------

    @paged
    def list_questions(self, run_id: str) -> PagedCall[ApiQuestion]:
        """`GET /runs/{id}/questions`: the questions the run waits on."""
        return PagedCall(run_path(run_id, "questions"), PaginatedApiQuestionList)

    @endpoint
    def answer_question(
        self,
        run_id: str,
        question_id: str,
        *,
        option: str | None = None,
        options: list[str] | None = None,
        value: str | None = None,
    ) -> Call[None]:
        """`POST /runs/{id}/questions/{qid}/answer`: by an option's key, several keys (a
        multi-select question) or free text. Retried safely: its Idempotency-Key makes the
        server replay the first answer's response, and a different answer is refused
        (ConflictError), never applied."""
        body = SubmitAnswerRequest(
            selected_option_key=option, selected_option_keys=options, value=value
        )
        path = run_path(run_id, "questions", segment(question_id), "answer")
        return Call("POST", path, None, body=body, headers=once(), retry_safe=True)
