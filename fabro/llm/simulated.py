"""The simulated backend (engine.md §10.3): used with --dry-run or when no provider is set."""

from __future__ import annotations

from fabro.llm.provider import LlmRequest, LlmResponse, OnRetry

NO_PROVIDER_WARNING = (
    "No LLM provider configured (set ANTHROPIC_API_KEY, OPENAI_API_KEY or OPENAI_BASE_URL); "
    "using the simulated backend"
)


def simulated_text(node_id: str) -> str:
    return f"[Simulated] Response for stage: {node_id}"


class SimulatedBackend:
    """Answers every call with a fixed text, zero tokens, and never calls tools."""

    @property
    def simulated(self) -> bool:
        return True

    async def complete(self, request: LlmRequest, on_retry: OnRetry | None = None) -> LlmResponse:
        return LlmResponse(text=simulated_text(request.stage or ""), model=request.model)
