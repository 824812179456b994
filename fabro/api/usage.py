"""`GET /usage` (api.md §8): tokens and cost over all runs, rolled up by day, model, workflow
and user over a range of time when asked.

Without parameters the answer is the original's: totals and usage per model over everything
stored. ``since`` and ``until`` (dates or RFC 3339 times) keep the stages counted in
[since, until) (a stage counts when it finished, or started if it has not finished) and the
runs started in it; ``group_by`` adds ``groups``: the totals per combination of the groupings
asked for.
"""

from __future__ import annotations

import msgspec
from msgspec import UNSET

from fabro.api.bodies.catalog import AggregateUsage, UsageGroupTotals
from fabro.api.bodies.common import ModelRef, UsageByModel, UsageNumbers
from fabro.api.context import Handler, services
from fabro.api.request import query_enum_list, query_moment
from fabro.errors import BadRequest
from fabro.storage.stages import UsageGroup

GROUPINGS = ("day", "model", "workflow", "user")


def money(value: float) -> float:
    return round(float(value), 10)  # sums of float prices pick up noise in the last digits


def numbers(input_tokens: int, output_tokens: int, cost: float) -> UsageNumbers:
    return UsageNumbers(input_tokens=input_tokens, output_tokens=output_tokens, cost=money(cost))


def group_totals(groupings: tuple[str, ...], group: UsageGroup) -> UsageGroupTotals:
    totals = UsageGroupTotals(
        runs=group.runs,
        stages=group.stages,
        usage=numbers(group.input_tokens, group.output_tokens, group.cost),
        runtime_secs=group.runtime_ms / 1000,
    )
    return msgspec.structs.replace(totals, **dict(zip(groupings, group.keys, strict=True)))


def per_model(groups: list[UsageGroup], index: int) -> list[UsageGroup]:
    """``groups`` (whose ``index``-th key is the model) summed per model, in model order. Runs
    are left at 0: a run may count in several groups, and by_model does not show them."""
    summed: dict[str, UsageGroup] = {}
    for group in groups:
        model = group.keys[index] or ""
        seen = summed.get(model) or UsageGroup((model,), 0, 0, 0, 0, 0.0, 0)
        summed[model] = UsageGroup(
            (model,),
            0,
            seen.stages + group.stages,
            seen.input_tokens + group.input_tokens,
            seen.output_tokens + group.output_tokens,
            seen.cost + group.cost,
            seen.runtime_ms + group.runtime_ms,
        )
    return [summed[model] for model in sorted(summed)]


def query_groupings() -> tuple[str, ...]:
    """`group_by`: the groupings in the order given, each once."""
    return tuple(dict.fromkeys(query_enum_list("group_by", GROUPINGS)))


async def get_aggregate_usage() -> AggregateUsage:
    groupings = query_groupings()
    since, until = query_moment("since"), query_moment("until", end=True)
    if since is not None and until is not None and until <= since:
        raise BadRequest("Query parameter 'until' must be later than 'since'.")
    store = services().store
    groups = await store.usage_by(groupings, since, until) if groupings else None
    if groups is not None and "model" in groupings:  # by_model follows: one query fewer
        models = per_model(groups, groupings.index("model"))
    else:
        models = await store.usage_by(("model",), since, until)
    totals = {
        "runs": await store.count_started_runs(since, until),
        "input_tokens": sum(m.input_tokens for m in models),
        "output_tokens": sum(m.output_tokens for m in models),
        "cost": money(sum((m.cost for m in models), 0.0)),
        "runtime_secs": sum(m.runtime_ms for m in models) / 1000,
    }
    by_model = [
        UsageByModel(
            model=ModelRef(id=m.keys[0] or ""),
            stages=m.stages,
            usage=numbers(m.input_tokens, m.output_tokens, m.cost),
        )
        for m in models
    ]
    return AggregateUsage(
        totals=totals,
        by_model=by_model,
        groups=UNSET if groups is None else [group_totals(groupings, g) for g in groups],
    )


HANDLERS: dict[str, Handler] = {"getAggregateUsage": get_aggregate_usage}
