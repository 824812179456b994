from __future__ import annotations

import dataclasses

import pytest

from fabro.llm.catalog import MODELS, Model
from fabro.llm.usage import Usage, cost


def test_zero_by_default() -> None:
    usage = Usage()
    assert dataclasses.astuple(usage) == (0, 0, 0, 0, 0)
    assert usage.total_tokens == 0


def test_addition_sums_every_field() -> None:
    a = Usage(
        input_tokens=1,
        output_tokens=2,
        cache_read_tokens=3,
        cache_write_tokens=4,
        reasoning_tokens=5,
    )
    b = Usage(
        input_tokens=10,
        output_tokens=20,
        cache_read_tokens=30,
        cache_write_tokens=40,
        reasoning_tokens=50,
    )
    assert a + b == Usage(
        input_tokens=11,
        output_tokens=22,
        cache_read_tokens=33,
        cache_write_tokens=44,
        reasoning_tokens=55,
    )


def test_sum_over_calls() -> None:
    calls = [Usage(input_tokens=n, output_tokens=2 * n) for n in range(1, 5)]
    total = sum(calls, Usage())
    assert total == Usage(input_tokens=10, output_tokens=20)
    assert total.total_tokens == 30


def test_adding_something_else_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        Usage() + 1  # type: ignore[operator]


@pytest.mark.parametrize(
    ("model", "usage", "expected"),
    [
        # The StageCompleted example of api.md §6.8: 1200 in, 340 out on claude-sonnet-4-5.
        ("claude-sonnet-4-5", Usage(input_tokens=1200, output_tokens=340), 0.0087),
        ("claude-opus-4-6", Usage(input_tokens=1_000_000, output_tokens=1_000_000), 90.0),
        ("gpt-5.4", Usage(input_tokens=2_000_000), 5.0),
        ("gpt-5-mini", Usage(output_tokens=500_000), 1.0),
        ("haiku", Usage(input_tokens=1_000_000), 0.8),  # an alias works too
        ("kimi-k2.5", Usage(input_tokens=1_000_000, output_tokens=1_000_000), 3.6),
        ("claude-sonnet-4-5", Usage(), 0.0),
        # Cache and reasoning tokens are reported but not priced.
        (
            "claude-sonnet-4-5",
            Usage(cache_read_tokens=10**6, cache_write_tokens=10**6, reasoning_tokens=10**6),
            0.0,
        ),
    ],
)
def test_cost(model: str, usage: Usage, expected: float) -> None:
    assert cost(model, usage) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    "model",
    [
        "llama3.1",  # unknown to the catalog
        "gpt-5.3-codex-spark",  # no prices
        "Claude-Sonnet-4-5",  # lookup is case-sensitive
    ],
)
def test_no_cost_without_prices(model: str) -> None:
    assert cost(model, Usage(input_tokens=100, output_tokens=100)) is None


PRICED = [m for m in MODELS if m.costs.input_cost_per_mtok is not None]


@pytest.mark.parametrize("model", PRICED, ids=lambda m: m.id)
def test_cost_uses_the_catalog_prices_of_every_priced_model(model: Model) -> None:
    prices = model.costs
    assert prices.input_cost_per_mtok is not None and prices.output_cost_per_mtok is not None
    expected = prices.input_cost_per_mtok + prices.output_cost_per_mtok
    result = cost(model.id, Usage(input_tokens=10**6, output_tokens=10**6))
    assert result == pytest.approx(expected)
