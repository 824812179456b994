"""Bodies of human questions (api.md §6.9, §6.10)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal, cast

from msgspec import UNSET

from fabro.api.bodies.common import Body, Opt, Page
from fabro.storage.questions import QuestionRecord

QuestionType = Literal["yes_no", "multiple_choice", "multi_select", "freeform", "confirmation"]


class QuestionOption(Body):
    key: str
    label: str


class ApiQuestion(Body):
    id: str
    text: str
    question_type: QuestionType
    options: list[QuestionOption]
    allow_freeform: bool
    stage: Opt[str] = UNSET
    created_at: Opt[str] = UNSET

    @classmethod
    def from_record(cls, question: QuestionRecord) -> ApiQuestion:
        return cls(
            id=question.qid,
            text=question.text,
            question_type=cast(QuestionType, question.question_type),
            options=[QuestionOption(key=o["key"], label=o["label"]) for o in question.options],
            allow_freeform=question.allow_freeform,
            stage=question.node_id,
            created_at=question.created_at,
        )


class PaginatedApiQuestionList(Page[ApiQuestion]):
    pass


class SubmitAnswerRequest(Body):
    """One of the three; the handler's precedence decides when several are given."""

    value: str | None = None
    selected_option_key: str | None = None
    selected_option_keys: list[str] | None = None

    SCHEMA_EXTRA: ClassVar[dict[str, Any]] = {
        "examples": [
            {"selected_option_key": "A"},
            {"selected_option_keys": ["A", "R"]},
            {"value": "Approve, but keep the old endpoint"},
        ]
    }
