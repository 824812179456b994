"""Token usage of model calls and its cost (engine.md §10.4)."""

from __future__ import annotations

from dataclasses import dataclass

from fabro.llm.catalog import lookup

_PER_MTOK = 1_000_000


@dataclass(frozen=True, kw_only=True)
class Usage:
    """Token counts of one call, or summed over several with ``+``."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens, the ``total_tokens`` of an ``AssistantMessage``."""
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
        )


def cost(model_id: str, usage: Usage) -> float | None:
    """USD cost at catalog prices; None for an unknown model or a missing price.

    Cache tokens are reported but not priced, as the spec says.
    """
    model = lookup(model_id)
    if model is None:
        return None
    input_price = model.costs.input_cost_per_mtok
    output_price = model.costs.output_cost_per_mtok
    if input_price is None or output_price is None:
        return None
    return (usage.input_tokens * input_price + usage.output_tokens * output_price) / _PER_MTOK
