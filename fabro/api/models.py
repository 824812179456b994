"""Models (api.md §9): the catalog, and a one-call test of a model."""

from __future__ import annotations

import asyncio

import msgspec

from fabro.api.bodies.completions import Model, ModelTestResult, PaginatedModelList
from fabro.api.context import Handler, services
from fabro.api.pagination import paginate
from fabro.errors import NotFound
from fabro.llm.catalog import MODELS, lookup
from fabro.llm.provider import LlmError, LlmRequest, Message

TEST_TIMEOUT_S = 30.0
TEST_PROMPT = "Say OK"
TEST_MAX_TOKENS = 16


async def list_models() -> PaginatedModelList:
    return paginate(PaginatedModelList, [Model.from_record(model) for model in MODELS])


async def check_model(id: str) -> ModelTestResult:
    model = lookup(id)
    if model is None:
        raise NotFound(f"Model not found: {id}")
    result = ModelTestResult(model_id=model.id, status="ok")
    backend = services().llm
    if backend.simulated:
        return result
    request = LlmRequest(
        provider=model.provider,
        model=model.id,
        messages=[Message("user", TEST_PROMPT)],
        max_tokens=TEST_MAX_TOKENS,
    )
    try:
        async with asyncio.timeout(TEST_TIMEOUT_S):
            await backend.complete(request)
    except TimeoutError:
        return _failed(result, f"timeout ({TEST_TIMEOUT_S:g}s)")
    except LlmError as error:
        return _failed(result, error.message)
    return result


def _failed(result: ModelTestResult, message: str) -> ModelTestResult:
    return msgspec.structs.replace(result, status="error", error_message=message)


HANDLERS: dict[str, Handler] = {"listModels": list_models, "testModel": check_model}
